"""PatchPCA: a mixture of local probabilistic-PCA patches on the unit sphere."""

import faiss
import numpy as np
from tqdm.auto import tqdm

from ..arrays import unit_rows
from ..errors import SynthError
from .base import Generator, check_seed, normalize


def spherical_kmeans(X, n_clusters, n_iter, seed):
    """Centroids (unit rows) and hard labels of spherical k-means (faiss, seeded, deterministic)."""
    km = faiss.Kmeans(X.shape[1], n_clusters, niter=n_iter, seed=seed % (2**31), spherical=True,
                      max_points_per_centroid=512, min_points_per_centroid=1, verbose=False)
    km.train(X)
    return km.centroids.copy()


def nearest(X, centroids):
    """Index of the nearest centroid by inner product, per row of X."""
    index = faiss.IndexFlatIP(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    return index.search(X, 1)[1][:, 0]


def sign_flip(V):
    """Make the largest-magnitude entry of each row positive (as sklearn's svd_flip), so bases are unique."""
    signs = np.sign(V[np.arange(len(V)), np.argmax(np.abs(V), axis=1)])
    signs[signs == 0] = 1
    return V * signs[:, None]


class PatchPCA(Generator):
    """A mixture of local PCA patches, sampled on the unit sphere.

    Spherical k-means cuts the data into patches; each patch keeps its weight, its mean ``m``, its top
    principal directions ``V`` with variances ``l`` and the mean variance ``s2`` of the remaining directions,
    as in probabilistic PCA (Tipping & Bishop 1999). A sample picks a patch by weight and returns
    ``normalize(m + V sqrt(l - s2) z + sqrt(s2) e)`` with ``z``, ``e`` standard normal, so the patch
    covariance is reproduced exactly in the kept directions and on average in the rest.

    Parameters
    ----------
    n_patches : int, default=120
        Number of k-means patches before small ones are dropped.
    rank : int, default=48
        Principal directions kept per patch (fewer where a patch has fewer points).
    min_points : int, default=20
        No patch summarises fewer points: smaller patches are dropped and their points reassigned to the
        nearest remaining patch. Never below 10 (privacy bound).
    n_iter : int, default=25
        k-means iterations.
    random_state : int or None
        Seed of k-means.
    verbose : int, default=0
        Show a progress bar over patches.

    Attributes
    ----------
    weights_ : ndarray of shape (n_patches_,)
    counts_ : ndarray of shape (n_patches_,)
        Training points summarised by each patch.
    means_ : ndarray of shape (n_patches_, n_features), float32
    components_ : ndarray of shape (n_patches_, rank, n_features), float16
        Unit principal directions, zero rows beyond a patch's rank.
    variances_ : ndarray of shape (n_patches_, rank), float32
    noise_variance_ : ndarray of shape (n_patches_,), float32
    """

    kind = "patch"

    def __init__(self, n_patches=120, rank=48, min_points=20, n_iter=25, random_state=None, verbose=0):
        self.n_patches = n_patches
        self.rank = rank
        self.min_points = min_points
        self.n_iter = n_iter
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y=None):
        """Fit patches to unit vectors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows are L2-normalized here if they are not already.

        Returns
        -------
        self
        """
        if self.min_points < 10:
            raise SynthError(f"min_points={self.min_points}: no patch may summarise fewer than 10 points")
        if self.n_patches < 1 or self.rank < 0:
            raise SynthError("n_patches must be >= 1 and rank >= 0")
        X = unit_rows(X, min_rows=2 * self.min_points)
        n, d = X.shape
        seed = check_seed(self.random_state)
        k = int(min(self.n_patches, n // self.min_points))
        centroids = spherical_kmeans(X, k, self.n_iter, seed)
        labels = nearest(X, centroids)
        counts = np.bincount(labels, minlength=k)
        keep = counts >= self.min_points
        if not keep.all():  # reassigning only adds points to kept patches, so one pass suffices
            centroids = centroids[keep]
            labels = nearest(X, centroids)
            counts = np.bincount(labels, minlength=len(centroids))
        rank = int(min(self.rank, d))
        order = np.argsort(labels, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(counts)])
        K = len(counts)
        means = np.zeros((K, d), np.float32)
        comps = np.zeros((K, rank, d), np.float16)
        variances = np.zeros((K, rank), np.float32)
        noise = np.zeros(K, np.float32)
        for j in tqdm(range(K), desc="patches", disable=not self.verbose, leave=False):
            P = X[order[bounds[j]:bounds[j + 1]]].astype(np.float64)
            m = P.mean(axis=0)
            _, S, Vt = np.linalg.svd(P - m, full_matrices=False)
            var = S**2 / (len(P) - 1)
            r = min(rank, len(P) - 1)
            means[j] = m
            comps[j, :r] = sign_flip(Vt[:r])
            variances[j, :r] = var[:r]
            noise[j] = max(var.sum() - var[:r].sum(), 0.0) / (d - r) if d > r else 0.0
        # canonical patch order: most points first, ties broken by the mean's coordinates
        perm = np.lexsort(means.T[::-1].tolist() + [-counts]) if K > 1 else np.arange(K)
        self.counts_ = counts[perm].astype(np.int64)
        self.weights_ = self.counts_ / self.counts_.sum()
        self.means_, self.components_ = means[perm], comps[perm]
        self.variances_, self.noise_variance_ = variances[perm], noise[perm]
        self.dim_ = d
        self._cache = None
        return self

    @property
    def n_patches_(self):
        return len(self.weights_)

    def _factors(self):
        """Per patch the (rank, d) float32 matrix V^T sqrt(l - s2), computed once per fitted state."""
        if getattr(self, "_cache", None) is None:
            scale = np.sqrt(np.maximum(self.variances_ - self.noise_variance_[:, None], 0.0))
            self._cache = (self.components_.astype(np.float32) * scale[:, :, None],
                           np.sqrt(self.noise_variance_).astype(np.float32))
        return self._cache

    def _sample_block(self, m, rng):
        factors, sigma = self._factors()
        labels = rng.choice(len(self.weights_), size=m, p=self.weights_)
        Y = rng.standard_normal((m, self.dim_), dtype=np.float32)
        Y *= sigma[labels, None]
        Y += self.means_[labels]
        order = np.argsort(labels, kind="stable")
        counts = np.bincount(labels, minlength=len(self.weights_))
        pos = 0
        for j in np.flatnonzero(counts):
            rows = order[pos:pos + counts[j]]
            pos += counts[j]
            z = rng.standard_normal((len(rows), factors.shape[1]), dtype=np.float32)
            Y[rows] += z @ factors[j]
        return normalize(Y)

    def _arrays(self):
        return {"counts": self.counts_, "means": self.means_, "components": self.components_,
                "variances": self.variances_, "noise_variance": self.noise_variance_}

    def _set_arrays(self, a):
        self.counts_ = a["counts"].astype(np.int64)
        self.weights_ = self.counts_ / self.counts_.sum()
        self.means_, self.components_ = a["means"], a["components"]
        self.variances_, self.noise_variance_ = a["variances"], a["noise_variance"]
        self.dim_ = self.means_.shape[1]
        self._cache = None
