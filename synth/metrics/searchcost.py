"""Search cost at equal recall, measured at fit time on training rows alone (REFERENCE "Search cost at
equal recall").

The cost of searching *real* data does not depend on which real rows are searched: a base of training
rows costs what a base of held-out rows costs (at recall 0.95 and n = 9,500 from N = 10,000 on four
corpora, fake / real ratios against the one and the other agree within 0.05 for IVF and 0.07 for HNSW;
docs/cost/README.md). So a fit can compare its own fakes with
its training rows and learn, without held-out data, how much cheaper or dearer the fakes are to search.
Two index families are simulated with faiss on one thread (the result does not depend on the thread
count):

- **IVF**: the cells are a spherical k-means of the base (``nlist = round(sqrt(n))``) and every query
  probes cells in order of centroid similarity, as ``IndexIVFFlat`` does. The recall of each ``nprobe``
  is computed exactly from the cells holding the true neighbours; the cost is ``nlist`` coarse distances
  plus the rows of the probed cells, interpolated linearly in recall between consecutive ``nprobe``.
- **HNSW**: ``IndexHNSWFlat`` (M = 16, efConstruction = 200, as the bench plug-in) swept over ``efSearch``; the cost is faiss's
  own distance counter, interpolated linearly in recall on the curve's frontier.
"""

import math
from contextlib import contextmanager

import faiss
import numpy as np

KMEANS_SEED = 1234  # the IVF plug-ins' k-means seed
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200  # the bench plug-in's (64 builds twice as fast but lowers fake / real by 0.07-0.09)
EF_SEARCH = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


@contextmanager
def faiss_single_thread():
    """Run faiss on one OpenMP thread, restoring the previous setting afterwards."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def _rows(X):
    return np.ascontiguousarray(X, dtype=np.float32)


def ivf_cells(base, nlist=None, random_state=KMEANS_SEED, metric="cosine"):
    """Spherical k-means cells of a base, as an IVF index with a flat inner-product quantizer builds them.

    ``metric`` "l2" or "ip": plain (Euclidean) k-means, as faiss trains an IVF index's quantizer under
    METRIC_L2 or METRIC_INNER_PRODUCT; each row goes to its nearest centroid (l2) or the one of largest inner
    product (ip).

    Parameters
    ----------
    base : ndarray of shape (n, d), unit rows
    nlist : int, optional
        Number of cells; default ``round(sqrt(n))``, the IVF plug-ins' ``nlist: auto``.
    random_state : int
        k-means seed. k-means runs on one thread so that the cells do not depend on the thread count.

    Returns
    -------
    centroids : ndarray of shape (nlist, d), unit rows
    assign : ndarray of shape (n,), int64
        The cell of each base row: its most similar centroid.
    """
    base = _rows(base)
    nlist = max(1, int(round(math.sqrt(len(base))))) if nlist is None else int(nlist)
    with faiss_single_thread():
        km = faiss.Kmeans(base.shape[1], nlist, niter=20, spherical=metric == "cosine", seed=int(random_state),
                          verbose=False)
        km.train(base)
        if metric == "ip":
            _, assign = faiss.knn(base, km.centroids, 1, metric=faiss.METRIC_INNER_PRODUCT)
        else:
            _, assign = km.index.search(base, 1)
    return km.centroids.copy(), assign[:, 0].astype(np.int64)


def probe_order(queries, centroids, metric="cosine"):
    """Each query's cells in IVF probe order: largest inner product first (cosine, ip), nearest first (l2)."""
    q, c = _rows(queries), _rows(centroids)
    s = q @ c.T
    if metric == "l2":  # minus the squared distance, up to the query's own norm
        s = 2 * s - (c * c).sum(axis=1)[None, :]
    return np.argsort(-s, axis=1, kind="stable")


def cost_at_recall(recalls, costs, target):
    """Cost at ``target`` recall on a sweep: over the frontier (points that reach more recall than every
    cheaper one), linear between the first point reaching it and the one before; None when none reaches it.
    Shared with :func:`bench.runner.cost_at_target`."""
    recalls, costs = np.asarray(recalls, np.float64), np.asarray(costs, np.float64)
    frontier = [i for i in range(len(recalls)) if i == 0 or recalls[i] > recalls[:i].max()]
    above = [j for j, i in enumerate(frontier) if recalls[i] >= target - 1e-12]
    if not above:
        return None
    hi = frontier[above[0]]
    if above[0] == 0:
        return float(costs[hi])
    lo = frontier[above[0] - 1]
    frac = (target - recalls[lo]) / (recalls[hi] - recalls[lo])
    return float(costs[lo] + frac * (costs[hi] - costs[lo]))


def ivf_probes(cells, queries, neighbors, metric="cosine", allowed=None):
    """Where each query finds its true neighbours in an IVF index of ``cells`` (from :func:`ivf_cells`).

    ``allowed`` (a mask over the base's rows, for a filtered search): a probed cell costs only the rows of it the
    filter keeps, as faiss's ``IndexIVFFlat`` counts them under an ``IDSelector``; a mask per query (shape
    (n_queries, n)) for a filter of each query's own.

    Returns
    -------
    probe : ndarray of shape (n_queries, k)
        Probe rank (0 = the first cell probed) of each true neighbour's cell.
    cost : ndarray of shape (n_queries, nlist)
        Distance computations of each query at nprobe = 1 .. nlist: the nlist coarse ones plus the rows of the
        probed cells.
    """
    centroids, assign = cells
    nlist = len(centroids)
    order = probe_order(queries, centroids, metric)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(nlist)[None, :], axis=1)
    if allowed is not None and np.ndim(allowed) == 2:  # each query its own filter: its own kept rows per cell
        sizes = np.stack([np.bincount(assign[a], minlength=nlist) for a in allowed]).astype(np.float64)
        return (np.take_along_axis(rank, assign[neighbors], axis=1),
                nlist + np.cumsum(np.take_along_axis(sizes, order, axis=1), axis=1))
    sizes = np.bincount(assign if allowed is None else assign[allowed], minlength=nlist).astype(np.float64)
    return np.take_along_axis(rank, assign[neighbors], axis=1), nlist + np.cumsum(sizes[order], axis=1)


def ivf_cost(base, queries, neighbors, recall, metric="cosine", cells=None):
    """Distance computations per query an IVF-Flat index needs for ``recall`` (see the module's text);
    ``cells`` the base's :func:`ivf_cells` when already computed."""
    probe, cost = ivf_probes(cells or ivf_cells(base, metric=metric), queries, neighbors, metric)
    found = np.bincount(probe.ravel(), minlength=cost.shape[1]).cumsum() / probe.size  # recall at nprobe = 1..
    return cost_at_recall(found, cost.mean(axis=0), recall)


def hnsw_graph(base, metric="cosine"):
    """faiss ``IndexHNSWFlat`` of ``base`` (M = 16, efConstruction = 200, as the bench plug-in), built on the
    calling thread's faiss threads (one inside :func:`faiss_single_thread`, so that it is deterministic)."""
    from ..metric import faiss_metric

    base = _rows(base)
    index = faiss.IndexHNSWFlat(base.shape[1], HNSW_M, faiss_metric(metric))
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(base)
    return index


def hnsw_cost(base, queries, neighbors, recall, ef_search=EF_SEARCH, metric="cosine"):
    """Distance computations per query an HNSW graph needs for ``recall`` (faiss's counter), or None when
    the largest ``efSearch`` does not reach it. ``metric`` "l2": the graph is built under METRIC_L2."""
    queries = _rows(queries)
    k = neighbors.shape[1]
    recalls, costs = [], []
    with faiss_single_thread():
        index = hnsw_graph(base, metric)
        for ef in ef_search:
            index.hnsw.efSearch = max(int(ef), k)
            faiss.cvar.hnsw_stats.reset()
            _, got = index.search(queries, k)
            costs.append(faiss.cvar.hnsw_stats.ndis / len(queries))
            recalls.append(np.mean([len(np.intersect1d(g, t)) for g, t in zip(got, neighbors)]) / k)
            if recalls[-1] >= recall:
                break
    return cost_at_recall(recalls, costs, recall)


def search_cost(base, queries, k=10, recall=0.95, metric="cosine"):
    """IVF and HNSW distance computations per query at ``recall`` on one corpus.

    Parameters
    ----------
    base : ndarray of shape (n, d), unit rows (any rows for ``metric`` ip or l2)
    queries : ndarray of shape (n_queries, d), unit rows, not in ``base``
    k : int
    recall : float
    metric : {"cosine", "ip", "l2"}
        The true neighbours, the IVF cells and the HNSW graph use it (l2: Euclidean k-means and METRIC_L2).

    Returns
    -------
    dict
        ``ivf`` and ``hnsw``: distance computations per query (None when not reached).
    """
    base, queries = _rows(base), _rows(queries)
    index = faiss.IndexFlatL2(base.shape[1]) if metric == "l2" else faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    _, neighbors = index.search(queries, k)
    return {"ivf": ivf_cost(base, queries, neighbors, recall, metric=metric),
            "hnsw": hnsw_cost(base, queries, neighbors, recall, metric=metric)}


def cost_ratio(fake, real):
    """Per family, fake / real cost (None where either is missing)."""
    return {key: (fake[key] / real[key] if fake.get(key) and real.get(key) else None) for key in real}
