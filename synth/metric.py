"""The distance a corpus is searched by: ``cosine`` (unit rows), ``ip`` (inner product) or ``l2`` (Euclidean).

Cosine is the project's default: rows are normalized on input and every score is an inner product of unit
rows. With ``ip`` and ``l2`` rows keep their norms; the patch model models their directions as for cosine and,
per patch, the distribution of their norms (:func:`norm_table`). Ground truth and recall use the metric.
"""

import numpy as np

from .errors import SynthError

METRICS = ("cosine", "ip", "l2")
# the name of each metric in an ann-benchmarks HDF5 file's ``distance`` attribute
ANN_DISTANCE = {"cosine": "angular", "ip": "dot", "l2": "euclidean"}
NORM_QUANTILES = 33  # levels of a patch's norm table


def check_metric(metric):
    """Return ``metric`` if it is one of :data:`METRICS`, else raise a one-line :class:`SynthError`."""
    if metric not in METRICS:
        raise SynthError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    return metric


def metric_rows(X, metric, min_rows=1, path=None):
    """Rows for ``metric``: unit rows for cosine (:func:`synth.io.arrays.unit_rows`); for ip and l2 the rows as
    given, float32, after the same checks (:func:`synth.io.arrays.raw_rows`)."""
    from .io.arrays import raw_rows, unit_rows

    return unit_rows(X, min_rows, path) if check_metric(metric) == "cosine" else raw_rows(X, min_rows, path)


def metric_name(distance):
    """The metric of an ann-benchmarks ``distance`` attribute (angular, dot, euclidean), or None."""
    return {v: k for k, v in ANN_DISTANCE.items()}.get(distance)


def faiss_metric(metric):
    """The faiss metric constant: inner product for cosine (on unit rows) and ip, L2 for l2."""
    import faiss

    return faiss.METRIC_L2 if check_metric(metric) == "l2" else faiss.METRIC_INNER_PRODUCT


def scores_from_faiss(D, metric):
    """faiss distances as scores where larger is nearer: squared L2 distances are negated."""
    return -D if metric == "l2" else D


def ann_distances(scores, metric):
    """ann-benchmarks' ``distances`` from scores (larger is nearer): 1 - cosine (angular), the Euclidean
    distance (euclidean), minus the inner product (dot)."""
    scores = np.asarray(scores, dtype=np.float64)
    if metric == "l2":
        return np.sqrt(np.maximum(-scores, 0.0)).astype(np.float32)
    if metric == "ip":
        return (-scores).astype(np.float32)
    return (1.0 - scores).astype(np.float32)


def ann_scores(distances, metric):
    """Scores (larger is nearer) from ann-benchmarks' ``distances``: the inverse of :func:`ann_distances`."""
    if metric == "cosine":
        return 1.0 - np.asarray(distances, dtype=np.float32)
    d = np.asarray(distances, dtype=np.float64)
    return (-d * d if metric == "l2" else -d).astype(np.float32)


def norm_table(norms, min_points, levels=NORM_QUANTILES):
    """Smoothed quantiles of one patch's row norms: no stored value describes fewer than ``min_points`` rows.

    Level ``p`` (``levels`` of them, evenly from 0 to 1) is the mean of the ``min_points`` sorted norms
    centred on rank ``p (n - 1)`` (the window slid inside the range at both ends), so the table is
    non-decreasing and its ends are means of the smallest and largest ``min_points`` norms, never one row's.

    Parameters
    ----------
    norms : ndarray of shape (n,), n >= min_points
    min_points : int
    levels : int

    Returns
    -------
    table : ndarray of shape (levels,), float32
    """
    s = np.sort(np.asarray(norms, dtype=np.float64))
    n, m = len(s), int(min(min_points, len(s)))
    if n < 1:
        raise SynthError("a patch with no rows has no norm table")
    c = np.concatenate([[0.0], np.cumsum(s)])
    start = np.clip(np.round(np.linspace(0, 1, levels) * (n - 1) - (m - 1) / 2).astype(np.int64), 0, n - m)
    return ((c[start + m] - c[start]) / m).astype(np.float32)


def draw_norms(tables, labels, u):
    """Norms by inverse-CDF interpolation in each label's table, from uniforms ``u`` in [0, 1).

    Parameters
    ----------
    tables : ndarray of shape (n_patches, levels)
    labels : ndarray of shape (m,), int
    u : ndarray of shape (m,)

    Returns
    -------
    norms : ndarray of shape (m,), float32
    """
    levels = tables.shape[1]
    x = np.asarray(u, dtype=np.float64) * (levels - 1)
    i = np.minimum(x.astype(np.int64), levels - 2)
    t = x - i
    lo, hi = tables[labels, i].astype(np.float64), tables[labels, i + 1].astype(np.float64)
    return (lo + t * (hi - lo)).astype(np.float32)
