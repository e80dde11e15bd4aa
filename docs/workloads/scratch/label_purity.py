"""Which label model gives fakes real's label geometry? WordNet lexnames on MiniLM-WordNet glosses.

Usage: python docs/workloads/scratch/label_purity.py N n. Fit on the first N rows of a seed-0 permutation of
minilm-wordnet-all (default PatchPCA); held-out real = the next n rows. Purity = mean share of a point's 10 nearest
others (same set) with its label. Label models: per-patch frequencies of the training rows' labels by nearest patch
mean (classes with fewer than 20 rows in a patch pooled into the global frequencies), and a multinomial logistic
regression on the training rows with its logits divided by a temperature T.
"""
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

from synth.bundled import load_real
from synth.embed import wordnet_gloss_labels
from synth.metrics.neighbors import knn
from synth.models import PatchPCA


def purity(X, y, k=10):
    _, ids = knn(X, k=k, exclude_self=True)
    return float(np.mean(y[ids] == y[:, None]))


def main(N, n):
    X = load_real("minilm-wordnet-all")
    names = sorted({a for a, _ in wordnet_gloss_labels()})
    y = np.array([names.index(a) for a, _ in wordnet_gloss_labels()])
    p = np.random.default_rng(0).permutation(len(X))
    X, y = X[p], y[p]
    T, yT, H, yH = X[:N], y[:N], X[N:N + n], y[N:N + n]
    print(f"real purity: held-out {purity(H, yH):.3f}, training {purity(T, yT):.3f}", flush=True)
    model = PatchPCA(random_state=0).fit(T)
    F = model.sample(n, random_state=1)
    M = model.means_.astype(np.float32)
    C = len(names)
    lab = np.argmax(T @ M.T, axis=1)
    glob = np.bincount(yT, minlength=C) / N
    freq = np.zeros((len(M), C))
    for j in range(len(M)):
        c = np.bincount(yT[lab == j], minlength=C).astype(float)
        small = c < 20
        rest = c[small].sum()
        c[small] = 0
        c += rest * glob
        freq[j] = c / c.sum() if c.sum() else glob
    rng = np.random.default_rng(2)
    fl = np.argmax(F @ M.T, axis=1)
    yF = np.array([rng.choice(C, p=freq[j]) for j in fl])
    print(f"per-patch frequencies: fake purity {purity(F, yF):.3f}; held-out real relabelled the same way "
          f"{purity(H, np.array([rng.choice(C, p=freq[j]) for j in np.argmax(H @ M.T, axis=1)])):.3f}", flush=True)
    clf = LogisticRegression(C=10.0, max_iter=300).fit(T, yT)
    print(f"logistic accuracy: training {clf.score(T, yT):.3f}, held-out {clf.score(H, yH):.3f}", flush=True)
    logits = clf.decision_function(F)
    for temp in (1.0, 0.7, 0.5, 0.35, 0.25):
        z = logits / temp
        P = np.exp(z - z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        u = rng.random((len(F), 1))
        yF = clf.classes_[np.minimum((P.cumsum(axis=1) < u).sum(axis=1), P.shape[1] - 1)]
        print(f"logistic T={temp}: fake purity {purity(F, yF):.3f}, label frequency L1 to real "
              f"{np.abs(np.bincount(yF, minlength=C) / n - glob).sum():.3f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
