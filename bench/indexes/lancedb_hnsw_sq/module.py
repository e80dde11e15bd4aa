"""LanceDB's IVF_HNSW_SQ index: HNSW graphs (Malkov & Yashunin 2018, arXiv:1603.09320) over 8-bit
scalar-quantized vectors, inside IVF partitions, in an embedded Lance table."""

import os
import shutil
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np

from bench.indexes.base import InvertedLists, LibraryIndex
from synth.errors import SynthError
from synth.install import install_hint


class LanceHNSWSQ(InvertedLists, LibraryIndex):
    """A Lance table ``items (id int64, vector fixed_size_list<float32>[d])`` in a temporary folder, indexed
    with ``IvfHnswSq(distance_type="dot")``.

    ``open`` makes the folder and connects; ``build`` writes the table and creates the index (the build
    time is both, ``build_details`` gives each); ``close`` deletes the folder (so do garbage collection and
    interpreter exit). A search runs one query per call, probing every partition (``nprobes =
    num_partitions``) with the candidate list ``ef``. Vectors are compared in their 8-bit quantized form and
    not re-ranked, which caps recall a little below 1. Lance's compute threads are limited to one
    (``LANCE_CPU_THREADS=1``, set before lancedb is first imported in the process, unless already set).
    HNSW levels and the quantizer's sample are drawn unseeded: two builds give slightly different graphs.
    LanceDB keeps no distance counter for HNSW: the count is None. ``memory_bytes`` is the size of the
    index files.

    Parameters
    ----------
    m : int
        Graph degree.
    ef_construction : int
        Candidate list size while inserting.
    num_partitions : int
        IVF partitions, each with its own graph ("auto": round(sqrt(n))).
    """

    folder_ = db_ = None
    lists_param = "num_partitions"  # "auto": round(sqrt(n)); at most n

    def __init__(self, m=16, ef_construction=200, num_partitions=1):
        super().__init__(m=m, ef_construction=ef_construction, num_partitions=num_partitions)
        self.m, self.ef_construction, self.num_partitions = int(m), int(ef_construction), int(num_partitions)
        self.ef = 10

    def open(self):
        if self.folder_ is None:
            os.environ.setdefault("LANCE_CPU_THREADS", "1")
            try:
                import lancedb
            except ImportError as e:  # installed but not loadable
                raise SynthError(f"lancedb cannot be loaded ({e}); {install_hint('db')}") from e

            self.folder_ = Path(tempfile.mkdtemp(prefix="synth-lancedb-"))
            self._finalizer = weakref.finalize(self, shutil.rmtree, self.folder_, ignore_errors=True)
            self.db_ = lancedb.connect(self.folder_)
        return self

    def close(self):
        self.index_ = self.db_ = None
        if self.folder_ is not None:
            self._finalizer()
            self.folder_ = None

    def make(self, X):
        import pyarrow as pa
        from lancedb.index import IvfHnswSq

        self.open()
        t0 = time.perf_counter()
        rows = pa.table({"id": pa.array(np.arange(len(X), dtype=np.int64)),
                         "vector": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), X.shape[1])})
        table = self.db_.create_table("items", rows, mode="create" if self.index_ is None else "overwrite")
        t1 = time.perf_counter()
        table.create_index("vector", config=IvfHnswSq(distance_type="dot", num_partitions=self.num_partitions,
                                                       m=self.m, ef_construction=self.ef_construction))
        self.build_details_ = {"load_seconds": t1 - t0, "index_seconds": time.perf_counter() - t1}
        return table

    def set_query_params(self, ef):
        self.ef = int(ef)

    def query(self, Q, k):
        def one(q):
            found = (self.index_.search(q).distance_type("dot").nprobes(self.num_partitions).ef(self.ef)
                     .limit(k).select(["id", "_distance"]).to_arrow())
            return found["id"].to_numpy()

        return [one(q) for q in Q]

    def memory_bytes(self):
        return sum(p.stat().st_size for p in (self.folder_ / "items.lance" / "_indices").rglob("*") if p.is_file())
