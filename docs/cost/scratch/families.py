"""Near-duplicate families and real IVF cost against n (issue 13, tenth session).

Usage: python docs/cost/scratch/families.py SET N SIZES C1,C2,...
(e.g. /work/data/minilm-debian.npy 10000 10000,30000,49000 0.85,0.9).
Split as probes_vs_n.py: rows in the seed-0 order (common.shuffled), the first N are the fit rows (unused here), of
the rest (H) the first 500 are the queries and the next ones the nested real bases of each size n.

Per threshold c, a query is "family" when its nearest cosine among all of H but itself is >= c, else "loner".
Per base and group: IVF (spherical k-means cells, nlist = round(sqrt(n)), as probes_vs_n.py) nprobe and distance
computations at recall@10 = 0.95 over the group's queries, the own-cell share of a query's 10 true neighbours, the
share of the 10 neighbours at cosine >= c ("dup"), the own-cell share of those and of the others, and the share of
the group's queries with at least one such neighbour in the base.

NLIST=L in the environment fixes nlist = L at every n instead of round(sqrt(n)).
REP=r in the environment (r > 0) puts H in the order of a seed-r permutation first (other queries, other bases).

Two kinds of base per n:
  sub       H[500:500 + n], the nested subsample (family members of a query present with probability ~ n / |H|);
  complete  whole families only: the connected components of the cosine >= c graph on H (queries removed), first
            the queries' own components, then the others in a seeded random order (seed 1; every component equally
            likely, so the base's share of rows in families is H's), up to n rows (the last component cut to fit). Each query's family is in the base at every n, as in a complete corpus of size n.
"""
import os
import sys
import time

import faiss
import numpy as np
from common import near_pairs, shuffled
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from synth.metrics.searchcost import cost_at_recall, ivf_cells, ivf_probes

NQ, RECALL, K = 500, 0.95, 10


def group_line(label, n, nlist, g, probe, cost, sims, c):
    pg, cg, sg = probe[g], cost[g], sims[g]
    found = np.bincount(pg.ravel(), minlength=nlist).cumsum() / pg.size
    probes = cost_at_recall(found, np.arange(1, nlist + 1), RECALL)
    ndis = cost_at_recall(found, cg.mean(axis=0), RECALL)
    dup = sg >= c
    own_dup = (pg[dup] == 0).mean() if dup.any() else float("nan")
    own_rest = (pg[~dup] == 0).mean() if (~dup).any() else float("nan")
    p90 = np.percentile(np.sort(pg, axis=1)[:, 8] + 1, 90)
    return (f"| {label} | {n:,} | {g.sum()} | {probes:.1f} | {ndis:.0f} | {(pg == 0).mean():.2f} | {dup.mean():.2f} | "
            f"{dup.any(axis=1).mean():.2f} | {own_dup:.2f} | {own_rest:.2f} | {p90:.0f} | {np.median(sg[:, 0]):.3f} | "
            f"{np.median(sg[:, -1]):.3f} |")


def measure(base, Q, masks, label, n, c):
    base = np.ascontiguousarray(base)
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    sims, nb = index.search(Q, K)
    nlist = os.environ.get("NLIST")
    cells = ivf_cells(base, nlist=int(nlist) if nlist else None)
    probe, cost = ivf_probes(cells, Q, nb)
    nlist = cost.shape[1]
    return [group_line(f"{label} {gname}", n, nlist, g, probe, cost, sims, c) for gname, g in masks]


def main():
    faiss.omp_set_num_threads(1)
    name, N, sizes = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3].split(",")]
    cs = [float(c) for c in sys.argv[4].split(",")]
    t0 = time.time()
    X = shuffled(name)
    H = X[N:]
    rep = int(os.environ.get("REP", "0"))
    if rep:
        H = H[np.random.default_rng(rep).permutation(len(H))]
    Q = np.ascontiguousarray(H[:NQ])
    sizes = [min(n, len(H) - NQ) for n in sizes]
    print(f"# {name} (rep {rep}, nlist {os.environ.get('NLIST', 'sqrt(n)')}): {len(X):,} rows, N = {N:,}, H = {len(H):,} non-fit rows, {NQ} queries, sizes {sizes}")
    src, dst, cos = near_pairs(H, min(cs))
    index = faiss.IndexFlatIP(H.shape[1])
    index.add(H)
    D, I = index.search(Q, 2)
    qnn = np.where(I[:, 0] == np.arange(NQ), D[:, 1], D[:, 0])
    print(f"query nearest cosine in H (self excluded): p10 / p25 / p50 / p75 / p90 = "
          f"{' / '.join(f'{v:.3f}' for v in np.percentile(qnn, [10, 25, 50, 75, 90]))}  ({time.time() - t0:.0f} s)")
    for c in cs:
        print(f"\n## c = {c}: {int((qnn >= c).sum())} family queries, {int((qnn < c).sum())} loners; "
              f"rows of H with a neighbour >= c: {np.unique(src[cos >= c]).size / len(H):.3f}")
        # components of the >= c graph on H without the queries
        m = (cos >= c) & (src >= NQ) & (dst >= NQ)
        R = len(H) - NQ
        A = coo_matrix((np.ones(m.sum()), (src[m] - NQ, dst[m] - NQ)), shape=(R, R))
        _, lab = connected_components(A, directed=False)
        sz = np.bincount(lab)
        print(f"components of the >= c graph on the {R:,} non-query rows: {len(sz):,}, of size > 1: "
              f"{(sz > 1).sum():,} holding {sz[sz > 1].sum():,} rows; size p50 / p90 / p99 / max of those "
              f"{' / '.join(f'{v:.0f}' for v in np.percentile(sz[sz > 1], [50, 90, 99]))} / {sz.max()}")
        # the queries' own components: every non-query row >= c to a query, and their components
        qd = (cos >= c) & (src < NQ) & (dst >= NQ)
        qcomps = np.unique(lab[dst[qd] - NQ])
        rest = np.random.default_rng(1).permutation(len(sz))
        corder = np.concatenate([qcomps, rest[~np.isin(rest, qcomps)]])
        members = np.argsort(lab, kind="stable")
        starts = np.concatenate([[0], np.cumsum(sz)])
        complete_rows = np.concatenate([members[starts[k]:starts[k + 1]] for k in corder]) + NQ
        print(f"the queries' components hold {sz[qcomps].sum():,} rows")
        masks = [("all", np.ones(NQ, bool)), ("family", qnn >= c), ("loner", qnn < c)]
        print("| base, group | n | queries | probes @0.95 | IVF ndis | own-cell share | share of 10-NN >= c | "
              "queries with a >= c NN | own-cell share of >= c NN | of the other NN | p90 cells to 9 |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for n in sizes:
            for line in measure(H[NQ:NQ + n], Q, masks, "sub", n, c):
                print(line, flush=True)
            for line in measure(H[complete_rows[:n]], Q, masks, "complete", n, c):
                print(line, flush=True)
            print(f"|  ({time.time() - t0:.0f} s) |", flush=True)


if __name__ == "__main__":
    main()
