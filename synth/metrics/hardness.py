"""Per-query hardness: relative contrast and local intrinsic dimensionality (Aumueller & Ceccarello 2019),
and query sets of chosen hardness (REFERENCE, Geometry statistics: "Relative contrast / LID of queries").

A query set of chosen hardness is a band of difficulty ranks among model queries: ``hard`` is the third of
``3 * n_queries`` candidate queries with the lowest relative contrast against the corpus, ``easy`` the third
with the highest, ``medium`` the middle one; ``LO-HI`` (percent) is any band, ``90-100`` the hardest tenth.
Relative contrast orders search cost: the hardest third of held-out real queries costs IVF and HNSW several
times what the easiest third does (docs/workloads.md).
"""

import math
from fractions import Fraction

import numpy as np

from ..errors import SynthError

# named bands of difficulty rank (0 = the easiest candidate, 1 = the hardest)
BANDS = {"easy": (Fraction(0), Fraction(1, 3)), "medium": (Fraction(1, 3), Fraction(2, 3)),
         "hard": (Fraction(2, 3), Fraction(1))}
REFERENCE_ROWS = 10_000  # corpus rows the mean distance of a candidate is taken over


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
    return mean_distance(queries, base, block=block) / np.maximum(_distances(similarities[:, k - 1]), 1e-12)


def mean_distance(queries, rows, metric="cosine", block=65536):
    """Mean Euclidean distance of each query to ``rows``: from cosines for unit rows (``metric`` "cosine"),
    from the rows as given otherwise."""
    Q = np.asarray(queries, dtype=np.float64)
    qq = (Q * Q).sum(axis=1)
    total = np.zeros(len(Q))
    for start in range(0, len(rows), block):
        B = np.asarray(rows[start:start + block], dtype=np.float64)
        if metric == "cosine":
            total += _distances(Q @ B.T).sum(axis=1)
        else:
            total += np.sqrt(np.maximum(qq[:, None] + (B * B).sum(axis=1)[None, :] - 2 * Q @ B.T, 0.0)).sum(axis=1)
    return total / len(rows)


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
    return lid_from_distances(_distances(similarities[:, :k]))


def lid_from_distances(d):
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


def parse_band(text):
    """``easy``, ``medium``, ``hard`` or ``LO-HI`` (percent of difficulty rank, 0 = easiest) -> (name, lo, hi),
    ``lo`` and ``hi`` exact fractions of 1."""
    name = str(text).strip().lower()
    if name in BANDS:
        return (name, *BANDS[name])
    lo, sep, hi = name.partition("-")
    try:
        lo, hi = Fraction(lo) / 100, Fraction(hi) / 100
    except (ValueError, ZeroDivisionError):
        lo = hi = None
    if not sep or lo is None or not 0 <= lo < hi <= 1:
        raise SynthError(f"query hardness must be easy, medium, hard or a band LO-HI of percent of difficulty "
                         f"rank with 0 <= LO < HI <= 100 (e.g. 90-100, the hardest tenth), got {text!r}")
    return name, lo, hi


def candidate_count(n_queries, band):
    """Candidate queries to draw so that ``band`` (from :func:`parse_band`) holds ``n_queries`` of them."""
    _, lo, hi = band
    return math.ceil(n_queries / (hi - lo))


def kth_distance(scores, metric="cosine"):
    """Distance of each query to its last (k-th) true neighbour, from the ground truth's scores (cosines;
    minus squared distances for ``l2``). ``ip`` scores are not distances: refused."""
    check_rankable(metric)
    last = np.asarray(scores, dtype=np.float64)[:, -1]
    return _distances(last) if metric == "cosine" else np.sqrt(np.maximum(-last, 0.0))


def check_rankable(metric):
    """Refuse a metric whose ground-truth scores are not distances (``ip``): relative contrast needs them."""
    if metric not in ("cosine", "l2"):
        raise SynthError("queries of chosen hardness are ranked by distances (relative contrast); a model fitted "
                         f"with --metric {metric} ranks by inner product, which is no distance (fit with cosine or l2)")


def select_band(queries, scores, reference, n_queries, band, metric="cosine"):
    """The candidates of a band of difficulty rank, by relative contrast at k = the ground truth's depth.

    RC(q) = mean distance of q to ``reference`` (corpus rows) / distance to its k-th true neighbour. The
    candidates are ranked from the easiest (largest RC; ties by candidate order) to the hardest, and the
    ``n_queries`` of ranks ``floor(lo * C)`` on (C candidates; the band's end is clipped to C) are kept, in
    candidate order.

    Parameters
    ----------
    queries : ndarray of shape (C, d)
        Candidate queries.
    scores : ndarray of shape (C, k)
        Their exact neighbour scores, nearest first.
    reference : ndarray of shape (m, d)
        Corpus rows for the mean distance (the first ``REFERENCE_ROWS``: rows are i.i.d., so any m of them
        estimate the mean over the corpus).
    n_queries : int
    band : tuple
        From :func:`parse_band`.
    metric : {"cosine", "l2"}

    Returns
    -------
    keep : ndarray of int64
        Indices of the kept candidates, ascending.
    report : dict
        ``band``, ``ranks_percent`` ([lo, hi]), ``k``, ``candidates``, ``reference_rows``, and the RC summaries
        ``rc`` (kept) and ``rc_candidates`` (all).
    """
    name, lo, hi = band
    C = len(queries)
    rc = mean_distance(queries, reference, metric) / np.maximum(kth_distance(scores, metric), 1e-12)
    order = np.lexsort((np.arange(C), -rc))  # the easiest first
    start = min(math.floor(lo * C), C - n_queries)
    keep = np.sort(order[start:start + n_queries])
    report = {"band": name, "ranks_percent": [float(lo * 100), float(hi * 100)], "k": int(scores.shape[1]),
              "candidates": C, "reference_rows": len(reference), "rc": summarize(rc[keep]),
              "rc_candidates": summarize(rc)}
    return keep, report
