"""Queries of chosen hardness, measured: does each band cost what it promises, on real data and on fakes?

One seeded permutation of the real rows gives the fitting rows (the first N), a pool of candidate queries (the
next rows) and the real base (the n after them). A model is fitted on the N rows (or given); its base is the
corpus `synth sample -n n --seed S` writes, and its candidates that run's query stream. For each band (as
`synth sample --query-hardness`: :func:`synth.metrics.hardness.select_band` over the first
``candidate_count`` candidates, by relative contrast at k against the base's first rows) both corpora keep their
``n_queries`` queries of the band, and two index families are measured on one thread
(:mod:`synth.metrics.searchcost`: IVF cells = spherical k-means, nlist = sqrt(n); faiss HNSW M = 16,
efConstruction = 200):

- the band's cost at recall 0.90 / 0.95 / 0.99, distance computations per query, over the sweep;
- each query's own cost: distance computations until it holds ``ceil(0.9 k)`` of its k true neighbours (IVF:
  cells probed in centroid order; HNSW: the smallest efSearch of the sweep), summarized by the median.

A band promise holds when both costs rise strictly from band to band, on real and on fake data.
"""

import math

import faiss
import numpy as np
from tqdm.auto import tqdm

from synth.errors import SynthError
from synth.metric import metric_rows
from synth.metrics.hardness import REFERENCE_ROWS, candidate_count, parse_band, select_band
from synth.metrics.neighbors import knn
from synth.metrics.searchcost import EF_SEARCH, cost_at_recall, faiss_single_thread, hnsw_graph, ivf_cells, ivf_probes
from synth.sampling.stream import draw_queries, iter_rows

from .fidelity import fit_config
from .split import board_split

BANDS = ("easy", "medium", "hard")
TARGETS = (0.90, 0.95, 0.99)
FAMILIES = ("ivf", "hnsw")


def _ivf(cells, queries, neighbors, need):
    """IVF's sweep over nprobe (recall, cost) and each query's cost to hold ``need`` true neighbours."""
    probe, cost = ivf_probes(cells, queries, neighbors)
    recall = np.bincount(probe.ravel(), minlength=cost.shape[1]).cumsum() / probe.size
    enough = np.sort(probe, axis=1)[:, need - 1]  # the probe rank at which the need-th neighbour is in
    return recall, cost.mean(axis=0), cost[np.arange(len(cost)), enough]


def _hnsw(index, queries, neighbors, need):
    """HNSW's sweep over efSearch (recall, cost) and each query's cost to hold ``need`` true neighbours (inf
    when the largest efSearch does not), searched one query at a time for faiss's counter per query."""
    k = neighbors.shape[1]
    each = np.full(len(queries), np.inf)
    recalls, costs = [], []
    for ef in EF_SEARCH:
        index.hnsw.efSearch = max(int(ef), k)
        hits, ndis = np.empty(len(queries)), np.empty(len(queries))
        for i, q in enumerate(queries):
            faiss.cvar.hnsw_stats.reset()
            _, got = index.search(q[None], k)
            ndis[i], hits[i] = faiss.cvar.hnsw_stats.ndis, len(np.intersect1d(got[0], neighbors[i]))
        first = np.isinf(each) & (hits >= need)
        each[first] = ndis[first]
        recalls.append(hits.mean() / k)
        costs.append(ndis.mean())
        if recalls[-1] >= max(TARGETS) and np.isfinite(each).all():
            break
    return np.array(recalls), np.array(costs), each


def _quantile(values, q):
    """A quantile of per-query costs, a cost of the sample itself (inf, never reached, counts as the largest);
    None when it is inf."""
    v = float(np.percentile(np.asarray(values, np.float64), q, method="inverted_cdf"))
    return v if math.isfinite(v) else None


def measure_corpus(base, pool, n_queries, bands, k, bar=None):
    """Every band of one corpus: the kept queries' relative contrast, costs at the targets and per-query medians."""
    need = math.ceil(0.9 * k)
    pool_scores, pool_ids = knn(base, pool, k=k)
    cells = ivf_cells(base)
    with faiss_single_thread():
        graph = hnsw_graph(base)
        out = {}
        for band in bands:
            c = candidate_count(n_queries, band)
            keep, report = select_band(pool[:c], pool_scores[:c], base[:REFERENCE_ROWS], n_queries, band)
            queries, neighbors = pool[keep], pool_ids[keep]
            row = {"hardness": report}
            for family, (recall, cost, each) in (("ivf", _ivf(cells, queries, neighbors, need)),
                                                 ("hnsw", _hnsw(graph, queries, neighbors, need))):
                row[family] = {"at_recall": {f"{t:.2f}": cost_at_recall(recall, cost, t) for t in TARGETS},
                               "per_query_median": _quantile(each, 50), "per_query_p90": _quantile(each, 90),
                               "never": int(np.isinf(each).sum())}
            out[band[0]] = row
            if bar is not None:
                bar.update(1)
    return out


def _increasing(rows, family, key):
    values = [(r[family]["at_recall"]["0.95"] if key == "0.95" else r[family][key]) for r in rows]
    return bool(all(v is not None for v in values) and all(a < b for a, b in zip(values, values[1:])))


def band_board(real, bands=BANDS, model=None, config=("patch", {}), n_fit=None, n=30_000, n_queries=500, k=10,
               random_state=0, verbose=True, source=None, all_heldout=False):
    """Cost of query bands on real data and on a model's corpus of the same size.

    Parameters
    ----------
    real : ndarray of shape (n_rows, d)
        Real embeddings (normalized here).
    bands : sequence of str
        Bands as `synth sample --query-hardness` takes them, easiest first for the ordering check.
    model : Generator, optional
        A model read from its file, whose training rows are found in ``real`` by their fingerprint
        (:func:`bench.split.board_split`: the first N rows of the permutation; or, with ``all_heldout``, none of
        ``real``); otherwise ``config`` (kind, params) is fitted on the N fitting rows.
    n_fit, n, n_queries, k : int
        N (default 10,000, or the model's), the base size of both corpora, queries per band, neighbours per query.
    random_state : int
        The split's permutation, the fit, and the fake corpus's seed (as `synth sample --seed`).

    Returns
    -------
    dict
        ``params``, ``real`` and ``fake`` (per band: ``hardness``, and per family ``at_recall`` costs,
        ``per_query_median``, ``per_query_p90``, ``never``), ``ratios`` (fake / real per band and family at
        0.95) and ``increasing`` (per corpus and family: whether cost at 0.95 and the per-query median rise
        strictly from band to band).
    """
    parsed = [parse_band(b) for b in bands]
    if len({b[0] for b in parsed}) < len(parsed):
        raise SynthError(f"bands {', '.join(bands)}: each band once")
    pool_size = max(candidate_count(n_queries, b) for b in parsed)
    if model is not None and getattr(model, "metric", "cosine") != "cosine":
        raise SynthError("query bands are measured for cosine models (relative contrast by cosine distance)",
                         getattr(model, "path_", None))
    if n <= k:
        raise SynthError(f"base size {n:,}: need more rows than k = {k}")
    real = metric_rows(real, "cosine", 2, source)
    fit_rows, heldout, split = board_split(real, n_fit, random_state, model, source, "cosine", all_heldout)
    if len(heldout) < pool_size + n:
        raise SynthError(f"{len(real):,} real rows: {len(real) - len(heldout):,} fitted on, {pool_size:,} candidate "
                         f"queries and a base of {n:,} need {len(real) - len(heldout) + pool_size + n:,}", source)
    pool, base = heldout[:pool_size], heldout[pool_size:pool_size + n]
    fitted = None
    if model is None:
        model, fitted = fit_config("model", config[0], dict(config[1]), fit_rows, random_state)
    fake_base = np.concatenate(list(iter_rows(model, random_state, 0, n)))
    fake_pool = draw_queries(model, random_state, pool_size, np.float32)
    bar = tqdm(total=2 * len(parsed), desc="bands", disable=not verbose, leave=False)
    result = {"params": {"n_fit": split["n_fit"], "n": n, "n_queries": n_queries, "k": k,
                         "bands": [b[0] for b in parsed], "pool": pool_size, "seed": random_state,
                         "fit_seconds": fitted, "model": getattr(model, "path_", None),
                         "fit_rows": split["fit_rows"]},
              "real": measure_corpus(base, pool, n_queries, parsed, k, bar),
              "fake": measure_corpus(fake_base, fake_pool, n_queries, parsed, k, bar)}
    bar.close()
    names = result["params"]["bands"]
    result["ratios"] = {b: {f: _ratio(result["fake"][b][f]["at_recall"]["0.95"], result["real"][b][f]["at_recall"]["0.95"])
                            for f in FAMILIES} for b in names}
    result["increasing"] = {c: {f: {key: _increasing([result[c][b] for b in names], f, key)
                                    for key in ("0.95", "per_query_median")} for f in FAMILIES}
                            for c in ("real", "fake")}
    return result


def _ratio(fake, real):
    return fake / real if fake is not None and real is not None and real > 0 else None


def _num(v):
    return "not reached" if v is None else f"{v:,.0f}"


def markdown(result):
    """The board as Markdown: per band and corpus, relative contrast and costs; then the ordering verdicts."""
    p = result["params"]
    lines = [f"**Query bands** (base n = {p['n']:,} real rows and n fakes, {p['n_queries']:,} queries per band "
             f"chosen from {p['pool']:,} candidates by relative contrast at k = {p['k']}; distance computations per "
             "query, one thread; per-query = until 9 of 10 true neighbours are found, median)", "",
             "| band | corpus | RC median [p10-p90] | IVF @0.90 / 0.95 / 0.99 | IVF per-query median | "
             "HNSW @0.90 / 0.95 / 0.99 | HNSW per-query median | fake / real @0.95 IVF, HNSW |",
             "|---|---|---|---|---|---|---|---|"]
    for b in p["bands"]:
        for corpus in ("real", "fake"):
            r = result[corpus][b]
            rc = r["hardness"]["rc"]
            cells = [f"{rc['median']:.3f} [{rc['p10']:.3f}-{rc['p90']:.3f}]"]
            for f in FAMILIES:
                cells.append(" / ".join(_num(r[f]["at_recall"][t]) for t in ("0.90", "0.95", "0.99")))
                cells.append(_num(r[f]["per_query_median"]))
            ratio = result["ratios"][b]
            cells.append(", ".join("-" if ratio[f] is None else f"{ratio[f]:.2f}" for f in FAMILIES)
                         if corpus == "fake" else "")
            lines.append(f"| {b} | {corpus} | " + " | ".join(cells) + " |")
    lines += ["", "**Cost rises strictly from band to band** (at recall 0.95; per-query median)", "",
              "| corpus | IVF | HNSW |", "|---|---|---|"]
    for corpus in ("real", "fake"):
        inc = result["increasing"][corpus]
        lines.append(f"| {corpus} | " + " | ".join(
            f"{'yes' if inc[f]['0.95'] else 'no'}; {'yes' if inc[f]['per_query_median'] else 'no'}"
            for f in FAMILIES) + " |")
    return "\n".join(lines) + "\n"


def plot(result, path):
    """Per family, cost at recall 0.95 of each band on real and fake data (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .fidelity import save_png

    names = result["params"]["bands"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, family in zip(axes, FAMILIES):
        for corpus, style in (("real", "o-"), ("fake", "s--")):
            y = [result[corpus][b][family]["at_recall"]["0.95"] for b in names]
            ax.plot(range(len(names)), [np.nan if v is None else v for v in y], style, label=corpus)
        ax.set_xticks(range(len(names)), names)
        ax.set_yscale("log")
        ax.set_title(f"{family.upper()}: distance computations at recall 0.95")
        ax.set_xlabel("query band")
        ax.legend()
    fig.tight_layout()
    save_png(fig, path)


def write_outputs(result, folder):
    """``bands.json``, ``bands.md`` and ``bands.png`` in ``folder``; returns the paths."""
    from .fidelity import write_board

    return write_board(result, folder, "bands", markdown, plot)
