"""voyager's HNSW under inner product (Spotify's hnswlib derivative; Malkov & Yashunin 2018, arXiv:1603.09320)."""

from bench.indexes.base import LibraryIndex


class VoyagerHNSW(LibraryIndex):
    """HNSW graph built and searched by voyager on one thread.

    voyager refuses ``query_ef < k``, so a search uses ``max(ef, k)``; an ``ef`` below ``k`` in the sweep
    repeats the ``ef = k`` point. voyager keeps no distance counter reachable from Python: the count is None.

    Parameters
    ----------
    M : int
        Graph degree (2 * M links on the bottom layer).
    ef_construction : int
        Candidate list size while inserting.
    random_state : int
        Seed of the level assignment.
    """

    def __init__(self, M=16, ef_construction=200, random_state=1):
        super().__init__(M=M, ef_construction=ef_construction, random_state=random_state)
        self.M, self.ef_construction, self.random_state = int(M), int(ef_construction), int(random_state)
        self.ef = 10

    def make(self, X):
        import voyager

        index = voyager.Index(voyager.Space.InnerProduct, X.shape[1], M=self.M,
                              ef_construction=self.ef_construction, random_seed=self.random_state,
                              max_elements=max(len(X), 1), storage_data_type=voyager.StorageDataType.Float32)
        if len(X):
            index.add_items(X, list(range(len(X))), num_threads=1)
        return index

    def set_query_params(self, ef):
        self.ef = int(ef)

    def query(self, Q, k):
        labels, _ = self.index_.query(Q, k=k, num_threads=1, query_ef=max(self.ef, k))
        return labels

    def memory_bytes(self):
        return len(self.index_.as_bytes())
