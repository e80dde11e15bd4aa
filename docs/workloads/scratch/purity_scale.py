"""Does label purity grow with the corpus size on real data, and on labelled fakes?

Usage: python docs/workloads/scratch/purity_scale.py NAME LABELS SIZES (e.g. minilm-wordnet-all lexname
10000,30000,60000). Fit a default patch model and its label model (synth.models.fitting.fit_labels) on the first
10,000 rows of a seed-0 permutation; then the label purity of the 10 nearest neighbours on the first n held-out
rows and on n fakes (seed 1, labels drawn as `synth sample` draws them), for each n.
"""
import sys

import numpy as np

from synth.bundled import load_labels, load_real
from synth.models import PatchPCA
from synth.models.fitting import fit_labels
from synth.models.labels import label_purity, label_uniforms


def main(name, labels, sizes):
    X = load_real(name)
    y = load_labels(labels, name, len(X))
    p = np.random.default_rng(0).permutation(len(X))
    X, y = X[p], y[p]
    model = PatchPCA(random_state=0).fit(X[:10_000])
    lm = fit_labels(model, X[:10_000], y[:10_000], 0)
    F = model.sample(max(sizes), random_state=1)
    fy = np.array(lm.classes_)[lm.labels(F, label_uniforms(1, 0, len(F)))]
    ry = np.where(np.isin(y, lm.classes_), y, "(other)")
    for n in sizes:
        print(f"n = {n:,}: purity real {label_purity(X[10_000:10_000 + n], ry[10_000:10_000 + n]):.3f}, "
              f"fake {label_purity(F[:n], fy[:n]):.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(v) for v in sys.argv[3].split(",")])
