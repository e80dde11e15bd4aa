"""DiskANN's in-memory Vamana graph under inner product (Subramanya et al. 2019, "DiskANN: fast accurate
billion-point nearest neighbor search on a single node", NeurIPS)."""

import shutil
import tempfile
from pathlib import Path

from bench.indexes.base import LibraryIndex, silenced

PREFIX = "ann"  # diskannpy's file prefix: PREFIX (the graph), PREFIX.data (the rows), and two files it reads back


class DiskannVamana(LibraryIndex):
    """A Vamana graph built by diskannpy on one thread, loaded as a ``StaticMemoryIndex``.

    diskannpy builds only into a folder: ``build`` writes the index into a temporary folder, loads it into memory
    and removes the folder before it returns, also when the build or the load fails; ``close`` releases the
    loaded index (and removes a folder still there). The metric is diskannpy's ``"mips"`` (inner product, the
    project's cosine on unit rows); its ``"cosine"`` ranks unit rows the same way (both reach recall 1.0 on
    exhaustive search) but re-normalizes every row, and gave a little less recall at small search complexity.

    Only ``batch_search`` is used, with one thread, also for a single query: diskannpy 0.7.0's single-query
    ``search`` returns the nearest row ``k`` times under numpy 2. A search uses ``max(search_complexity, k)``
    (diskannpy's own rule, without its warning), so sweep points below ``k`` repeat the ``k`` point. A build on
    one thread is deterministic: a rebuild returns the same rows. diskannpy keeps no distance counter reachable
    from Python: the count is None.

    Parameters
    ----------
    graph_degree : int
        Maximum out-degree R of the graph.
    complexity : int
        Candidate list size L while building.
    alpha : float
        Pruning slack (>= 1): larger keeps longer edges, fewer hops per search.
    """

    tmp_ = None

    def __init__(self, graph_degree=64, complexity=128, alpha=1.2):
        super().__init__(graph_degree=graph_degree, complexity=complexity, alpha=alpha)
        self.graph_degree, self.complexity, self.alpha = int(graph_degree), int(complexity), float(alpha)
        self.search_complexity = 10
        self.size_ = 0

    def make(self, X):
        import diskannpy

        self.close()
        self.tmp_ = tempfile.mkdtemp(prefix="diskann-vamana-")
        try:
            with silenced(1):
                diskannpy.build_memory_index(X, distance_metric="mips", index_directory=self.tmp_,
                                             complexity=self.complexity, graph_degree=self.graph_degree,
                                             num_threads=1, alpha=self.alpha, index_prefix=PREFIX)
                index = diskannpy.StaticMemoryIndex(index_directory=self.tmp_, num_threads=1,
                                                    initial_search_complexity=max(self.search_complexity, 1),
                                                    index_prefix=PREFIX)
            self.size_ = sum((Path(self.tmp_) / name).stat().st_size for name in (PREFIX, PREFIX + ".data"))
        finally:
            self.remove_folder()
        return index

    def remove_folder(self):
        if self.tmp_ is not None:
            shutil.rmtree(self.tmp_, ignore_errors=True)
            self.tmp_ = None

    def close(self):
        self.remove_folder()
        self.index_, self.n_ = None, 0

    def set_query_params(self, search_complexity):
        self.search_complexity = int(search_complexity)

    def query(self, Q, k):
        with silenced(1):  # a complexity above the last one grows the search scratch, which diskannpy logs
            ids, _ = self.index_.batch_search(Q, k, max(self.search_complexity, k), 1)
        return ids.astype("int64")

    def memory_bytes(self):
        """Size of the graph and row files diskannpy wrote (what ``StaticMemoryIndex`` loads)."""
        return int(self.size_)
