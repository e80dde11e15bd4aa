"""usearch's HNSW under inner product (Malkov & Yashunin 2018, arXiv:1603.09320)."""

import ctypes
import ctypes.util
import sys

import numpy as np

from bench.indexes.base import Index, as_rows
from synth.errors import SynthError


def usearch_index_class():
    """``usearch.index.Index``, imported after the shared C++ runtime.

    usearch's extension links libstdc++ statically and exports its process-wide (GNU unique) locale symbols:
    loaded before the shared libstdc++, it takes them over, and C++ libraries loaded later can no longer
    parse numbers from streams (nmslib then fails with "Failed to convert value"). Loading the shared
    libstdc++ first, into the global scope, keeps it in charge of its own symbols.
    """
    if "usearch.compiled" not in sys.modules and sys.platform.startswith("linux"):
        name = ctypes.util.find_library("stdc++")
        if name:
            try:
                ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                pass
    from usearch.index import Index as UsearchIndex

    return UsearchIndex


class UsearchHNSW(Index):
    """HNSW graph built and searched by usearch on one thread.

    usearch returns, with each batch of results, the number of distances it computed and of graph members
    it visited, summed over the batch: the distance count is the sum of ``computed_distances`` since
    ``reset_counters`` (``visited_members_`` keeps the other). A search with ``expansion_search`` below
    ``k`` runs with ``k`` (usearch's own rule), so those sweep points repeat the ``expansion_search = k``
    point. Vectors are stored as float32 unless ``dtype`` says otherwise (``f16``, ``bf16``, ``i8``
    quantize them).

    Parameters
    ----------
    connectivity : int
        Graph degree M (2 * M links on the bottom layer).
    expansion_add : int
        Candidate list size while inserting (efConstruction).
    dtype : str
        Storage scalar type.
    """

    index_ = None

    def __init__(self, connectivity=16, expansion_add=200, dtype="f32"):
        super().__init__(connectivity=connectivity, expansion_add=expansion_add, dtype=dtype)
        self.connectivity, self.expansion_add, self.dtype = int(connectivity), int(expansion_add), str(dtype)
        self.expansion_search = 10
        self.reset_counters()

    def build(self, X):
        X = as_rows(X)
        index = usearch_index_class()(ndim=X.shape[1], metric="ip", dtype=self.dtype, connectivity=self.connectivity,
                       expansion_add=self.expansion_add, expansion_search=self.expansion_search)
        index.add(np.arange(len(X), dtype=np.uint64), X, threads=1)
        self.index_ = index
        return self

    def set_query_params(self, expansion_search):
        self.expansion_search = int(expansion_search)
        if self.index_ is not None:
            self.index_.expansion_search = self.expansion_search

    def search(self, Q, k):
        if self.index_ is None:
            raise SynthError(f"{type(self).__name__}: build() before search()")
        Q = as_rows(Q)
        ids = np.full((len(Q), k), -1, dtype=np.int64)
        if not len(Q) or not self.index_.size:
            return ids
        matches = self.index_.search(Q, k, threads=1)
        keys = np.atleast_2d(matches.keys)  # one query gives a Matches, several a BatchMatches
        counts = getattr(matches, "counts", np.array([keys.shape[1]]))
        found = np.arange(keys.shape[1]) < np.asarray(counts)[:, None]  # past counts[i]: filler keys
        ids[:, :keys.shape[1]] = np.where(found, keys.astype(np.int64), -1)
        self.ndis_ += int(matches.computed_distances)
        self.visited_members_ += int(matches.visited_members)
        return ids

    def reset_counters(self):
        self.ndis_ = self.visited_members_ = 0

    def distance_count(self):
        return self.ndis_

    def memory_bytes(self):
        return int(self.index_.serialized_length)
