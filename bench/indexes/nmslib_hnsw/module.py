"""nmslib's HNSW under cosine similarity (Boytsov & Naidan 2013; Malkov & Yashunin 2018, arXiv:1603.09320)."""

import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from bench.indexes.base import LibraryIndex, silenced
from synth.errors import SynthError


def import_nmslib():
    if "nmslib" not in sys.modules:
        with silenced(2):
            import nmslib  # noqa: F401
    return sys.modules["nmslib"]


class NmslibHNSW(LibraryIndex):
    """HNSW graph built and searched by nmslib on one thread.

    nmslib draws the HNSW levels from a thread-local random generator seeded with a constant when the thread
    first uses it, so the index is built on a new thread each time: every build of the same rows gives the
    same graph. A search uses ``efSearch = max(ef, k)`` (below ``k`` nmslib returns fewer than ``k`` rows),
    so an ``ef`` below ``k`` in the sweep repeats the ``ef = k`` point. nmslib keeps no distance counter
    reachable from Python: the count is None.

    Parameters
    ----------
    M : int
        Graph degree (2 * M links on the bottom layer).
    efConstruction : int
        Candidate list size while inserting.
    """

    def __init__(self, M=16, efConstruction=200):
        super().__init__(M=M, efConstruction=efConstruction)
        self.M, self.efConstruction = int(M), int(efConstruction)
        self.ef = 10

    def make(self, X):
        nmslib = import_nmslib()
        index = nmslib.init(method="hnsw", space="cosinesimil", data_type=nmslib.DataType.DENSE_VECTOR,
                            dtype=nmslib.DistType.FLOAT)
        index.addDataPointBatch(X, np.arange(len(X), dtype=np.int32))
        params = {"M": self.M, "efConstruction": self.efConstruction, "indexThreadQty": 1, "post": 0}
        failure = []

        def create():
            try:
                index.createIndex(params, print_progress=False)
            except Exception as e:  # re-raised on the calling thread
                failure.append(e)

        worker = threading.Thread(target=create, name="nmslib-build")  # a fresh generator: reproducible levels
        worker.start()
        worker.join()
        if failure:
            if "Failed to convert value" in str(failure[0]):
                raise SynthError("nmslib cannot read its parameters: a library that links the C++ runtime "
                                 "statically (usearch) was loaded before the shared one; import nmslib, or "
                                 "build the usearch index through bench, first") from failure[0]
            raise failure[0]
        return index

    def set_query_params(self, ef):
        self.ef = int(ef)

    def query(self, Q, k):
        self.index_.setQueryTimeParams({"efSearch": max(self.ef, k)})
        return [labels for labels, _ in self.index_.knnQueryBatch(Q, k=k, num_threads=1)]

    def memory_bytes(self):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "index"
            self.index_.saveIndex(str(path), save_data=False)  # the optimized index holds the vectors
            return sum(p.stat().st_size for p in Path(folder).iterdir())
