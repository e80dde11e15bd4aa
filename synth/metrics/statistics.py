"""Geometry statistics of an embedding set: intrinsic dimension, isotropy, neighbour structure.

All statistics are meant for L2-normalized rows (``geometry_stats`` normalizes first) and should be
compared only at equal ``n``: TwoNN, nearest-neighbour cosine and hubness all move with sample size.
"""

import numpy as np
from scipy.stats import skew
from threadpoolctl import threadpool_limits

from synth.errors import SynthError
from synth.io.arrays import check_rows, unit_rows
from synth.metrics.neighbors import knn
from synth.progress import show_bars

# Rows per block when a full float64 copy of X would be too large to hold.
_BLOCK = 4096
# Neighbour candidates per point for TwoNN: more than 2 so float32 near-ties are re-ranked exactly.
_TWONN_CANDIDATES = 4


def _check_rows(X, min_rows=2):
    X = check_rows(X, min_rows)
    if not np.isfinite(X).all():
        raise SynthError("data contains NaN or infinity")
    return X


def _as_unit(X):
    """The rows of X scaled to unit L2 norm, as C-contiguous float32 (no copy if already so)."""
    return unit_rows(X, min_rows=2)


def twonn_dimension(X, discard_fraction=0.1):
    """Intrinsic dimension by TwoNN (Facco et al. 2017), linear-fit form.

    For each point, mu = r2 / r1 with r1, r2 the Euclidean distances to its first and second
    nearest neighbours. Under a locally uniform density mu ~ Pareto(1, d), so
    -log(1 - F(mu)) = d log(mu). With mu sorted ascending, F_i = i / N over all N ratios,
    the largest ``discard_fraction`` of the ratios dropped, the estimate is the least-squares
    slope through the origin::

        d = sum_i x_i y_i / sum_i x_i^2,   x_i = log mu_(i),  y_i = -log(1 - i / N).

    Exact duplicate rows are removed first (their r1 = 0 leaves mu undefined). On duplicate-free
    data this equals ``skdim.id.TwoNN(discard_fraction, method='linear')``; neighbours come from
    an exact faiss search and the candidates' distances are recomputed in float64.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points; Euclidean distances are used as given (normalize rows first for embeddings).
    discard_fraction : float, default=0.1
        Share of the largest ratios left out of the fit.

    Returns
    -------
    float
        The estimated intrinsic dimension.

    References
    ----------
    E. Facco, M. d'Errico, A. Rodriguez, A. Laio, "Estimating the intrinsic dimension of
    datasets by a minimal neighborhood information", Sci. Rep. 7:12140 (2017).
    """
    X = np.unique(_check_rows(X, min_rows=3), axis=0)
    if len(X) < 3:
        raise SynthError(f"need at least 3 distinct rows, got {len(X)}")
    _, cand = knn(X, k=min(_TWONN_CANDIDATES, len(X) - 1), exclude_self=True, metric="l2")
    return _twonn_from_candidates(X, cand, discard_fraction)


def _twonn_from_candidates(X, cand, discard_fraction=0.1):
    """TwoNN on distinct rows X, given each row's nearest-neighbour candidates (self excluded)."""
    # float32 search distances lose digits to cancellation; measure the candidates exactly in
    # float64 and re-sort, so a near-tie cannot swap the first two neighbours.
    r = np.empty(cand.shape)
    for s in range(0, len(X), _BLOCK):
        rows = X[s : s + _BLOCK].astype(np.float64)
        diff = X[cand[s : s + _BLOCK]].astype(np.float64) - rows[:, None, :]
        r[s : s + _BLOCK] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    r.sort(axis=1)

    # Distinct rows cannot be at float64 distance 0 unless the difference underflows;
    # drop any such point rather than return inf.
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = r[:, 1] / r[:, 0]
    mu = np.sort(mu[np.isfinite(mu)])
    n_total = len(mu)
    n_keep = int(n_total * (1 - discard_fraction))
    if n_keep < 2:
        raise SynthError(f"only {n_keep} ratios left after discarding; need at least 2")
    x = np.log(mu[:n_keep])
    y = -np.log(1 - np.arange(1, n_keep + 1) / n_total)
    return float(x @ y / (x @ x))


def _pca_variances(X):
    """Eigenvalues (descending, length n_features) of the centred covariance of X, in float64."""
    X = _check_rows(X)
    n, d = X.shape
    mean = X.mean(axis=0, dtype=np.float64)
    if n < d:
        # Xc Xc^T shares the nonzero eigenvalues of Xc^T Xc and is the smaller matrix here.
        Xc = X - mean
        gram = Xc @ Xc.T
    else:
        gram = np.zeros((d, d))
        for s in range(0, n, _BLOCK):
            B = X[s : s + _BLOCK] - mean
            gram += B.T @ B
    # A threaded LAPACK eigensolver on a matrix this small spends its time synchronizing
    # (seconds instead of milliseconds on 2 cores); one thread is faster.
    with threadpool_limits(limits=1, user_api="blas"):
        eig = np.linalg.eigvalsh(gram)
    eig = np.clip(eig[::-1], 0.0, None) / (n - 1)
    if eig.sum() == 0:
        raise SynthError("all rows are identical: the covariance is zero")
    return np.pad(eig, (0, d - len(eig)))


def _participation_ratio(eig):
    return float(eig.sum() ** 2 / (eig @ eig))


def _isoscore(eig):
    d = len(eig)
    if d < 2:
        raise SynthError("IsoScore needs at least 2 features")
    s = np.sqrt(d) * eig / np.linalg.norm(eig)
    delta = np.linalg.norm(s - 1) / np.sqrt(2 * (d - np.sqrt(d)))
    k = (d - delta**2 * (d - np.sqrt(d))) ** 2 / d
    return float((k - 1) / (d - 1))


def participation_ratio(X):
    """Participation ratio of the centred covariance: (sum l)^2 / sum l^2.

    Ranges from 1 (one direction carries all variance) to n_features (isotropic).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    float

    References
    ----------
    P. Gao, E. Trautmann, B. Yu et al., "A theory of multineuronal dimensionality, dynamics and
    measurement", bioRxiv 214262 (2017).
    """
    return _participation_ratio(_pca_variances(X))


def isoscore(X):
    """IsoScore (Rudman et al. 2022): how uniformly variance spreads over the d dimensions.

    With l the d PCA variances (eigenvalues of the centred covariance)::

        s = sqrt(d) l / ||l||,   delta = ||s - 1|| / sqrt(2 (d - sqrt d)),
        k = (d - delta^2 (d - sqrt d))^2 / d,   IsoScore = (k - 1) / (d - 1).

    Algebraically k equals the participation ratio, so IsoScore = (PR - 1) / (d - 1):
    1 for isotropic data, 0 when one direction carries all variance.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    float

    References
    ----------
    W. Rudman, N. Gillman, T. Rayne, C. Eickhoff, "IsoScore: Measuring the Uniformity of
    Embedding Space Utilization", Findings of ACL 2022.
    """
    return _isoscore(_pca_variances(X))


def anisotropy(X):
    """Mean cosine similarity over all ordered pairs i != j (Ethayarajh 2019), exactly in O(nd).

    With unit rows u_i, sum_{i != j} u_i.u_j = ||sum_i u_i||^2 - sum_i ||u_i||^2, so::

        anisotropy = (||sum_i u_i||^2 - sum_i ||u_i||^2) / (n (n - 1)).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Rows are normalized to unit length first.

    Returns
    -------
    float
        About 0 for directions spread over the sphere, 1 when all rows point the same way.

    References
    ----------
    K. Ethayarajh, "How Contextual are Contextualized Word Representations?", EMNLP 2019.
    """
    U = _as_unit(X)
    total = U.sum(axis=0, dtype=np.float64)
    sq_norms = np.einsum("ij,ij->", U, U, dtype=np.float64)
    n = len(U)
    return float((total @ total - sq_norms) / (n * (n - 1)))


def nn_cosine(X):
    """Mean over points of the cosine to their nearest other point.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Rows are normalized to unit length first.

    Returns
    -------
    float
        mean_i max_{j != i} cos(x_i, x_j); exact duplicates count (cosine 1).
    """
    sims, _ = knn(_as_unit(X), k=1, exclude_self=True)
    return float(sims.mean(dtype=np.float64))


def hubness(X, k=10):
    """Skewness of the k-occurrence distribution (Radovanovic et al. 2010).

    N_k(x) = number of points whose k nearest neighbours (cosine, self excluded) include x;
    hubness = E[(N_k - k)^3] / std(N_k)^3 (the mean of N_k is k). Large positive values mean a
    few hubs appear in many neighbour lists.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Rows are normalized to unit length first.
    k : int, default=10

    Returns
    -------
    float

    References
    ----------
    M. Radovanovic, A. Nanopoulos, M. Ivanovic, "Hubs in Space: Popular Nearest Neighbors in
    High-Dimensional Data", JMLR 11:2487-2531 (2010).
    """
    U = _as_unit(X)
    _, ids = knn(U, k=k, exclude_self=True)
    return float(skew(np.bincount(ids.ravel(), minlength=len(U))))


def geometry_stats(X, n=None, random_state=None):
    """The geometry summary reported for a real or synthetic set, on the same rows.

    Rows are normalized to unit length (a float32 copy) before any statistic.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n : int, optional
        Use a random subset of ``n`` rows (without replacement) when ``n < n_samples``.
    random_state : int, numpy.random.Generator or None
        Seed for the subset.

    Returns
    -------
    dict
        ``n`` (rows used), ``twonn_id``, ``isoscore``, ``participation_ratio``, ``anisotropy``,
        ``nn_cosine``; all Python numbers. IsoScore and the participation ratio carry the same
        information (IsoScore = (PR - 1) / (d - 1)).
    """
    X = _check_rows(X)
    if n is not None and n < len(X):
        rng = np.random.default_rng(random_state)
        X = X[rng.choice(len(X), size=n, replace=False)]
    U = _as_unit(X)
    eig = _pca_variances(U)
    # On unit rows the inner-product order is the Euclidean order, so one search serves both
    # the nearest-neighbour cosine and TwoNN (which needs distinct rows).
    sims, cand = knn(U, k=min(_TWONN_CANDIDATES, len(U) - 1), exclude_self=True,
                     progress=show_bars(command_only=True))
    if len(np.unique(U, axis=0)) == len(U):
        twonn = _twonn_from_candidates(U, cand)
    else:
        twonn = twonn_dimension(U)
    return {
        "n": int(len(U)),
        "twonn_id": twonn,
        "isoscore": _isoscore(eig),
        "participation_ratio": _participation_ratio(eig),
        "anisotropy": anisotropy(U),
        "nn_cosine": float(sims[:, 0].mean(dtype=np.float64)),
    }


def simplex_volumes(P):
    """Volumes of 4-simplices: V = sqrt(det(E^T E)) / 4!, E = [x1 - x0, .., x4 - x0].

    Parameters
    ----------
    P : array-like of shape (n_simplices, 5, n_features)
        The five vertices of each simplex.

    Returns
    -------
    ndarray of shape (n_simplices,), float64
    """
    P = np.asarray(P, dtype=np.float64)
    E = P[:, 1:] - P[:, :1]
    gram = np.einsum("tid,tjd->tij", E, E)
    det = np.linalg.det(gram)
    # det <= prod(diag) (Hadamard); far below it the value is rounding error of a flat simplex
    det[det <= 1e-12 * np.prod(np.diagonal(gram, axis1=1, axis2=2), axis=1)] = 0.0
    return np.sqrt(det) / 24.0


def cm_volume_cv(X, n_simplices=2000, random_state=0):
    """Coefficient of variation of 4-simplex volumes over random 5-point draws (seed 003).

    For each draw of 5 distinct rows x0..x4 (unit-normalized), E = [x1-x0, .., x4-x0] and::

        V = sqrt(det(E^T E)) / 4!,   CV = std(V) / mean(V)   over the T draws.

    This is the Cayley-Menger volume computed from the Gram matrix of the edges, which is better
    conditioned than the bordered distance determinant and gives the same value. Random points in
    high dimension give nearly equal volumes (small CV, concentration of measure); real embeddings,
    whose points crowd onto low-dimensional patches, give many flat simplices and a larger CV.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        At least 5 rows and 4 features. Rows are normalized to unit length first.
    n_simplices : int, default=2000
        T, the number of random draws (fixed so values are comparable).
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the draws.

    Returns
    -------
    float
        std / mean of the T volumes (population std); NaN if every volume is 0.
    """
    U = _as_unit(_check_rows(X, min_rows=5))
    if U.shape[1] < 4:
        raise SynthError(f"a 4-simplex needs at least 4 dimensions, got {U.shape[1]}")
    if n_simplices < 2:
        raise SynthError(f"n_simplices={n_simplices}: need at least 2 draws for a spread")
    rng = np.random.default_rng(random_state)
    idx = rng.integers(len(U), size=(n_simplices, 5))
    while True:  # redraw the draws that repeat a point; with n >= 5 this ends quickly
        s = np.sort(idx, axis=1)
        bad = (s[:, 1:] == s[:, :-1]).any(axis=1)
        if not bad.any():
            break
        idx[bad] = rng.integers(len(U), size=(int(bad.sum()), 5))
    vol = simplex_volumes(U[idx])
    mean = vol.mean()
    return float(vol.std() / mean) if mean > 0 else float("nan")


def truncate_dims(X, dims):
    """Matryoshka truncation: the first ``dims`` coordinates of each row, re-normalized to unit length.

    Models trained with Matryoshka representation learning (Kusupati et al., NeurIPS 2022) put the
    coarse information first, so a prefix is itself an embedding; for other models the prefix is an
    arbitrary coordinate subspace.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    dims : int
        Coordinates kept, 2 <= dims <= n_features.

    Returns
    -------
    ndarray of shape (n_samples, dims), float32, unit rows

    Raises
    ------
    SynthError
        If ``dims`` is out of range or a truncated row is all zeros.
    """
    X = _check_rows(X, min_rows=1)
    if not 2 <= dims <= X.shape[1]:
        raise SynthError(f"dims={dims} must be between 2 and the {X.shape[1]} dimensions of the data")
    return unit_rows(np.asarray(X[:, :dims]), min_rows=1)
