"""annoy: a forest of random-projection trees, searched by one priority queue over all trees
(https://github.com/spotify/annoy)."""

import tempfile
from pathlib import Path

from bench.indexes.base import LibraryIndex


class AnnoyForest(LibraryIndex):
    """annoy's tree forest under angular distance (cosine order), built on one thread with a fixed seed.

    A query gathers candidates from the trees' leaves until ``search_k`` are collected, then ranks them by
    exact distance; annoy has no batch search, so queries are one Python call each (included in QPS). annoy
    keeps no distance counter reachable from Python: the count is None.

    Parameters
    ----------
    n_trees : int
        Trees in the forest.
    random_state : int
        Seed of the splits.
    """

    size_ = None

    def __init__(self, n_trees=100, random_state=1):
        super().__init__(n_trees=n_trees, random_state=random_state)
        self.n_trees, self.random_state = int(n_trees), int(random_state)
        self.search_k = -1

    def make(self, X):
        from annoy import AnnoyIndex

        index = AnnoyIndex(X.shape[1], "angular")
        index.set_seed(self.random_state)
        for i, row in enumerate(X):
            index.add_item(i, row)
        index.build(self.n_trees, n_jobs=1)
        self.size_ = None
        return index

    def set_query_params(self, search_k):
        self.search_k = int(search_k)

    def query(self, Q, k):
        return [self.index_.get_nns_by_vector(q, k, search_k=self.search_k) for q in Q]

    def memory_bytes(self):
        """The size of annoy's index file. annoy saves an index by writing it and memory-mapping it back, so the
        file stays, in a temporary folder that lives as long as this object; searches after this call read
        the same forest from the mapped file (same results)."""
        if self.size_ is None:
            self.folder_ = tempfile.TemporaryDirectory(prefix="bench-annoy-", ignore_cleanup_errors=True)
            path = Path(self.folder_.name) / "index.ann"
            self.index_.save(str(path))
            self.size_ = path.stat().st_size
        return self.size_
