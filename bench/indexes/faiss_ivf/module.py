"""faiss IndexIVFFlat: k-means inverted lists over full vectors (Jegou et al. 2011, TPAMI 33(1))."""

from bench.indexes.base import FaissIVF


class FaissIVFFlat(FaissIVF):
    """Inverted lists of full vectors behind a flat inner-product coarse quantizer.

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
        return self.seed(faiss.IndexIVFFlat(self.flat(d), d, self.nlist, self.faiss_metric()))
