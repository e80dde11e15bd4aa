"""Shared by the scratch scripts here: the N = 50,000 / n = 10,000 split of minilm-wordnet-all."""
import numpy as np

from synth.bundled import load_real


def wordnet_split(N=50000, n=10000):
    """Unit rows of minilm-wordnet-all in the seed-0 order: training rows 0..N-1, held-out rows N..N+n-1."""
    X = load_real("minilm-wordnet-all").astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X = X[np.random.default_rng(0).permutation(len(X))]
    return X[:N], X[N:N + n]
