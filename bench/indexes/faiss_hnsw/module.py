"""faiss IndexHNSWFlat under inner product (Malkov & Yashunin 2018, arXiv:1603.09320)."""

from bench.indexes.base import FaissIndex


class FaissHNSW(FaissIndex):
    """HNSW graph over full vectors.

    Parameters
    ----------
    M : int
        Graph degree (2 * M links on the bottom layer).
    efConstruction : int
        Candidate list size while inserting.
    """

    def __init__(self, M=16, efConstruction=200):
        super().__init__(M=M, efConstruction=efConstruction)
        self.M, self.efConstruction = int(M), int(efConstruction)
        self.efSearch = 16

    def make(self, X):
        import faiss

        index = faiss.IndexHNSWFlat(X.shape[1], self.M, self.faiss_metric())
        index.hnsw.efConstruction = self.efConstruction
        return index

    def build(self, X):
        super().build(X)
        self.index_.hnsw.efSearch = self.efSearch
        return self

    def search_params(self, sel):
        import faiss

        return faiss.SearchParametersHNSW(efSearch=self.efSearch, sel=sel)

    def set_query_params(self, efSearch):
        self.efSearch = int(efSearch)
        if self.index_ is not None:
            self.index_.hnsw.efSearch = self.efSearch

    def reset_counters(self):
        import faiss

        super().reset_counters()
        faiss.cvar.hnsw_stats.reset()

    def distance_count(self):
        import faiss

        return int(faiss.cvar.hnsw_stats.ndis)
