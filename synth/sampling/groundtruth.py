"""Exact top-k neighbours by cosine (or inner product, or L2 distance), computed blockwise as the base streams by, merged across shards.

Memory is O(n_queries * k) plus one base block: the base is never held whole. Each block is searched exactly
by faiss (``faiss.knn``, the flat inner-product search), its ids are shifted to global row numbers, and the
running top-k is merged with the block's. Shards merge the same way, so the ground truth of a corpus written by N machines is
the merge of N partial results. Ties are broken by the smaller row id, so the order is canonical.

Scores are "larger is nearer" whatever the metric: the inner product for cosine (unit rows) and ``ip``,
minus the squared Euclidean distance for ``l2`` (faiss's flat L2 search, negated).
"""

import faiss
import numpy as np

from ..errors import SynthError
from ..metric import check_metric, faiss_metric, scores_from_faiss


def _rows32(X, name):
    X = np.asarray(X)
    if X.ndim != 2:
        raise SynthError(f"{name} must be a 2-D array (n_samples, n_features), got shape {X.shape}")
    return np.ascontiguousarray(X, dtype=np.float32)  # faiss reads the raw float32 buffer


def merge_topk(parts, k):
    """Merge partial top-k results into one.

    Parameters
    ----------
    parts : iterable of (ids, scores)
        ids : ndarray of shape (n_queries, k_i), int64 (global row numbers; -1 = no neighbour);
        scores : ndarray of shape (n_queries, k_i), float32 (larger is nearer).
    k : int

    Returns
    -------
    ids : ndarray of shape (n_queries, k), int64
    scores : ndarray of shape (n_queries, k), float32
        Best first; equal scores in increasing id order.
    """
    parts = list(parts)
    ids = np.concatenate([p[0] for p in parts], axis=1).astype(np.int64, copy=False)
    scores = np.concatenate([p[1] for p in parts], axis=1).astype(np.float32, copy=False)
    scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
    # missing slots (id -1) sort last: give them the largest possible id
    tie = np.where(ids < 0, np.iinfo(np.int64).max, ids)
    order = np.lexsort((tie, -scores), axis=1)[:, :k]
    ids, scores = np.take_along_axis(ids, order, 1), np.take_along_axis(scores, order, 1)
    ids[~np.isfinite(scores)] = -1
    return ids, scores


class TopK:
    """Running exact top-k of fixed queries over base rows that arrive in blocks.

    Parameters
    ----------
    queries : array-like of shape (n_queries, n_features)
        Unit rows (inner product = cosine), or rows of any norm for ``metric`` "ip" or "l2".
    k : int
    metric : {"cosine", "ip", "l2"}, default="cosine"
        l2: the nearest rows by Euclidean distance, scored by minus its square; ip, cosine: the largest
        inner products.

    Attributes
    ----------
    ids : ndarray of shape (n_queries, k), int64
    scores : ndarray of shape (n_queries, k), float32
    seen : int
        Base rows added so far.
    """

    def __init__(self, queries, k, metric="cosine"):
        self.metric = check_metric(metric)
        self.queries = _rows32(queries, "queries")
        self.k = int(k)
        if self.k < 1:
            raise SynthError(f"k must be >= 1, got {k}")
        q = len(self.queries)
        self.ids = np.full((q, self.k), -1, np.int64)
        self.scores = np.full((q, self.k), -np.inf, np.float32)
        self.seen = 0

    def add(self, block, offset, row_ids=None):
        """Search ``block`` (rows ``offset ..``, or with ``row_ids`` the rows of those ids: a block of scattered rows,
        e.g. the ones a filter keeps) and merge into the running top-k."""
        block = _rows32(block, "base block")
        if block.shape[1] != self.queries.shape[1]:
            raise SynthError(f"base has dimension {block.shape[1]}, queries {self.queries.shape[1]}")
        if not len(block):
            return
        kk = min(self.k, len(block))
        # faiss.knn is IndexFlatIP's exact search without copying the block into an index
        scores, ids = faiss.knn(self.queries, block, kk, metric=faiss_metric(self.metric))
        scores = scores_from_faiss(scores, self.metric)
        ids = np.where(ids >= 0, (ids + offset) if row_ids is None else np.asarray(row_ids)[np.maximum(ids, 0)], -1)
        self.ids, self.scores = merge_topk([(self.ids, self.scores), (ids, scores)], self.k)
        self.seen += len(block)

    def result(self):
        """(ids int64, scores float32), each of shape (n_queries, k); raises if fewer than k rows were seen."""
        if self.seen < self.k:
            raise SynthError(f"need at least k={self.k} base rows, got {self.seen}")
        return self.ids, self.scores


def exact_neighbors(base, queries, k, block_rows=65536, offset=0, metric="cosine"):
    """Exact top-k neighbours of ``queries`` in ``base`` by inner product (cosine on unit rows), blockwise;
    with ``metric="l2"`` by Euclidean distance (scores: minus its square).

    Parameters
    ----------
    base : array-like of shape (n_base, n_features), or an iterable of such blocks
        Arrays (including memmaps) are read ``block_rows`` rows at a time; an iterable (e.g.
        ``Generator.iter_samples``) is consumed as it streams, never held whole.
    queries : array-like of shape (n_queries, n_features)
    k : int
    block_rows : int, default=65536
        Rows searched at a time when ``base`` is an array.
    offset : int, default=0
        Row number of the first base row (a shard's start), so ids are global.

    Returns
    -------
    ids : ndarray of shape (n_queries, k), int64
    scores : ndarray of shape (n_queries, k), float32
        Best first, ties by smaller id.
    """
    top = TopK(queries, k, metric)
    if isinstance(base, np.ndarray) or hasattr(base, "__array__"):
        base = np.asarray(base)
        blocks = (base[i:i + block_rows] for i in range(0, len(base), block_rows))
    else:
        blocks = base
    row = offset
    for block in blocks:
        top.add(block, row)
        row += len(block)
    return top.result()
