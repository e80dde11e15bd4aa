"""faiss IndexIVFPQ: inverted lists of product-quantized residuals (Jegou et al. 2011, TPAMI 33(1))."""

from bench.indexes.base import FaissIVF


class FaissIVFPQ(FaissIVF):
    """IVF with product-quantization codes, scanned by table look-up.

    Parameters
    ----------
    nlist : int
        Number of k-means lists ("auto": round(sqrt(n))).
    m : int
        Sub-quantizers, dividing d ("auto": the largest divisor of d that is <= d / 8).
    nbits : int
        Bits per sub-quantizer code.
    random_state : int
        Seed of the coarse and the product k-means.
    """

    def __init__(self, nlist, m, nbits=8, random_state=1234):
        super().__init__(nlist=nlist, m=m, nbits=nbits, random_state=random_state)
        self.m, self.nbits = int(m), int(nbits)

    @classmethod
    def auto(cls, param, n, d):
        if param == "m":
            return max(q for q in range(1, max(1, d // 8) + 1) if d % q == 0)
        return super().auto(param, n, d)

    @classmethod
    def unbuildable(cls, params, n, d):
        codes = 2 ** int(params["nbits"])
        if d % int(params["m"]):
            return f"m = {params['m']} does not divide the dimension {d}"
        if n < codes:  # each sub-quantizer's k-means trains 2^nbits centroids
            return f"nbits = {params['nbits']} needs at least {codes} base rows to train its codes, got {n}"
        return super().unbuildable(params, n, d)

    def make(self, X):
        import faiss

        d = X.shape[1]
        return self.seed(faiss.IndexIVFPQ(self.flat(d), d, self.nlist, self.m, self.nbits, self.faiss_metric()))
