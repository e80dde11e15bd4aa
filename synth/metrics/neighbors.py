"""Exact k-nearest-neighbour search with faiss (flat index: no approximation)."""

import faiss
import numpy as np

from synth.errors import SynthError


def _as_float32_rows(X, name):
    X = np.asarray(X)
    if X.ndim != 2:
        raise SynthError(f"{name} must be a 2-D array (n_samples, n_features), got shape {X.shape}")
    # faiss reads the raw buffer, so it needs C-contiguous float32.
    return np.ascontiguousarray(X, dtype=np.float32)


BAR_BLOCK = 8192  # queries per step of the bar: a multiple of faiss's 4,096-query tiles, so the results are the same


def knn(base, queries=None, k=10, exclude_self=False, metric="ip", progress=False):
    """Exact k nearest neighbours of each query in ``base``.

    Inner product on L2-normalized rows is cosine similarity; faiss ``IndexFlatIP`` /
    ``IndexFlatL2`` compute it exactly and block the distance matrix internally (BLAS tiles of
    4,096 queries), so memory stays O(n_queries * k) and no query batching is needed here.

    Parameters
    ----------
    base : array-like of shape (n_base, n_features)
        The points searched. Converted to C-contiguous float32 if needed.
    queries : array-like of shape (n_queries, n_features), optional
        The points whose neighbours are wanted; ``None`` searches ``base`` against itself.
    k : int, default=10
        Neighbours per query.
    exclude_self : bool, default=False
        Only with ``queries=None``: drop each point from its own list. The search asks for
        ``k + 1`` neighbours and removes the column whose id is the row's own index; when the
        row's index is missing (exact duplicates or ties can push it out), the last column is
        dropped instead.
    metric : {"ip", "l2"}, default="ip"
        ``"ip"``: inner product, largest first. ``"l2"``: squared Euclidean distance,
        smallest first (faiss convention).
    progress : bool, default=False
        Show a bar (and so an ETA) over the queries, searched :data:`BAR_BLOCK` at a time: the same
        arithmetic on the same tiles, so the same bytes.

    Returns
    -------
    sims : ndarray of shape (n_queries, k), float32
        Inner products (``"ip"``) or squared distances (``"l2"``), best first.
    ids : ndarray of shape (n_queries, k), int64
        Row indices into ``base``.
    """
    if metric not in ("ip", "l2"):
        raise ValueError(f"metric must be 'ip' or 'l2', got {metric!r}")
    if exclude_self and queries is not None:
        raise ValueError("exclude_self=True needs queries=None (a self-search)")
    base = _as_float32_rows(base, "base")
    queries = base if queries is None else _as_float32_rows(queries, "queries")
    if queries.shape[1] != base.shape[1]:
        raise SynthError(f"queries have dimension {queries.shape[1]}, base has {base.shape[1]}")
    n_search = k + 1 if exclude_self else k
    if not 1 <= n_search <= len(base):
        raise SynthError(f"need at least {n_search} base points for k={k}, got {len(base)}")

    index = faiss.IndexFlatIP(base.shape[1]) if metric == "ip" else faiss.IndexFlatL2(base.shape[1])
    index.add(base)
    if progress and len(queries) > BAR_BLOCK:
        from tqdm.auto import tqdm

        parts = [index.search(queries[a:a + BAR_BLOCK], n_search)
                 for a in tqdm(range(0, len(queries), BAR_BLOCK), desc="exact k-NN", unit="block", leave=False)]
        sims, ids = np.concatenate([s for s, _ in parts]), np.concatenate([i for _, i in parts])
    else:
        sims, ids = index.search(queries, n_search)
    if not exclude_self:
        return sims, ids

    drop = ids == np.arange(len(ids))[:, None]
    drop[~drop.any(axis=1), -1] = True
    # Exactly one True per row, so boolean indexing keeps row-major order and reshapes cleanly.
    keep = ~drop
    return sims[keep].reshape(len(ids), k), ids[keep].reshape(len(ids), k)
