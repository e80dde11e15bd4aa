"""Fog: a Gaussian mixture matched to real data on five global statistics (the seed's cautionary baseline).

The fog shows why matching summary statistics is not enough: it agrees with real embeddings on intrinsic
dimension, isotropy, anisotropy and nearest-neighbour cosine, yet a k-NN two-sample test separates it from
real almost perfectly, and ANN indexes behave differently on it.
"""

import numpy as np
from tqdm.auto import tqdm

from ..io.arrays import unit_rows
from ..metrics.statistics import geometry_stats
from ..progress import stage
from .base import Generator, check_array, check_seed, normalize

STATS = ("twonn_id", "isoscore", "participation_ratio", "anisotropy", "nn_cosine")


class Fog(Generator):
    """Gaussian mixture in the real data's covariance eigenbasis, tuned to match its global statistics.

    With ``mu`` the mean of the unit rows and ``C = U diag(l) U^T`` their centred covariance, cluster centres
    are ``c_j = a mu + U (sqrt((1 - s) l) * g_j)`` and a point of cluster j is
    ``normalize(c_j + U (sqrt(s l) * z))``, ``g_j, z ~ N(0, I)``, clusters equally likely. The total
    covariance keeps real's spectrum; the three knobs, cluster count ``K``, within-cluster share of variance
    ``s`` and off-centre mean ``a``, are tuned by coordinate descent until the fog matches real on the
    TwoNN dimension, IsoScore, participation ratio, anisotropy and mean nearest-neighbour cosine, all
    measured at ``n_fit`` points.

    Parameters
    ----------
    n_clusters, spread, offset : float or None, default=None
        Fix a knob instead of tuning it.
    n_fit : int, default=5000
        Sample size at which statistics are matched (they depend on n).
    n_rounds : int, default=5
        Coordinate-descent rounds; each halves the search steps.
    random_state : int or None
    verbose : int, default=0
        Show a progress bar over the search.

    Attributes
    ----------
    centers_ : ndarray of shape (n_clusters_, n_features), float32
    transform_ : ndarray of shape (n_features, n_features), float32
        ``diag(sqrt(s l)) U^T``: a row vector ``z`` maps to ``z @ transform_``.
    knobs_ : dict
        The tuned ``n_clusters``, ``spread``, ``offset``.
    target_stats_, fog_stats_ : dict
        Real's statistics and the fog's at the chosen knobs, at ``n_fit`` points.
    match_error_ : float
        Largest relative difference between the two over the five statistics.
    """

    kind = "fog"

    def __init__(self, n_clusters=None, spread=None, offset=None, n_fit=5000, n_rounds=5, random_state=None,
                 verbose=0):
        self.n_clusters = n_clusters
        self.spread = spread
        self.offset = offset
        self.n_fit = n_fit
        self.n_rounds = n_rounds
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y=None):
        """Measure real's statistics and tune the knobs until the fog matches them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        self
        """
        X = unit_rows(X, min_rows=20)
        stage("fog: matching statistics")
        seed = check_seed(self.random_state)
        n, d = X.shape
        m = min(self.n_fit, n)
        sub = X[np.random.default_rng([seed, 0]).choice(n, size=m, replace=False)] if m < n else X
        target = geometry_stats(sub)
        mu = X.mean(axis=0, dtype=np.float64)
        lam, U = np.linalg.eigh(np.cov(X, rowvar=False, dtype=np.float64))
        lam, U = np.clip(lam[::-1], 0, None), U[:, ::-1]
        # common random numbers: every candidate uses the same centre and point draws
        k_max = max(m // 2, 1)
        G = np.random.default_rng([seed, 1]).standard_normal((k_max, d))
        erng = np.random.default_rng([seed, 2])
        Z, labels_u = erng.standard_normal((m, d)), erng.random(m)

        def build(k, s, a):
            k = int(np.clip(round(k), 1, k_max))
            centers = a * mu + (G[:k] * np.sqrt((1 - s) * lam)) @ U.T
            transform = (np.sqrt(s * lam)[:, None] * U.T)
            return centers, transform

        def evaluate(knobs):
            centers, transform = build(*knobs)
            labels = (labels_u * len(centers)).astype(np.int64)
            Y = normalize((centers[labels] + Z @ transform).astype(np.float32))
            stats = geometry_stats(Y)
            errors = [(stats[s] - target[s]) / abs(target[s]) for s in STATS]
            return float(np.sum(np.square(errors))), stats, float(np.max(np.abs(errors)))

        knobs = [self.n_clusters or max(m / 20, 1), self.spread or 0.3,
                 self.offset if self.offset is not None else 1.0]
        free = [self.n_clusters is None, self.spread is None, self.offset is None]
        # log-scale steps for count and share, additive for the offset; bounds keep the mixture valid
        steps = [2.0, 2.0, 0.4]
        bounds = [(1, k_max), (1e-3, 1.0), (0.0, 5.0)]
        cache = {}

        def loss(kn):
            key = (int(np.clip(round(kn[0]), 1, k_max)), round(kn[1], 6), round(kn[2], 6))
            if key not in cache:
                cache[key] = evaluate(key)
            return cache[key][0], key

        best, best_key = loss(knobs)
        bar = tqdm(total=self.n_rounds * sum(free), desc="fog: matching statistics", disable=not self.verbose,
                   leave=False)
        for _ in range(self.n_rounds):
            for i in np.flatnonzero(free):
                for t in (-3, -2, -1, 1, 2, 3):
                    cand = list(best_key)
                    cand[i] = knobs[i] * steps[i] ** t if i < 2 else knobs[i] + steps[i] * t
                    cand[i] = float(np.clip(cand[i], *bounds[i]))
                    value, key = loss(cand)
                    if value < best:
                        best, best_key = value, key
                knobs = list(best_key)
                bar.update()
            steps = [np.sqrt(steps[0]), np.sqrt(steps[1]), steps[2] / 2]
        bar.close()
        _, fog_stats, max_err = cache[best_key]
        centers, transform = build(*best_key)
        self.centers_ = centers.astype(np.float32)
        self.transform_ = transform.astype(np.float32)
        self.knobs_ = {"n_clusters": best_key[0], "spread": best_key[1], "offset": best_key[2]}
        self.target_stats_, self.fog_stats_, self.match_error_ = target, fog_stats, max_err
        self.dim_ = d
        return self

    def _sample_block(self, m, rng):
        labels = rng.integers(len(self.centers_), size=m)
        Y = rng.standard_normal((m, self.dim_), dtype=np.float32) @ self.transform_
        Y += self.centers_[labels]
        return normalize(Y)

    def _arrays(self):
        return {"centers": self.centers_, "transform": self.transform_}

    def _set_arrays(self, a):
        K, d = check_array(a, "centers", (None, None)).shape
        if K < 1 or d < 2:
            raise ValueError(f"array 'centers' has shape {(K, d)}: no cluster or fewer than 2 dimensions")
        check_array(a, "transform", (d, d))
        self.centers_, self.transform_ = a["centers"], a["transform"]
        self.dim_ = self.centers_.shape[1]
