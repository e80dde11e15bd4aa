"""At a fixed corpus size n, the IVF probes at recall 0.95 as the number of cells varies: does the fake's probe count
follow cells per patch (a minimum where every cell holds about one patch), and does real's?

Usage: python docs/cost/scratch/probes_vs_nlist.py SET N n NLISTS CONFIG...
(e.g. minilm-wordnet-all 10000 30000 25,50,100,173,350,700 p40 p160 mix:5,20,160:0.33,0.33,0.34).
SET may be dedup:C:NAME as in probes_vs_n.py.
The split, the configurations and the measures are those of probes_vs_n.py (same seeds: the fake base and queries
are those of its first size when n is its first size); only nlist is set instead of round(sqrt(n)).
"""
import sys

import faiss
import numpy as np
from common import load_set
from probes_vs_n import NQ, RECALL, K, make

from synth.metrics.searchcost import cost_at_recall, ivf_cells, ivf_probes


def probes(base, queries, nlists):
    base, queries = np.ascontiguousarray(base), np.ascontiguousarray(queries)
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    _, nb = index.search(queries, K)
    out = []
    for nlist in nlists:
        probe, _ = ivf_probes(ivf_cells(base, nlist=nlist), queries, nb)
        found = np.bincount(probe.ravel(), minlength=nlist).cumsum() / probe.size
        out.append((cost_at_recall(found, np.arange(1, nlist + 1), RECALL), float((probe == 0).mean())))
    return out


def main():
    faiss.omp_set_num_threads(1)
    name, N, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    nlists = [int(s) for s in sys.argv[4].split(",")]
    X = load_set(name)
    T, H = X[:N], X[N:]
    n = min(n, len(H) - NQ)
    print(f"# {name}: N = {N:,}, n = {n:,}; probes at recall@10 = 0.95 (own-cell share) per nlist; "
          f"cells / patch in brackets")
    print("| corpus | " + " | ".join(f"nlist {c}" for c in nlists) + " |")
    print("|---|" + "---|" * len(nlists))
    row = probes(H[NQ:NQ + n], H[:NQ], nlists)
    print("| real | " + " | ".join(f"{p:.1f} ({o:.2f})" for p, o in row) + " |", flush=True)
    cache = {}
    for config in sys.argv[5:]:
        model, gen = make(config, T, cache)
        row = probes(gen.sample(n, random_state=100), gen.sample(NQ, random_state=200), nlists)
        Kp = model.n_patches_
        print(f"| {config} ({Kp} patches) | " + " | ".join(f"{p:.1f} ({o:.2f}) [{c / Kp:.1f}]"
                                                           for (p, o), c in zip(row, nlists)) + " |", flush=True)


if __name__ == "__main__":
    main()
