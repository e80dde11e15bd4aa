"""Several labels per row, measured: do tagged fakes cost what tagged real rows cost to search when every query
carries one or two tags and a row answers only when it carries all of them (big-ann-benchmarks' filtered track)?

The split is `bench filtered`'s (bench.filtered._board_rows: one seeded permutation; the first N rows fit, the next
Q are the real queries, the n after them the real base). A patch model (`synth fit`'s defaults) and a tag model
(synth.models.tags.TagModel, `synth fit --labels FILE --multi-label`) are fitted on the N rows; the fake base is
what `synth sample -n n --seed S` writes, rows and tags, and the fake queries come from its query stream.

Queries' tags: each query's own tag set (real: its real tags among the tags the model keeps; fake: the tags it
would carry, drawn from the tag model at the query with the query seed's uniforms, as `synth sample
--filter-selectivity query` ranks them). Queries with at least one tag give the one-tag queries (a tag of their own
at random; fake: the first of `TagModel.query_tags`' ranking), queries with at least two the two-tag queries. A
query whose filter keeps fewer than k rows is left out of the costs (counted).

Per corpus and query kind: realized selectivity (mean and median over queries of the share of base rows carrying
all of a query's tags), and distance computations per query at recall 0.95 (10 nearest) for IVF (nlist = sqrt(n),
a probed cell costing the rows of it the filter keeps) and HNSW (faiss IndexHNSWFlat, M = 16, efConstruction 200,
IDSelectorBitmap per query, faiss's counter) as bench/filtered.py measures them; and the tag purity of the 10
nearest neighbours (synth.models.tags.tag_purity) and the mean Jaccard of a row's tag set with its neighbours', on
the first 10,000 base rows of each corpus.

With ``--index NAME,...`` (bench plug-ins that filter: faiss-hnsw, faiss-ivf, hnswlib, ...; not pgvector) each
plug-in is also built once per corpus with the rows' tags (its ``labels`` a sparse rows x tags matrix: a row passes
when it carries all of a query's tags) and its query parameter swept as `bench filtered --index` sweeps it, the
queries searched group by group of equal tags; reported: distance computations (where the library counts them) and
single-thread QPS at recall 0.95, fake / real.

With ``--bundles M`` the tag model is one of tags that go together (TagModel(bundles=M), `synth fit --multi-label
--tag-bundles M`).

Usage (2 cores, about 4 min; with plug-ins more): python docs/workloads/scratch/tag_filters.py
/work/data/minilm-debian.npy /work/data/minilm-debian-tags.txt [N n Q seed] [--index NAME,...] [--bundles M]
"""
import json
import sys
import time

import faiss
import numpy as np

from bench.filtered import EF_FILTERED, _board_rows, fit_config
from synth.metrics.neighbors import knn
from synth.metrics.searchcost import cost_at_recall, faiss_single_thread, hnsw_graph, ivf_cells, ivf_probes
from synth.models.fitting import fit_labels
from synth.models.labels import _neighbours, label_uniforms
from synth.models.tags import TAG_BLOCK, TAG_STREAM, read_tags, tag_jaccard, tag_matrix, tag_purity
from synth.sampling.labels import row_labels
from synth.sampling.stream import draw_queries, iter_rows, query_seed

K, TARGET, PURITY_ROWS = 10, 0.95, 10_000


def groups(tag_sets):
    """Query indices per tag tuple."""
    out = {}
    for q, t in enumerate(tag_sets):
        out.setdefault(t, []).append(q)
    return {t: np.array(v) for t, v in out.items()}


def measure(base, Y, queries, tag_sets):
    """Selectivity and costs at recall TARGET for IVF and HNSW of queries each filtered by all its tags."""
    by = groups(tag_sets)
    masks = {t: Y[:, list(t)].all(axis=1) for t in by}
    share = np.array([masks[t].mean() for t in tag_sets])
    ok = [t for t in by if masks[t].sum() >= K]
    truth = {}
    for t in ok:
        ids = np.flatnonzero(masks[t])
        truth[t] = ids[knn(base[ids], queries[by[t]], k=K)[1]]
    cells = ivf_cells(base)
    probes, costs = [], []
    for t in ok:
        p, c = ivf_probes(cells, queries[by[t]], truth[t], allowed=masks[t])
        probes.append(p)
        costs.append(c)
    probe, cost = np.concatenate(probes), np.concatenate(costs)
    ivf_recall = np.bincount(probe.ravel(), minlength=cost.shape[1]).cumsum() / probe.size
    ivf = cost_at_recall(ivf_recall, cost.mean(axis=0), TARGET)
    n_ok = sum(len(by[t]) for t in ok)
    with faiss_single_thread():
        graph = hnsw_graph(base)
        recalls, ndis = [], []
        for ef in EF_FILTERED:
            hits = dist = 0
            for t in ok:
                bitmap = np.packbits(masks[t], bitorder="little")
                sel = faiss.IDSelectorBitmap(len(base), faiss.swig_ptr(bitmap))
                faiss.cvar.hnsw_stats.reset()
                _, got = graph.search(queries[by[t]], K, params=faiss.SearchParametersHNSW(efSearch=max(ef, K),
                                                                                          sel=sel))
                dist += faiss.cvar.hnsw_stats.ndis
                hits += sum(len(np.intersect1d(g, r)) for g, r in zip(got, truth[t]))
            recalls.append(hits / (n_ok * K))
            ndis.append(dist / n_ok)
            if recalls[-1] >= 0.99:
                break
    hnsw = cost_at_recall(recalls, ndis, TARGET)
    return {"queries": len(tag_sets), "measured": n_ok, "selectivity_mean": float(share.mean()),
            "selectivity_median": float(np.median(share)), "ivf": ivf, "hnsw": hnsw}


def measure_plugins(names, base, Y, queries, tag_sets):
    """Per plug-in: distance computations and QPS per query at recall TARGET under each query's tags."""
    from types import SimpleNamespace

    from scipy.sparse import csr_matrix

    from bench.filtered import filtered_values
    from bench.indexes import get
    from bench.runner import costs_at_targets, sweep

    by = groups(tag_sets)
    ok = [t for t in by if Y[:, list(t)].all(axis=1).sum() >= K]
    order = np.concatenate([by[t] for t in ok])
    Q = queries[order]
    spans, at = [], 0
    for t in ok:
        spans.append((t, slice(at, at + len(by[t]))))
        at += len(by[t])
    sims, nbrs = np.empty((len(Q), K), np.float32), np.empty((len(Q), K), np.int64)
    for t, span in spans:
        ids = np.flatnonzero(Y[:, list(t)].all(axis=1))
        s_, local = knn(base[ids], Q[span], k=K)
        sims[span], nbrs[span] = s_, ids[local]
    corpus = SimpleNamespace(base=base, queries=Q, similarities=sims, neighbors=nbrs, metric="cosine")
    out = {}
    for name in names:
        spec = get(name)
        index = spec.create(spec.build_grid[0], *base.shape)
        index.labels = csr_matrix(Y)
        with index:
            index.build(base)

            def search(Qs, k, index=index):
                found = np.empty((len(Qs), k), np.int64)
                for t, span in spans:
                    found[span] = index.search_filtered(Qs[span], k, t)
                return found

            curve = sweep(index, spec, search, corpus, K, repeats=1, stop_at=0.99,
                          values=filtered_values(spec, index, len(base)))
        r = costs_at_targets({"curve": curve}, (TARGET,))
        out[name] = {"ndis": r["ndis_at_target"][f"{TARGET:.2f}"], "qps": r["qps_at_target"][f"{TARGET:.2f}"]}
    return out


def pick(own, count, rng):
    """Queries with at least ``count`` tags of their own: their indices and ``count`` of their tags (random)."""
    idx = [q for q, t in enumerate(own) if len(t) >= count]
    return np.array(idx, int), [tuple(sorted(rng.choice(own[q], count, replace=False).tolist())) for q in idx]


def main(real_path, tags_path, n_fit=10_000, n=30_000, n_queries=1000, seed=0, plugins=(), bundles=0):
    t0 = time.time()
    real = np.load(real_path).astype(np.float32)
    tag_lists = read_tags(tags_path, len(real))
    y = np.empty(len(real), object)
    y[:] = tag_lists
    fit_rows, queries, base, train_tags, base_tags, n_fit = _board_rows(real, y, None, n_fit, n, n_queries, seed,
                                                                        real_path)
    q_tags = y[np.random.default_rng(seed).permutation(len(real))[n_fit:n_fit + n_queries]]
    model, _ = fit_config("model", "patch", {}, fit_rows, seed)
    t_fit = time.time()
    model.label_model_ = tm = fit_labels(model, fit_rows, list(train_tags), seed, bundles=bundles)
    print(f"tag model: {json.dumps({k: v for k, v in tm.fit_info_.items() if k != 'shares'})} "
          f"({time.time() - t_fit:.0f} s)", flush=True)
    names = tm.classes_
    Y_real = tag_matrix(list(base_tags), names)
    fake_base = np.concatenate(list(iter_rows(model, seed, 0, n)))
    Y_fake = row_labels(model, fake_base, seed, 0).toarray()
    fake_queries = draw_queries(model, seed, n_queries, np.float32)
    # the fake queries' own tags, ranked as TagModel.query_tags ranks them (uniform / chance)
    u = label_uniforms(query_seed(seed), 0, n_queries, stream=TAG_STREAM, block=TAG_BLOCK, width=len(names) + 1)
    ratio = u[:, :-1] / np.maximum(tm.query_chance(fake_queries, u), 1e-12)
    order = np.argsort(ratio, axis=1, kind="stable")
    fake_own = [order[i, :int((ratio[i] < 1).sum())] for i in range(n_queries)]
    col = {c: i for i, c in enumerate(names)}
    real_own = [np.array([col[x] for x in t if x in col]) for t in q_tags]
    rng = np.random.default_rng(seed)
    rows = []
    for count in (1, 2):
        r_idx, r_sets = pick(real_own, count, rng)
        f_idx = np.array([q for q, t in enumerate(fake_own) if len(t) >= count], int)
        f_sets = [tuple(sorted(fake_own[q][:count].tolist())) for q in f_idx]
        real_row = measure(base, Y_real, queries[r_idx], r_sets)
        fake_row = measure(fake_base, Y_fake, fake_queries[f_idx], f_sets)
        ratios = {f: (fake_row[f] / real_row[f] if fake_row[f] and real_row[f] else None) for f in ("ivf", "hnsw")}
        rows.append({"tags": count, "real": real_row, "fake": fake_row, "ratio": ratios})
        if plugins:
            rows[-1]["plugins"] = {side: measure_plugins(plugins, B, Y, Q, S) for side, B, Y, Q, S in
                                   (("real", base, Y_real, queries[r_idx], r_sets),
                                    ("fake", fake_base, Y_fake, fake_queries[f_idx], f_sets))}
        print(json.dumps(rows[-1]), flush=True)
    m = min(n, PURITY_ROWS)
    purity = {}
    for side, B, Y in (("real", base, Y_real), ("fake", fake_base, Y_fake)):
        nb = _neighbours(B[:m])
        purity[side] = {"tag_purity": tag_purity(Y[:m], nb), "jaccard": tag_jaccard(Y[:m], nb),
                        "tags_per_row": float(Y.sum(axis=1).mean()), "untagged": float((Y.sum(axis=1) == 0).mean())}
    print(json.dumps(purity), flush=True)
    print(f"\nN = {n_fit:,} fit rows, n = {n:,} base, {n_queries} queries drawn, k = {K}, seed {seed}; "
          f"{len(names)} tags kept; {time.time() - t0:.0f} s")
    print("| query tags | side | queries (measured) | selectivity mean / median | IVF at 0.95 | HNSW at 0.95 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        for side in ("real", "fake"):
            v = r[side]
            print(f"| {r['tags']} | {side} | {v['queries']} ({v['measured']}) | {v['selectivity_mean']:.4f} / "
                  f"{v['selectivity_median']:.4f} | {v['ivf'] or float('nan'):,.0f} | {v['hnsw'] or float('nan'):,.0f} |")
        print(f"| {r['tags']} | fake / real | | | {r['ratio']['ivf'] or float('nan'):.2f} | "
              f"{r['ratio']['hnsw'] or float('nan'):.2f} |")
    if plugins:
        print("\n| query tags | plug-in | ndis real | ndis fake | fake / real | QPS real | QPS fake | fake / real |")
        print("|---|---|---|---|---|---|---|---|")
        fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
        for r in rows:
            for name in plugins:
                a, b = r["plugins"]["real"][name], r["plugins"]["fake"][name]
                print(f"| {r['tags']} | {name} | {fmt(a['ndis'], ',.0f')} | {fmt(b['ndis'], ',.0f')} | "
                      f"{fmt(b['ndis'] / a['ndis'] if a['ndis'] and b['ndis'] else None, '.2f')} | "
                      f"{fmt(a['qps'], ',.0f')} | {fmt(b['qps'], ',.0f')} | "
                      f"{fmt(b['qps'] / a['qps'] if a['qps'] and b['qps'] else None, '.2f')} |")
    print("\n| | tag purity (10 nearest) | mean Jaccard (10 nearest) | tags per row | rows without tags |")
    print("|---|---|---|---|---|")
    for side in ("real", "fake"):
        p = purity[side]
        print(f"| {side} | {p['tag_purity']:.3f} | {p['jaccard']:.3f} | {p['tags_per_row']:.2f} | {p['untagged']:.3f} |")


if __name__ == "__main__":
    args = sys.argv[1:]
    indexes, n_bundles = (), 0
    if "--index" in args:
        at = args.index("--index")
        indexes, args = tuple(args[at + 1].split(",")), args[:at] + args[at + 2:]
    if "--bundles" in args:
        at = args.index("--bundles")
        n_bundles, args = int(args[at + 1]), args[:at] + args[at + 2:]
    main(args[0], args[1], *(int(a) for a in args[2:]), plugins=indexes, bundles=n_bundles)
