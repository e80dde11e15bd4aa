"""hnswlib's HNSW under inner product (Malkov & Yashunin 2018, arXiv:1603.09320)."""

import numpy as np

from bench.indexes.base import LibraryIndex, as_rows, padded
from synth.errors import SynthError


class HnswlibHNSW(LibraryIndex):
    """HNSW graph built and searched by hnswlib on one thread.

    hnswlib needs ef >= k, so a search uses ``max(ef, k)``; an ``ef`` below ``k`` in the sweep repeats
    the ``ef = k`` point. hnswlib keeps no distance counter reachable from Python: the count is None.

    Parameters
    ----------
    M : int
        Graph degree (2 * M links on the bottom layer).
    ef_construction : int
        Candidate list size while inserting.
    random_state : int
        Seed of the level assignment.
    """

    metrics = ("cosine", "ip", "l2")  # hnswlib spaces "ip" (cosine on unit rows, and ip) and "l2"

    def __init__(self, M=16, ef_construction=200, random_state=100):
        super().__init__(M=M, ef_construction=ef_construction, random_state=random_state)
        self.M, self.ef_construction, self.random_state = int(M), int(ef_construction), int(random_state)
        self.ef = 10

    def make(self, X):
        import hnswlib

        index = hnswlib.Index(space="l2" if self.metric == "l2" else "ip", dim=X.shape[1])
        index.init_index(max_elements=len(X), ef_construction=self.ef_construction, M=self.M,
                         random_seed=self.random_state)
        index.set_num_threads(1)
        index.add_items(X, np.arange(len(X)), num_threads=1)
        return index

    def set_query_params(self, ef):
        self.ef = int(ef)

    def query(self, Q, k):
        self.index_.set_ef(max(self.ef, k))
        labels, _ = self.index_.knn_query(Q, k=k, num_threads=1)
        return labels

    filters = True

    def search_filtered(self, Q, k, classes):
        """hnswlib's filtered search: ``knn_query(..., filter=f)`` with a Python callback ``f(row) -> bool``
        that the graph walk calls for each candidate, one query per call (a walk that runs out of candidates
        before it finds ``k`` passing rows returns fewer, where a batch call would raise)."""
        if self.index_ is None:
            raise SynthError(f"{type(self).__name__}: build() before search()")
        keep = self.allowed(classes).tolist().__getitem__
        self.index_.set_ef(max(self.ef, k))
        found = []
        for q in as_rows(Q):
            try:
                found.append(np.ravel(self.index_.knn_query(q, k=k, num_threads=1, filter=keep)[0]))
            except RuntimeError:  # fewer than k passing rows found: ask for as many as there can be
                found.append(np.ravel(self._fewer(q, k, keep)))
        return padded(found, len(found), k)

    def _fewer(self, q, k, keep):
        for j in range(k - 1, 0, -1):
            try:
                return self.index_.knn_query(q, k=j, num_threads=1, filter=keep)[0]
            except RuntimeError:
                continue
        return np.empty((1, 0), dtype=np.int64)

    def memory_bytes(self):
        return int(self.index_.index_file_size())
