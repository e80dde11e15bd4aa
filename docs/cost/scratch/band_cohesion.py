"""What makes real's hard queries dearer than the fake's at the same relative contrast? Per band of query
hardness (bench.querybands' rule), how the 10 true neighbours of a query sit around it and around each other.

Usage: python docs/cost/scratch/band_cohesion.py SET N n (e.g. minilm-wordnet-all 10000 30000).
Default fit on the first N rows of the seed-0 order (common.shuffled); real base and candidate queries from the
rows after them, fake base and candidates from the model (as bench.querybands). Per band (500 queries of 1,500):
median cosine of a query to its 1st and 10th neighbour, median cosine between two of its 10 neighbours
(cohesion), and the share of neighbour pairs that are each other's 10-NN in the base (mutual).
"""
import sys

import numpy as np
from common import shuffled

from synth.metrics.hardness import REFERENCE_ROWS, candidate_count, parse_band, select_band
from synth.metrics.neighbors import knn
from synth.models import PatchPCA


def describe(label, base, pool, nq=500, k=10):
    sims, ids = knn(base, pool, k=k)
    _, base_ids = knn(base, base[np.unique(ids)], k=k + 1)
    nbrs = {int(r): set(row[1:].tolist()) for r, row in zip(np.unique(ids), base_ids)}
    for name in ("easy", "medium", "hard"):
        band = parse_band(name)
        c = candidate_count(nq, band)
        keep, report = select_band(pool[:c], sims[:c], base[:REFERENCE_ROWS], nq, band)
        coh, mutual = [], []
        for i in keep:
            V = base[ids[i]]
            G = V @ V.T
            coh.append(G[np.triu_indices(k, 1)].mean())
            mutual.append(np.mean([b in nbrs[a] for a in ids[i] for b in ids[i] if a != b]))
        print(f"{label} {name}: rc {report['rc']['median']:.3f}; cos to nbr 1 / 10 {np.median(sims[keep, 0]):.3f} / "
              f"{np.median(sims[keep, k - 1]):.3f}; cohesion {np.median(coh):.3f}; mutual {np.median(mutual):.3f}",
              flush=True)


def main(name, N, n):
    X = shuffled(name)
    model = PatchPCA(random_state=0).fit(X[:N])
    rest = X[N:]
    describe("real", rest[1500:1500 + n], rest[:1500])
    describe("fake", model.sample(n, random_state=1), model.sample(1500, random_state=2))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
