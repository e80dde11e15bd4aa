"""Filtered search, measured: do labelled fakes cost what labelled real data costs to search under a filter?

One seeded permutation of the real rows (and of their labels, in step) gives the fitting rows (the first N), the
real queries (the next ``n_queries``) and the real base (the n after them). A corpus model and its label model
(:class:`synth.models.labels.LabelModel`) are fitted on the N rows (or read from a model file written by `synth fit
--labels`); the fake base is the corpus `synth sample -n n --seed S` writes, with the labels it writes, and the fake
queries come from that run's query stream.

A filter keeps the rows whose label is in a set of classes. For each target selectivity the set is chosen once,
from the training rows' class shares (:func:`choose_filter`: one class, or the most or least frequent classes
together, whichever share is nearest the target on a log scale), and applied to both corpora; each side's realized
selectivity is reported. Every query is searched under every filter, with exact filtered ground truth (the k
nearest rows among those the filter keeps). Two index families, on one thread, each built once on the whole base:

- **IVF** (cells = spherical k-means of the base, nlist = sqrt(n)): cells probed in centroid order; a probed cell
  costs the rows of it the filter keeps, as faiss's ``IndexIVFFlat`` counts them under an ``IDSelector``
  (rows the selector rejects are skipped before any distance), plus the nlist coarse distances;
- **HNSW** (faiss ``IndexHNSWFlat``, M = 16, efConstruction = 200) searched with an ``IDSelectorBitmap`` over a
  sweep of efSearch; faiss's own distance counter (the graph walk visits rows the filter rejects too).

With ``indexes`` (`bench filtered --index NAME`), index plug-ins that can filter (``Index.filters``: the faiss
ones with an ``IDSelectorBitmap``, hnswlib with its filter callback, pgvector with ``WHERE label = ANY(...)`` in a
throw-away PostgreSQL server; under range filters pgvector loads the values as a ``double precision`` column and
searches with ``WHERE value BETWEEN lo AND hi``, the others filter by codes that keep the same rows) are built
once per corpus with the labels, and their query parameter is swept under
every filter (:func:`measure_indexes`): tie-tolerant recall@k against the filtered ground truth, distance
computations where the library counts them, and single-thread QPS (median of ``repeats`` passes).

Reported per selectivity and family: distance computations per query at recall 0.90 / 0.95 / 0.99 on real and
fake, and fake / real at 0.95; each filter's depth (per query, the rows of the whole base at least as near as its
k-th filtered neighbour: what a graph walk must pass before the filter's answers; median and 90th percentile);
and the label purity of the 10 nearest neighbours of each corpus.

With ``range_per_query`` (`bench filtered --attribute --range-per-query`), each query has a range of its own per
target share (those `synth sample --range-selectivity S,query` writes): IVF counts each query's own kept rows per
probed cell, and HNSW searches each query alone under its own ``IDSelectorBitmap``.
"""

import faiss
import numpy as np
from tqdm.auto import tqdm

from synth.errors import SynthError
from synth.metric import metric_rows
from synth.metrics.neighbors import knn
from synth.metrics.searchcost import EF_SEARCH, cost_at_recall, faiss_single_thread, hnsw_graph, ivf_cells, ivf_probes
from synth.models.labels import OTHER, choose_filter, label_purity
from synth.sampling.labels import row_labels
from synth.sampling.stream import draw_queries, iter_rows

from .fidelity import fit_config
from .querybands import _num

SELECTIVITIES = (0.001, 0.01, 0.1, 0.5)
TARGETS = (0.90, 0.95, 0.99)
FAMILIES = ("ivf", "hnsw")
EF_FILTERED = EF_SEARCH + (1536, 2048, 3072, 4096, 6144, 8192)  # a narrow filter needs a long graph walk
PURITY_ROWS = 10_000


def _ivf(cells, queries, neighbors, allowed):
    """IVF's sweep over nprobe under a filter: recall and mean cost (kept rows of the probed cells + nlist)."""
    probe, cost = ivf_probes(cells, queries, neighbors, allowed=allowed)
    return np.bincount(probe.ravel(), minlength=cost.shape[1]).cumsum() / probe.size, cost.mean(axis=0)


def _hnsw(index, queries, neighbors, allowed):
    """HNSW's sweep over efSearch under a filter (IDSelectorBitmap): recall and faiss's distance count per query.
    ``allowed``: a mask over the base's rows, or one per query (shape (n_queries, n): each query searched alone
    under its own)."""
    k = neighbors.shape[1]
    masks = allowed if np.ndim(allowed) == 2 else [allowed]
    bitmaps = [np.packbits(m, bitorder="little") for m in masks]  # kept alive while faiss reads them
    sels = [faiss.IDSelectorBitmap(len(m), faiss.swig_ptr(b)) for m, b in zip(masks, bitmaps)]
    recalls, costs = [], []
    for ef in EF_FILTERED:
        faiss.cvar.hnsw_stats.reset()
        if len(sels) == 1:
            _, got = index.search(queries, k, params=faiss.SearchParametersHNSW(efSearch=max(int(ef), k), sel=sels[0]))
        else:
            got = np.concatenate([index.search(queries[i:i + 1], k, params=faiss.SearchParametersHNSW(
                efSearch=max(int(ef), k), sel=sel))[1] for i, sel in enumerate(sels)])
        costs.append(faiss.cvar.hnsw_stats.ndis / len(queries))
        recalls.append(np.mean([len(np.intersect1d(g, t)) for g, t in zip(got, neighbors)]) / k)
        if recalls[-1] >= max(TARGETS):
            break
    return np.array(recalls), np.array(costs)


def filter_truths(base, masks, queries, k):
    """Per filter (name -> the rows it keeps, a bool mask over ``base``, or one per query: shape (n_queries, n)):
    the mask and, when it keeps at least ``k`` rows (for every query), its exact ground truth as a corpus for
    :func:`bench.runner.recall_at_k` (else None)."""
    from types import SimpleNamespace

    out = {}
    for name, allowed in masks.items():
        truth = None
        if np.ndim(allowed) == 2 and allowed.sum(axis=1).min() >= k:
            sims = np.where(allowed, queries @ base.T, -np.inf)
            top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
            truth = SimpleNamespace(base=base, queries=queries, similarities=np.take_along_axis(sims, top, axis=1),
                                    neighbors=top, metric="cosine")
        elif np.ndim(allowed) == 1 and allowed.sum() >= k:
            ids = np.flatnonzero(allowed)
            scores, local = knn(base[ids], queries, k=k)
            truth = SimpleNamespace(base=base, queries=queries, similarities=scores, neighbors=ids[local],
                                    metric="cosine")
        out[name] = (allowed, truth)
    return out


def measure(base, queries, truths, k, bar=None):
    """One corpus under every filter (``truths``: :func:`filter_truths`): realized selectivity and costs at the
    recall targets per family."""
    cells = ivf_cells(base)
    sims = queries @ base.T  # for every filter's depth
    out = {}
    with faiss_single_thread():
        graph = hnsw_graph(base)
        for name, (allowed, truth) in truths.items():
            row = {"selectivity": float(allowed.mean()),  # a filter per query: the mean over queries
                   "rows": int(round(allowed.sum() / (len(allowed) if np.ndim(allowed) == 2 else 1)))}
            if truth is None:
                note = (f"{int((allowed.sum(axis=1) < k).sum())} of {len(allowed)} queries' ranges keep fewer than "
                        f"k = {k} rows" if np.ndim(allowed) == 2 else f"fewer than k = {k} rows pass the filter")
                row.update({f: None for f in FAMILIES}, note=note)
            else:
                scores, neighbors = truth.similarities, truth.neighbors
                # depth: how many rows of the whole base are at least as near as the k-th row the filter keeps
                depth = (sims >= scores[:, -1:] - 1e-6).sum(axis=1)
                row["depth"] = {"median": float(np.median(depth)), "p90": float(np.percentile(depth, 90))}
                for family, (recall, cost) in (("ivf", _ivf(cells, queries, neighbors, allowed)),
                                               ("hnsw", _hnsw(graph, queries, neighbors, allowed))):
                    row[family] = {f"{t:.2f}": cost_at_recall(recall, cost, t) for t in TARGETS}
            out[name] = row
            if bar is not None:
                bar.update(1)
    return out


def measure_indexes(specs, base, codes, filters, truths, k, repeats=3, bar=None, values=None, ranges=None):
    """Index plug-ins that can filter, on one corpus: each built once with the row labels ``codes``, its query
    parameter swept under every filter (``filters``: name -> label codes kept; ``truths``: :func:`filter_truths`).
    With range filters, ``values`` (one number per row) and ``ranges`` (name -> ``[lo, hi]``): a plug-in that
    filters a numeric column itself (``Index.ranges``: pgvector's ``BETWEEN``) is built with the values and
    searched with :meth:`~bench.indexes.base.Index.search_range`; the others filter by the codes of
    :func:`range_codes`, which keep exactly the same rows.

    Returns
    -------
    dict
        Per plug-in name: ``build_seconds`` and ``filters`` (per filter: ``curve``, one point per setting with
        ``param``, ``recall``, ``ndis`` (None without a counter) and ``qps``; ``ndis_at_target`` and
        ``qps_at_target`` at the recall targets); with ``ranges``, ``by_value`` (whether it filtered the values
        themselves). The sweep of a filter stops at the first setting whose recall
        reaches the highest target.
    """
    import time

    from .runner import costs_at_targets, sweep

    out = {}
    for spec in specs:
        index = spec.create(spec.build_grid[0], *base.shape)
        by_value = ranges is not None and index.ranges
        if by_value:
            index.values = values
        else:
            index.labels = codes
        with index:
            t0 = time.perf_counter()
            index.build(base)
            row = {"build_params": index.build_params, "build_seconds": round(time.perf_counter() - t0, 3),
                   "filters": {}}
            if ranges is not None:
                row["by_value"] = bool(by_value)
            for name, keep in filters.items():
                truth = truths[name][1]
                if truth is None:
                    row["filters"][name] = None
                    continue
                if by_value:
                    def search(Q, k_, rng=ranges[name]):
                        return index.search_range(Q, k_, *rng)
                else:
                    def search(Q, k_, keep=keep):
                        return index.search_filtered(Q, k_, keep)
                curve = sweep(index, spec, search, truth, k, repeats, stop_at=max(TARGETS),
                              values=filtered_values(spec, index, len(base)))
                row["filters"][name] = costs_at_targets({"curve": curve}, TARGETS)
                if bar is not None:
                    bar.update(1)
        out[spec.name] = row
    return out


def range_codes(values, ranges):
    """Codes of ``values`` under range filters (name -> ``[lo, hi]``) for plug-ins that filter by a set of codes:
    ``(codes, kept)``, the code of a value its place among the ranges' ends (each range as ``lo <= v <= hi``), and
    per filter the codes of exactly the values in its range."""
    ends = np.unique(np.concatenate([[lo, np.nextafter(hi, np.inf)] for lo, hi in ranges.values()]))
    codes = np.searchsorted(ends, values, side="right").astype(np.int32)
    kept = {name: list(range(int(np.searchsorted(ends, lo, side="right")),
                             int(np.searchsorted(ends, np.nextafter(hi, np.inf), side="right"))))
            for name, (lo, hi) in ranges.items()}
    return codes, kept


def filtered_board(real, labels=None, model=None, config=("patch", {}), n_fit=10_000, n=30_000, n_queries=500, k=10,
                   selectivities=SELECTIVITIES, random_state=0, verbose=True, source=None, indexes=(), repeats=3,
                   attribute=None, attribute_source=None, range_per_query=False):
    """Filtered search cost on real data and on a labelled model's corpus of the same size: filters by label, or,
    with ``attribute``, range filters on a numeric attribute.

    Parameters
    ----------
    real : ndarray of shape (n_rows, d)
        Real embeddings (normalized here).
    labels : array-like of shape (n_rows,), optional
        One real label per row.
    model : Generator, optional
        A model read from a file with a label model (`synth fit --labels`; with ``attribute``, an attribute model:
        `synth fit --attribute`), fitted on the first N rows of the board's permutation; otherwise ``config``
        (kind, params; default `synth fit`'s) and a label (attribute) model are fitted on them.
    attribute : array-like of shape (n_rows,), optional
        Instead of ``labels``: one real number per row. Each selectivity is a range of values (chosen from the
        training rows' quantile table, :func:`synth.models.attributes.choose_range`), applied to both corpora; the
        fake rows' values are those `synth sample` writes. ``attribute_source`` (the file or named kind the values
        came from) names it (:func:`synth.models.attributes.attribute_name`). With ``range_per_query``, each
        query has a range of its own per selectivity instead (a filter ``range-query-S``): the ranges `synth sample
        --range-selectivity S,query --seed random_state` gives its queries
        (:func:`synth.sampling.attributes.query_ranges`), query i of the real and of the fake side under the same
        range; the built-in IVF and HNSW only (not ``indexes``).
    n_fit, n, n_queries, k : int
        N, the base size of both corpora, queries, neighbours per query.
    selectivities : sequence of float in (0, 1]
    random_state : int
        The split's permutation, the fit, and the fake corpus's seed (as `synth sample --seed`).
    indexes : sequence of bench.indexes.IndexSpec
        Plug-ins to run under the filters too (each must have ``filters``); see :func:`measure_indexes`.
    repeats : int
        Timed passes per plug-in setting (QPS is the median).

    Returns
    -------
    dict
        ``params``, ``filters`` (per target: the classes and their training share, or the range), ``real`` and
        ``fake`` (per filter: realized ``selectivity``, ``rows`` and per family the costs at the recall targets;
        and ``purity``, or with ``attribute`` ``neighbour_correlation``), ``ratios`` (fake / real at 0.95 per
        filter and family).
    """
    ranged = attribute is not None
    if (labels is None) != ranged:
        raise SynthError("filtered_board: labels or an attribute, one of the two")
    y = np.asarray(attribute, np.float64) if ranged else np.asarray(labels).astype(str)
    if len(y) != len(real):
        raise SynthError(f"{len(y):,} {'attribute values' if ranged else 'labels'} for {len(real):,} rows", source)
    if any(not 0 < s <= 1 for s in selectivities):
        raise SynthError(f"selectivities must be in (0, 1], got {list(selectivities)}")
    require_filtering(indexes)
    check_range_per_query(range_per_query, ranged, indexes)
    need = "attribute_model_" if ranged else "label_model_"
    if model is not None and getattr(model, need, None) is None:
        raise SynthError("the model file has no " + ("attribute model: fit it with `synth fit --attribute`" if ranged
                                                     else "label model: fit it with `synth fit --labels`"),
                         getattr(model, "path_", None))
    if ranged:
        return _range_board(real, y, model, config, n_fit, n, n_queries, k, selectivities, random_state, verbose,
                            source, indexes, repeats, attribute_source, range_per_query)
    fit_rows, queries, base, train_labels, base_labels, n_fit = _board_rows(real, y, model, n_fit, n, n_queries,
                                                                            random_state, source)
    fitted = None
    if model is None:
        from synth.models.fitting import fit_labels

        model, fitted = fit_config("model", config[0], dict(config[1]), fit_rows, random_state)
        model.label_model_ = fit_labels(model, fit_rows, train_labels, random_state, source)
    lm = model.label_model_
    fake_base = np.concatenate(list(iter_rows(model, random_state, 0, n)))
    fake_labels = np.array(lm.classes_)[row_labels(model, fake_base, random_state, 0)]  # as `synth sample` draws them
    fake_queries = draw_queries(model, random_state, n_queries, np.float32)
    # real labels the label model does not keep count as its pooled class (OTHER), on the real side as on the fake
    train_labels, base_labels = (np.where(np.isin(y, lm.classes_), y, OTHER) for y in (train_labels, base_labels))
    shares = {c: float(np.mean(train_labels == c)) for c in lm.classes_ if np.any(train_labels == c)}
    filters = {}
    for s in selectivities:
        keep, share = choose_filter(shares, s)
        filters[f"{s:g}"] = {"target": s, "classes": keep, "train_share": share}
    keep = {name: f["classes"] for name, f in filters.items()}
    result = {"params": {"n_fit": n_fit, "n": n, "n_queries": n_queries, "k": k, "seed": random_state,
                         "selectivities": list(selectivities), "fit_seconds": fitted,
                         "model": getattr(model, "path_", None), "classes": len(lm.classes_),
                         "temperature": lm.temperature_},
              "filters": filters}
    labelled = {"real": base_labels, "fake": fake_labels}
    vocab = {c: i for i, c in enumerate(sorted(set(lm.classes_) | {OTHER}))}  # the plug-ins' integer labels

    def plugin_codes(corpus):
        return {"codes": np.array([vocab[c] for c in labelled[corpus]], dtype=np.int32),
                "filters": {name: [vocab[c] for c in f] for name, f in keep.items()}}

    _run_board(result, (("real", base, queries), ("fake", fake_base, fake_queries)),
               {corpus: {name: np.isin(y, kept) for name, kept in keep.items()} for corpus, y in labelled.items()},
               plugin_codes, indexes, k, repeats, verbose)
    m = min(n, PURITY_ROWS)
    result["purity"] = {"real": label_purity(base[:m], base_labels[:m]),
                        "fake": label_purity(fake_base[:m], fake_labels[:m])}
    return _with_ratios(result)


def _run_board(result, corpora, masks, plugin_codes, indexes, k, repeats, verbose):
    """Both corpora of a filtered board under every filter of ``result["filters"]``: ``corpora`` (name, base,
    queries), ``masks`` per corpus and filter (the rows it keeps), ``plugin_codes(corpus)`` the plug-ins' row codes
    and each filter's codes, and for range filters the values and ranges (keywords of :func:`measure_indexes`);
    the measurements go into ``result``."""
    filters = result["filters"]
    bar = tqdm(total=2 * len(filters) * (1 + len(indexes)), desc="filters", disable=not verbose, leave=False)
    truths = {corpus: filter_truths(b, masks[corpus], q, k) for corpus, b, q in corpora}
    for corpus, b, q in corpora:
        result[corpus] = measure(b, q, truths[corpus], k, bar)
    if indexes:
        runs = {corpus: measure_indexes(indexes, b, truths=truths[corpus], k=k, repeats=repeats, bar=bar,
                                        **plugin_codes(corpus))
                for corpus, b, _ in corpora}
        result["indexes"] = {spec.name: {corpus: runs[corpus][spec.name] for corpus in runs} for spec in indexes}
        result["params"]["repeats"] = repeats
        for r in result["indexes"].values():
            r["ratios"] = {f: _plugin_ratio(r["fake"]["filters"][f], r["real"]["filters"][f]) for f in filters}
    bar.close()


def _with_ratios(result):
    """``result`` with ``ratios``: fake / real at recall 0.95 per filter and family."""
    result["ratios"] = {name: {f: _ratio(result["fake"][name][f], result["real"][name][f]) for f in FAMILIES}
                        for name in result["filters"]}
    return result


def _board_rows(real, y, model, n_fit, n, n_queries, random_state, source):
    """The board's split of ``real`` and, in step, of ``y`` (labels or values): ``(fitting rows, queries, base,
    y of the fitting rows, y of the base, N)`` (see :func:`filtered_board`)."""
    from .split import board_split

    real = metric_rows(real, "cosine", 2, source)
    fit_rows, heldout, split = board_split(real, n_fit if model is None else None, random_state, model, source)
    order = np.random.default_rng(random_state).permutation(len(real))
    n_fit = split["n_fit"]
    if len(heldout) < n_queries + n:
        raise SynthError(f"{len(real):,} real rows: {n_fit:,} fitted on, {n_queries:,} queries and a base of {n:,} "
                         f"need {n_fit + n_queries + n:,}", source)
    held = y[order[n_fit:]]
    return (fit_rows, heldout[:n_queries], heldout[n_queries:n_queries + n], y[order[:n_fit]],
            held[n_queries:n_queries + n], n_fit)


def _range_board(real, values, model, config, n_fit, n, n_queries, k, selectivities, random_state, verbose, source,
                 indexes, repeats, attribute_source, per_query=False):
    """:func:`filtered_board` with range filters on a numeric attribute (``values``, one per row of ``real``)."""
    from synth.models.attributes import neighbour_correlation, normal_scores
    from synth.sampling.attributes import PER_QUERY_RANGE, RANGE, query_ranges, row_values

    fit_rows, queries, base, train_values, base_values, n_fit = _board_rows(real, values, model, n_fit, n, n_queries,
                                                                            random_state, source)
    fitted = None
    if model is None:
        from synth.models.fitting import fit_attribute

        model, fitted = fit_config("model", config[0], dict(config[1]), fit_rows, random_state)
        model.attribute_model_ = fit_attribute(model, fit_rows, train_values, random_state, source, attribute_source)
    am = model.attribute_model_
    fake_base = np.concatenate(list(iter_rows(model, random_state, 0, n)))
    fake_values = row_values(model, fake_base, random_state, 0)  # as `synth sample` draws them
    fake_queries = draw_queries(model, random_state, n_queries, np.float32)
    filters, own = {}, {}
    for s in selectivities:
        if per_query:  # each query its own range, the same for query i of both sides
            own[f"{PER_QUERY_RANGE}{s:g}"] = qr = query_ranges(model, random_state, n_queries, s)
            filters[f"{PER_QUERY_RANGE}{s:g}"] = {"target": s, "range": "each query's own", "train_share": float(
                np.mean((train_values >= qr[:, :1]) & (train_values <= qr[:, 1:])))}
            continue
        lo, hi = am.range(s)
        filters[f"{RANGE}{s:g}"] = {"target": s, "range": [lo, hi],
                                    "train_share": float(np.mean((train_values >= lo) & (train_values <= hi)))}
    ranges = {key: f["range"] for key, f in filters.items() if key not in own}
    own = {key: (qr[:, :1], qr[:, 1:]) for key, qr in own.items()}  # columns: every query's lo and hi
    result = {"params": {"n_fit": n_fit, "n": n, "n_queries": n_queries, "k": k, "seed": random_state,
                         "selectivities": list(selectivities), "fit_seconds": fitted,
                         "model": getattr(model, "path_", None), "attribute": am.name,
                         "strength": am.strength_, "range_per_query": bool(per_query)},
              "filters": filters}
    valued = {"real": base_values, "fake": fake_values}
    _run_board(result, (("real", base, queries), ("fake", fake_base, fake_queries)),
               {corpus: {key: (v >= lo) & (v <= hi) for key, (lo, hi) in {**ranges, **own}.items()}
                for corpus, v in valued.items()},
               lambda corpus: dict(zip(("codes", "filters"), range_codes(valued[corpus], ranges)),
                                   values=valued[corpus], ranges=ranges), indexes, k, repeats, verbose)
    m = min(n, PURITY_ROWS)
    result["neighbour_correlation"] = {
        "real": neighbour_correlation(base[:m], normal_scores(base_values[:m])),
        "fake": neighbour_correlation(fake_base[:m], normal_scores(fake_values[:m]))}
    result["quantiles"] = {corpus: np.percentile(v, [5, 25, 50, 75, 95]).tolist() for corpus, v in valued.items()}
    return _with_ratios(result)


FILTERED_MAX = 16384  # the largest query setting a filtered sweep goes to past a plug-in's grid


def filtered_values(spec, index, n):
    """The query settings of a filtered sweep: the plug-in's grid, then doubling its last value (a narrow filter
    needs a far longer graph walk than unfiltered search) up to the plug-in's ``query_limit`` (pgvector's
    ``ef_search`` stops at 1,000; IVF at its list count), ``n`` and :data:`FILTERED_MAX`."""
    values = list(spec.query_values)
    if not spec.query_param or not isinstance(values[-1], int):
        return values
    limit = min(index.query_limit() or FILTERED_MAX, n, FILTERED_MAX)
    while values[-1] * 2 <= limit:
        values.append(values[-1] * 2)
    if values[-1] < limit:
        values.append(limit)
    return values


def check_range_per_query(range_per_query, ranged, indexes):
    """Refuse a range per query without an attribute (``ranged``) or with index plug-ins, in one line."""
    if range_per_query and (not ranged or indexes):
        raise SynthError("--range-per-query needs --attribute, and measures the built-in IVF and HNSW only (no --index)")


def require_filtering(specs):
    """``specs`` (bench.indexes.IndexSpec), if every one can search under a filter (``Index.filters``); else a
    one-line SynthError naming the installed plug-ins that can."""
    from .indexes import available, get

    cannot = [spec.name for spec in specs if not spec.index_class().filters]
    if cannot:
        can = [name for name in available() if get(name).index_class().filters]
        raise SynthError(f"index {', '.join(cannot)} cannot search under a filter (those that can: {', '.join(can)})")
    return specs


def _plugin_ratio(fake, real):
    """fake / real at recall 0.95 for a plug-in under one filter: distance computations and QPS (None where a
    side is missing or did not reach 0.95)."""
    out = {}
    for key in ("ndis", "qps"):
        f = fake and fake[f"{key}_at_target"].get("0.95")
        r = real and real[f"{key}_at_target"].get("0.95")
        out[key] = f / r if f and r else None
    return out


def _ratio(fake, real):
    if not fake or not real or fake.get("0.95") is None or real.get("0.95") is None:
        return None
    return fake["0.95"] / real["0.95"]


def markdown(result):
    """The board as Markdown: per filter, the classes, each corpus's selectivity and costs, and the ratios."""
    p = result["params"]
    lines = [f"**Filtered search** (N = {p['n_fit']:,} fitting rows; base n = {p['n']:,} real rows and n fakes, "
             f"{p['n_queries']:,} queries, k = {p['k']}, exact filtered ground truth; distance computations per "
             "query, one thread)", "",
             "| target | classes kept | corpus | selectivity | depth median [p90] | IVF @0.90 / 0.95 / 0.99 | "
             "HNSW @0.90 / 0.95 / 0.99 | fake / real @0.95 IVF, HNSW |", "|---|---|---|---|---|---|---|---|"]
    ranged = "attribute" in p
    if ranged:
        lines[2] = lines[2].replace("classes kept", f"range of {p['attribute']}")
    for name, f in result["filters"].items():
        if ranged:
            shown = f["range"] if isinstance(f["range"], str) else f"{f['range'][0]:g} .. {f['range'][1]:g}"
        else:
            shown = ", ".join(f["classes"][:3]) + (f" +{len(f['classes']) - 3}" if len(f["classes"]) > 3 else "")
        for corpus in ("real", "fake"):
            r = result[corpus][name]
            cells = [" / ".join(_num(r[fam][t]) for t in ("0.90", "0.95", "0.99")) if r[fam] else "-"
                     for fam in FAMILIES]
            ratio = result["ratios"][name]
            last = ", ".join("-" if ratio[fam] is None else f"{ratio[fam]:.2f}" for fam in FAMILIES) \
                if corpus == "fake" else ""
            depth = f"{r['depth']['median']:,.0f} [{r['depth']['p90']:,.0f}]" if "depth" in r else "-"
            lines.append(f"| {f['target']:.1%} | {shown if corpus == 'real' else ''} | {corpus} | "
                         f"{r['selectivity']:.2%} | {depth} | {cells[0]} | {cells[1]} | {last} |")
    if result.get("indexes"):
        lines += ["", f"**Index plug-ins under the filters** (each built once per corpus with the labels; its query "
                  f"parameter swept; tie-tolerant recall@{p['k']} against the filtered ground truth; QPS single-thread, "
                  f"median of {p.get('repeats', 3)} passes; distance computations where the library counts them)", "",
                  "| index | target | real ndis @0.90 / 0.95 / 0.99 | fake ndis | real QPS @0.95 | fake QPS @0.95 | "
                  "fake / real @0.95 ndis, QPS |", "|---|---|---|---|---|---|---|"]
        for name, r in result["indexes"].items():
            for f, filt in result["filters"].items():
                cells = []
                for corpus in ("real", "fake"):
                    run = r[corpus]["filters"][f]
                    if not run:
                        cells.append("-")
                    elif run["curve"][0]["ndis"] is None:
                        cells.append("no counter")
                    else:
                        cells.append(" / ".join(_num(run["ndis_at_target"][t]) for t in ("0.90", "0.95", "0.99")))
                qps = [(_num(r[c]["filters"][f]["qps_at_target"]["0.95"]) if r[c]["filters"][f] else "-")
                       for c in ("real", "fake")]
                ratio = r["ratios"][f]
                last = ", ".join("-" if ratio[key] is None else f"{ratio[key]:.2f}" for key in ("ndis", "qps"))
                lines.append(f"| {name} | {filt['target']:.1%} | {cells[0]} | {cells[1]} | {qps[0]} | {qps[1]} | "
                             f"{last} |")
    if ranged:
        c, qs = result["neighbour_correlation"], result["quantiles"]
        if p.get("range_per_query"):
            lines += ["", "Each query under a range of its own per target (query i of both sides under the same one, "
                      "placed uniformly on the training quantiles); selectivity and rows are means over the queries."]
        lines += ["", f"Neighbour correlation of {p['attribute']} (its normal scores against those of the 10 nearest "
                  f"neighbours, first {min(p['n'], PURITY_ROWS):,} rows of each base): real {c['real']:.3f}, fake "
                  f"{c['fake']:.3f}; quantiles 5 / 25 / 50 / 75 / 95%: real "
                  + " / ".join(f"{v:.4g}" for v in qs["real"]) + ", fake " + " / ".join(f"{v:.4g}" for v in qs["fake"])
                  + f"; attribute model strength {p['strength']:.3f}."]
        return "\n".join(lines) + "\n"
    pur = result["purity"]
    lines += ["", f"Label purity of the 10 nearest neighbours (first {min(p['n'], PURITY_ROWS):,} rows of each base): "
              f"real {pur['real']:.3f}, fake {pur['fake']:.3f} (difference {pur['fake'] - pur['real']:+.3f}); "
              f"label model: {p['classes']} classes, temperature {p['temperature']:.3g}."]
    return "\n".join(lines) + "\n"


def plot(result, path):
    """Per family, cost at recall 0.95 against realized selectivity, real and fake (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .fidelity import save_png

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, family in zip(axes, FAMILIES):
        for corpus, style in (("real", "o-"), ("fake", "s--")):
            pts = [(r["selectivity"], r[family]["0.95"]) for r in result[corpus].values()
                   if r[family] and r[family]["0.95"] is not None]
            if pts:
                x, y = zip(*sorted(pts))
                ax.plot(x, y, style, label=corpus)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{family.upper()}: distance computations at recall 0.95")
        ax.set_xlabel("selectivity (share of rows the filter keeps)")
        ax.legend()
    fig.tight_layout()
    save_png(fig, path)


def write_outputs(result, folder):
    """``filtered.json``, ``filtered.md`` and ``filtered.png`` in ``folder``; returns the paths."""
    from .fidelity import write_board

    return write_board(result, folder, "filtered", markdown, plot)
