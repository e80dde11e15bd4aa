"""Diagnostics that explain a search-cost gap between two corpora (REFERENCE "Search cost at equal recall").

The k-NN two-sample test is local: it can pass while a fake is much cheaper to search than real data.
What decides IVF's cost is how a query's true neighbours spread over the index's cells, and recall 0.95
is decided by the worst queries, so the cell figures are reported with their tail. Per corpus:

- relative contrast and LID of the queries (:func:`bench.hardness.hardness`);
- hubness of the base (:func:`synth.metrics.statistics.hubness`);
- over IVF-like cells (spherical k-means of the base, nlist = round(sqrt(n))), per query: the *own-cell
  share* of its k neighbours, the *cell spread* (distinct cells holding them) and the *cells to reach*
  ceil(0.9 k) of them when cells are probed in order of centroid similarity, as IVF probes them;
- the median cosine to neighbours 1, 10 and 100.
"""

import math

import numpy as np

from synth.metrics.searchcost import KMEANS_SEED, ivf_cells, probe_order  # noqa: F401 -- ivf_cells is part of this module's API
from synth.metrics.statistics import hubness

from .hardness import hardness

HUBNESS_ROWS = 10_000  # hubness needs a k-NN self-search of the base; beyond this a seeded subsample
REACH_SHARE = 0.9  # cells to reach 9 of 10 neighbours: the share recall 0.9-0.95 needs
NEIGHBOUR_RANKS = (1, 10, 100)


def cell_stats(queries, neighbors, centroids, assign, k=10, share=REACH_SHARE, metric="cosine"):
    """Per-query spread of the true neighbours over cells.

    Cells are ranked for each query by centroid cosine, best first (IVF's probe order); rank 0 is the
    query's own cell.

    Parameters
    ----------
    queries : ndarray of shape (n_queries, d), unit rows
    neighbors : ndarray of shape (n_queries, >= k), int
        Exact nearest base rows, best first.
    centroids : ndarray of shape (nlist, d)
    assign : ndarray of shape (n,), int
        Cell of each base row.
    k : int
    share : float
        Fraction of the k neighbours the probe must hold, rounded up (``ceil(0.9 * 10) = 9``).

    Returns
    -------
    dict of str to ndarray of shape (n_queries,)
        ``own_cell_share`` (fraction of the k neighbours in rank-0 cell), ``cell_spread`` (distinct cells
        holding them) and ``cells_to_reach`` (probed cells needed to hold ``ceil(share * k)`` of them).
    """
    cells = np.asarray(assign)[np.asarray(neighbors)[:, :k]]  # (n_queries, k)
    order = probe_order(queries, centroids, metric)  # largest inner product first (cosine, ip), nearest (l2)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(order.shape[1])[None, :], axis=1)
    probe_rank = np.sort(np.take_along_axis(rank, cells, axis=1), axis=1)
    need = math.ceil(share * k - 1e-9)
    spread = 1 + (np.diff(np.sort(cells, axis=1), axis=1) != 0).sum(axis=1)
    return {"own_cell_share": (probe_rank == 0).mean(axis=1), "cell_spread": spread,
            "cells_to_reach": probe_rank[:, need - 1] + 1}


def _summary(values, worst):
    """Median, mean and the worst 5% of queries: the 95th percentile, or the 5th when ``worst="low"``."""
    v = np.asarray(values, dtype=np.float64)
    return {"median": float(np.median(v)), "mean": float(v.mean()),
            "worst5": float(np.percentile(v, 5 if worst == "low" else 95))}


def mesoscale(corpus, k=10, nlist=None, random_state=KMEANS_SEED):
    """Cell diagnostics of one corpus, summarized over its queries.

    Parameters
    ----------
    corpus : bench.suites.Corpus
        Base, queries and exact ground truth (depth >= k).
    k : int
    nlist : int, optional
        Default ``round(sqrt(n))``.
    random_state : int
        k-means seed.

    Returns
    -------
    dict
        ``nlist``; ``own_cell_share``, ``cell_spread``, ``cells_to_reach``, each with ``median``,
        ``mean`` and ``worst5`` (5th percentile for the share, 95th for the counts); ``neighbor_cosine``:
        median cosine to neighbour 1, 10 and 100 (None beyond the ground truth's depth).
    """
    metric = getattr(corpus, "metric", "cosine")
    centroids, assign = ivf_cells(corpus.base, nlist, random_state, metric=metric)  # l2 / ip: Euclidean k-means
    per_query = cell_stats(corpus.queries, corpus.neighbors, centroids, assign, k, metric=metric)
    sims = corpus.similarities
    return {"nlist": len(centroids), "k": k, "reach_share": REACH_SHARE,
            **{name: _summary(v, "low" if name == "own_cell_share" else "high") for name, v in per_query.items()},
            "neighbor_cosine": {str(r): float(np.median(sims[:, r - 1])) if sims.shape[1] >= r else None
                                for r in NEIGHBOUR_RANKS}}


def diagnostics(corpus, k=10, random_state=0):
    """All per-corpus diagnostics of the cost board: hardness, hubness and mesoscale.

    Parameters
    ----------
    corpus : bench.suites.Corpus
    k : int
    random_state : int
        Seed of the hubness subsample (at most 10,000 base rows).

    Returns
    -------
    dict
        ``rc`` and ``lid`` (summaries of :func:`bench.hardness.hardness`), ``hubness`` and
        ``hubness_rows``, and the keys of :func:`mesoscale`.
    """
    base = corpus.base
    if len(base) > HUBNESS_ROWS:
        rows = np.sort(np.random.default_rng(random_state).choice(len(base), HUBNESS_ROWS, replace=False))
        base = base[rows]
    hard = hardness(corpus, k)
    return {"rc": hard["rc"], "lid": hard["lid"], "hubness": hubness(base, k=k), "hubness_rows": len(base),
            **mesoscale(corpus, k)}
