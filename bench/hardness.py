"""Per-query hardness: relative contrast and local intrinsic dimensionality (Aumueller & Ceccarello 2019)."""

import numpy as np


def _distances(sims):
    """Euclidean distances between unit vectors from their cosines: sqrt(2 - 2 cos)."""
    return np.sqrt(np.maximum(2.0 - 2.0 * np.asarray(sims, dtype=np.float64), 0.0))


def relative_contrast(base, queries, similarities, k=10, block=65536):
    """Relative contrast of each query: mean distance to the base over distance to the k-th neighbour.

    RC_k(q) = mean_x ||q - x|| / d_k(q). Near 1 the k-th neighbour is no closer than a random point: the
    query is hard for any index.

    Parameters
    ----------
    base : ndarray of shape (n, d), unit rows
    queries : ndarray of shape (n_queries, d), unit rows
    similarities : ndarray of shape (n_queries, depth)
        Exact neighbour cosines, descending (depth >= k).
    k : int, default=10

    Returns
    -------
    rc : ndarray of shape (n_queries,)
    """
    total = np.zeros(len(queries))
    for start in range(0, len(base), block):
        total += _distances(queries @ base[start:start + block].T).sum(axis=1)
    return total / len(base) / np.maximum(_distances(similarities[:, k - 1]), 1e-12)


def lid_mle(similarities, k=10):
    """Local intrinsic dimensionality of each query by maximum likelihood over its k nearest distances.

    LID(q) = -1 / ((1/k) sum_{i<=k} log(d_i / d_k))  (Levina & Bickel 2004; Amsaleg et al. 2015).

    Parameters
    ----------
    similarities : ndarray of shape (n_queries, depth)
        Exact neighbour cosines, descending (depth >= k).
    k : int, default=10

    Returns
    -------
    lid : ndarray of shape (n_queries,)
        ``inf`` where all k distances are equal.
    """
    return _lid(_distances(similarities[:, :k]))


def _lid(d):
    """The MLE of :func:`lid_mle` from each query's k nearest distances, ascending (shape (n_queries, k))."""
    d = np.maximum(d, 1e-12)
    mean_log = np.log(d / d[:, -1:]).mean(axis=1)
    with np.errstate(divide="ignore"):
        return -1.0 / mean_log


def summarize(values):
    """Median, mean and 10th/90th percentiles of finite values."""
    v = np.asarray(values)[np.isfinite(values)]
    return {"median": float(np.median(v)), "mean": float(v.mean()), "p10": float(np.percentile(v, 10)),
            "p90": float(np.percentile(v, 90))}


def _euclidean(corpus, k, block=65536):
    """Mean Euclidean distance of each query to the base, and to its k true neighbours (any metric)."""
    Q = corpus.queries.astype(np.float64)
    qq = (Q * Q).sum(axis=1)
    total = np.zeros(len(Q))
    for start in range(0, len(corpus.base), block):
        B = corpus.base[start:start + block].astype(np.float64)
        total += np.sqrt(np.maximum(qq[:, None] + (B * B).sum(axis=1)[None, :] - 2 * Q @ B.T, 0.0)).sum(axis=1)
    nb = corpus.base[corpus.neighbors[:, :k]].astype(np.float64) - Q[:, None, :]
    return total / len(corpus.base), np.sqrt((nb * nb).sum(axis=2))


def hardness(corpus, k=10):
    """Relative contrast and LID of a corpus's queries, per query and summarized.

    Cosine corpora: distances between unit rows from the cosines. Metric ip / l2 (``corpus.metric``): the
    Euclidean distances of the rows as given, to the metric's true neighbours."""
    if getattr(corpus, "metric", "cosine") != "cosine":
        mean, d = _euclidean(corpus, k)
        rc = mean / np.maximum(d[:, k - 1], 1e-12)
        lid = _lid(d)
        return {"k": k, "rc": summarize(rc), "lid": summarize(lid), "per_query": {"rc": rc, "lid": lid}}
    rc = relative_contrast(corpus.base, corpus.queries, corpus.similarities, k)
    lid = lid_mle(corpus.similarities, k)
    return {"k": k, "rc": summarize(rc), "lid": summarize(lid), "per_query": {"rc": rc, "lid": lid}}
