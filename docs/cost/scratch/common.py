"""Shared by the research scripts here: the seeded split of a real set (named or .npy) into fit, base and queries."""
import numpy as np

from synth.bundled import load_real


def split(name, N=10000, nq=1000, n=10000):
    """Unit rows of ``name`` split by a seed-0 permutation: N to fit, a base of n held-out rows, nq queries."""
    X = load_real(name) if not name.endswith(".npy") else np.load(name)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    o = np.random.default_rng(0).permutation(len(X))
    n = min(n, len(X) - N - nq)
    return X[o[:N]], X[o[N:N + n]], X[o[N + n:N + n + nq]]
