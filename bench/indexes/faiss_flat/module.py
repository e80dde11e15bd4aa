"""faiss IndexFlatIP: exhaustive search, the exact reference."""

from bench.indexes.base import FaissIndex


class FaissFlat(FaissIndex):
    """Exact inner-product search; every query computes all ``n`` distances."""

    def make(self, X):
        return self.flat(X.shape[1])

    def distance_count(self):
        return self.queries_ * self.n_
