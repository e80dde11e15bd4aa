"""pynndescent: a k-NN graph by nearest-neighbour descent (Dong, Charikar & Li 2011), searched by a
best-first graph search whose frontier is widened by ``epsilon`` (https://pynndescent.readthedocs.io)."""

import pickle
import warnings

import numpy as np

from bench.indexes.base import LibraryIndex
from synth.errors import SynthError

_WARMED = set()  # dimensions warmed up in this process


class PynndescentGraph(LibraryIndex):
    """pynndescent's search graph under cosine, built and searched on one thread.

    pynndescent compiles its functions with numba on first use (tens of seconds); ``warm_up`` builds and
    searches a small random index first, so the harness's build time is the library's, not the compiler's.
    ``n_neighbors`` is clipped to ``n - 1`` on tiny inputs. pynndescent keeps no distance counter reachable
    from Python: the count is None.

    Parameters
    ----------
    n_neighbors : int
        Neighbours per row of the k-NN graph (the search graph is pruned from it).
    random_state : int
        Seed of the random projection trees and of the descent.
    """

    def __init__(self, n_neighbors=30, random_state=42):
        super().__init__(n_neighbors=n_neighbors, random_state=random_state)
        self.n_neighbors, self.random_state = int(n_neighbors), int(random_state)
        self.epsilon = 0.1

    @classmethod
    def unbuildable(cls, params, n, d):
        if n < 2:
            return f"pynndescent needs at least 2 base rows, got {n}"
        return super().unbuildable(params, n, d)

    @classmethod
    def warm_up(cls, d):
        if d in _WARMED:
            return
        X = np.random.default_rng(0).standard_normal((300, d)).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        cls(n_neighbors=10).build(X).search(X[:2], 10)
        _WARMED.add(d)

    def make(self, X):
        import pynndescent

        if len(X) < 2:
            raise SynthError(f"pynndescent needs at least 2 base rows, got {len(X)}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Failed to correctly find n_neighbors" on tiny inputs
            index = pynndescent.NNDescent(X, metric="cosine", n_neighbors=min(self.n_neighbors, len(X) - 1),
                                          random_state=self.random_state, n_jobs=1, compressed=True)
            index.prepare()  # builds the search graph and compiles the search (else the first query does)
        return index

    def set_query_params(self, epsilon):
        self.epsilon = float(epsilon)

    def query(self, Q, k):
        labels, _ = self.index_.query(Q, k=k, epsilon=self.epsilon)
        return labels

    def memory_bytes(self):
        return len(pickle.dumps(self.index_, protocol=pickle.HIGHEST_PROTOCOL))
