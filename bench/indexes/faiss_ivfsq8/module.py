"""faiss IndexIVFScalarQuantizer with 8-bit per-dimension codes."""

from bench.indexes.base import FaissIVF


class FaissIVFSQ8(FaissIVF):
    """IVF with 8-bit scalar-quantized vectors.

    Parameters
    ----------
    nlist : int
        Number of k-means lists ("auto": round(sqrt(n))).
    random_state : int
        k-means seed.
    """

    def make(self, X):
        import faiss

        d = X.shape[1]
        return self.seed(faiss.IndexIVFScalarQuantizer(self.flat(d), d, self.nlist,
                                                       faiss.ScalarQuantizer.QT_8bit, self.faiss_metric()))
