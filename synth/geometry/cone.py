"""The cone: the common direction sentence embeddings share, and what removing it (centering) changes.

Anisotropic embeddings occupy a narrow cone around one direction (Ethayarajh 2019). The cone axis here is
the top principal direction of the *uncentred* unit rows, i.e. the top eigenvector of the second-moment
matrix (1/n) X^T X, with its sign chosen to point towards the mean; for a narrow cone it is almost the mean
direction. Centering subtracts the corpus mean from every row before normalizing (Mu & Viswanath 2018,
"All-but-the-top").
"""

import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import SynthError
from ..io.arrays import unit_rows
from ..metrics.neighbors import knn
from ..metrics.statistics import anisotropy, hubness


def cone_axis(X):
    """The cone axis of a set of embeddings and how much of the set it carries.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Rows are normalized to unit length first.

    Returns
    -------
    axis : ndarray of shape (n_features,), float64, unit norm
        Top eigenvector of (1/n) U^T U, signed so that mean(U) . axis >= 0.
    info : dict
        ``axis_share``: the eigenvalue = mean squared cosine of the rows to the axis (1 if all rows lie
        on it, 1/d for an isotropic set); ``mean_cosine``: cosine between the axis and the mean row;
        ``mean_norm``: length of the mean row (sqrt of the anisotropy for large n).
    """
    U = unit_rows(X, min_rows=2)
    second = (U.T.astype(np.float64) @ U.astype(np.float64)) / len(U)
    # a threaded eigensolver on a matrix this small spends its time synchronizing (see synth.metrics.statistics)
    with threadpool_limits(limits=1, user_api="blas"):
        lam, V = np.linalg.eigh(second)
    axis = V[:, -1]
    mean = U.mean(axis=0, dtype=np.float64)
    if mean @ axis < 0:
        axis = -axis
    mean_norm = float(np.linalg.norm(mean))
    return axis, {"axis_share": float(lam[-1]),
                  "mean_cosine": float(mean @ axis / mean_norm) if mean_norm > 0 else 0.0,
                  "mean_norm": mean_norm}


def extreme_rows(X, axis, k=5):
    """Rows projecting highest and lowest on ``axis``.

    Returns
    -------
    top, bottom : list of (int, float)
        ``(row, cosine to the axis)``, highest first / lowest first.
    """
    proj = unit_rows(X) @ np.asarray(axis, dtype=np.float32)
    order = np.argsort(-proj, kind="stable")
    k = min(k, len(order))
    return ([(int(i), float(proj[i])) for i in order[:k]],
            [(int(i), float(proj[i])) for i in order[::-1][:k]])


def center(X, mean=None):
    """Subtract a corpus mean from every row and re-normalize.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Rows are normalized to unit length first.
    mean : array-like of shape (n_features,), optional
        The mean to remove; by default the mean of X's unit rows.

    Returns
    -------
    ndarray of shape (n_samples, n_features), float32, unit rows
    """
    U = unit_rows(X, min_rows=1)
    mean = U.mean(axis=0, dtype=np.float64) if mean is None else np.asarray(mean, dtype=np.float64)
    return unit_rows(U - mean.astype(np.float32), min_rows=1)


def centering_effect(X, n_queries=500, k=10, random_state=0):
    """What centering changes: anisotropy, hubness and the cosine neighbours a search returns.

    Retrieval effect, concretely: ``n_queries`` rows (chosen with the seed) are queries, the others the
    base. The mean is that of the base. For each query we take its exact top-k cosine neighbours in the raw
    base and in the centred base (query centred with the same mean); ``overlap_at_k`` is the mean share of
    the raw top-k found again in the centred top-k (1 = centering changes no result; it is also the recall
    of the raw top-k when searching centred vectors). A uniform shift cannot change a ranking only if the
    mean is zero, so the overlap falls as the cone narrows.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_queries : int, default=500
        Capped at a fifth of the rows.
    k : int, default=10
    random_state : int or None, default=0

    Returns
    -------
    dict
        ``anisotropy`` and ``hubness`` before and after (on all rows), ``overlap_at_k``, ``k``,
        ``n_queries``, ``n_base``.
    """
    U = unit_rows(X, min_rows=2 * (k + 1))
    n_q = max(1, min(n_queries, len(U) // 5))
    order = np.random.default_rng(random_state).permutation(len(U))
    Q, B = U[order[:n_q]], U[order[n_q:]]
    if len(B) < k:
        raise SynthError(f"{len(B)} base rows are fewer than k={k}")
    mean = B.mean(axis=0, dtype=np.float64)
    raw = knn(B, Q, k=k)[1]
    centred = knn(center(B, mean), center(Q, mean), k=k)[1]
    overlap = np.mean([len(np.intersect1d(a, b)) / k for a, b in zip(raw, centred)])
    C = center(U)
    return {"anisotropy_before": anisotropy(U), "anisotropy_after": anisotropy(C),
            "hubness_before": hubness(U, k=k), "hubness_after": hubness(C, k=k),
            "overlap_at_k": float(overlap), "k": k, "n_queries": int(n_q), "n_base": int(len(B))}


def compare_axes(X, Y):
    """How two embedding sets' cone axes relate.

    ``axis_cosine`` is the cosine between the two axes: meaningful only when both live in the same
    coordinates, e.g. a model and its fine-tuned version (None when the dimensions differ).
    ``projection_correlation`` needs the same texts in the same row order in both sets and works across
    dimensions: the Pearson correlation of each text's cosine to its set's axis (None otherwise).

    Parameters
    ----------
    X : array-like of shape (n_x, d_x)
    Y : array-like of shape (n_y, d_y)

    Returns
    -------
    dict
        ``axis_cosine``, ``projection_correlation``.
    """
    ax, _ = cone_axis(X)
    ay, _ = cone_axis(Y)
    cos = float(ax @ ay) if len(ax) == len(ay) else None
    corr = None
    if len(X) == len(Y):
        px, py = unit_rows(X) @ ax.astype(np.float32), unit_rows(Y) @ ay.astype(np.float32)
        corr = float(np.corrcoef(px, py)[0, 1])
    return {"axis_cosine": cos, "projection_correlation": corr}


def cone_report(sets, texts=None, n_extremes=5, n_queries=500, random_state=0):
    """The cone of one or two embedding sets: axis, extreme texts, centering, and the axes compared.

    Parameters
    ----------
    sets : dict of str to ndarray of shape (n_i, d_i)
        One or two named embedding sets.
    texts : list of str, optional
        The text of each row (for all sets with that many rows); rows are named by index otherwise.
    n_extremes : int, default=5
    n_queries : int, default=500
    random_state : int, default=0

    Returns
    -------
    dict
        ``sets``: per name ``n``, ``d``, the axis info (:func:`cone_axis`), ``highest`` / ``lowest``
        (``{"row", "cosine", "text"}``), ``centering`` (:func:`centering_effect`); with two sets,
        ``comparison`` (:func:`compare_axes`).
    """
    if not 1 <= len(sets) <= 2:
        raise SynthError(f"give one or two embedding sets, got {len(sets)}")
    out = {"sets": {}}
    for name, X in sets.items():
        axis, info = cone_axis(X)
        top, bottom = extreme_rows(X, axis, k=n_extremes)
        use_texts = texts is not None and len(texts) == len(X)

        def rows(pairs):
            return [{"row": i, "cosine": c, "text": texts[i] if use_texts else None} for i, c in pairs]

        out["sets"][name] = {"n": int(len(X)), "d": int(np.shape(X)[1]), **info, "highest": rows(top),
                             "lowest": rows(bottom),
                             "centering": centering_effect(X, n_queries=n_queries, random_state=random_state)}
    if len(sets) == 2:
        out["comparison"] = compare_axes(*sets.values())
    return out
