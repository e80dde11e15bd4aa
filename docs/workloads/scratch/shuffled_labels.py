"""A control for the filtered board: labels shuffled across rows (no geometry), so each filter keeps a random share of
rows on real and on fake data. What filtered search costs then is the corpora's geometry alone.

Usage: python docs/workloads/scratch/shuffled_labels.py NAME LABELS n SELECTIVITIES (e.g. minilm-wordnet-all
lexname 30000 0.01,0.1,0.5). The board of `bench filtered` (seed 0, N = 10,000, 500 queries) on the labels permuted
by a seed-1 permutation.
"""
import sys

import numpy as np

from bench.filtered import filtered_board
from synth.bundled import load_labels, load_real


def main(name, labels, n, selectivities):
    X = load_real(name)
    y = load_labels(labels, name, len(X))[np.random.default_rng(1).permutation(len(X))]
    r = filtered_board(X, y, n=n, n_queries=500, selectivities=selectivities, verbose=False, source=name)
    cells = [f"{k}: sel {r['real'][k]['selectivity']:.2%}/{r['fake'][k]['selectivity']:.2%} ivf "
             f"{r['ratios'][k]['ivf']:.2f} hnsw {r['ratios'][k]['hnsw']:.2f} (real {r['real'][k]['hnsw']['0.95']:,.0f}) "
             f"depth {r['real'][k]['depth']['median']:,.0f}/{r['fake'][k]['depth']['median']:,.0f}"
             for k in r["filters"]]
    print(f"shuffled labels: purity real {r['purity']['real']:.3f} fake {r['purity']['fake']:.3f} | "
          + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), [float(v) for v in sys.argv[4].split(",")])
