"""Shared by the research scripts here: a real set (named or .npy) as unit rows in a seeded order, and its
split into fit, base and queries."""
import numpy as np

from synth.bundled import load_real


def shuffled(name):
    """Unit rows of ``name`` (float32) in the order of a seed-0 permutation."""
    X = load_real(name) if not name.endswith(".npy") else np.load(name)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    return X[np.random.default_rng(0).permutation(len(X))]


def split(name, N=10000, nq=1000, n=10000):
    """:func:`shuffled` rows cut into N to fit, a base of n held-out rows and nq queries."""
    X = shuffled(name)
    n = min(n, len(X) - N - nq)
    return X[:N], X[N:N + n], X[N + n:N + n + nq]
