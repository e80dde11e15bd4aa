"""The interface every index plug-in implements, and the faiss plumbing the faiss plug-ins share.

A plug-in's ``__init__`` stores its build parameters only (the scikit-learn contract); ``build`` does the
work. Build and search run on one thread, so a rebuild gives identical search results and QPS is
single-thread QPS. The metric is inner product by default: rows are unit vectors, so this is cosine. A plug-in
that lists ``"ip"`` or ``"l2"`` in its class attribute ``metrics`` is also built for those: the harness sets
the index's ``metric`` attribute (:meth:`bench.indexes.IndexSpec.create`) before ``build``.
"""


import contextlib
import ctypes
import os
import sys

import numpy as np

from synth.errors import SynthError
from synth.metrics.searchcost import faiss_single_thread  # noqa: F401 -- the plug-ins import it from here


@contextlib.contextmanager
def silenced(fd):
    """Send file descriptor ``fd`` (1 stdout, 2 stderr) to /dev/null for the block: C++ libraries that print
    notes there (nmslib's import, diskannpy's builds and searches) would corrupt ``--json`` output. Python's
    and C's buffers are flushed before and after, so nothing written while silenced leaks out later."""
    (sys.stdout if fd == 1 else sys.stderr).flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        ctypes.CDLL(None).fflush(None)
        os.dup2(saved, fd)
        os.close(saved)


class Index:
    """An approximate nearest-neighbour index under inner product.

    Subclasses implement ``build``, ``search``, ``memory_bytes`` and, where the library counts distance
    computations, ``reset_counters`` and ``distance_count``; where the library filters by attribute, ``filters =
    True`` and ``search_filtered`` (the harness sets ``labels`` before ``build``: `bench filtered --index`), and
    where it filters a numeric column too, ``ranges = True`` and ``search_range`` (``values`` set before ``build``:
    `bench filtered --attribute --index`); a library that compiles code on first use
    (numba) also implements ``warm_up``, so that the timed build does not include the compilation. An index
    that holds outside resources (a database server, a folder) acquires them in ``open`` and releases them in
    ``close``; the harness uses the index as a context manager (``with index:``), so ``close`` runs after the
    sweep and on any error, and the server start is not build time.

    Parameters
    ----------
    **build_params
        Build-time parameters (one point of the plug-in's ``build:`` grid, "auto" already resolved).
    """

    metrics = ("cosine",)  # the metrics this plug-in searches by; others are refused before any work
    metric = "cosine"  # set by the harness after construction

    def __init__(self, **build_params):
        self.build_params = dict(build_params)

    @classmethod
    def auto(cls, param, n, d):
        """The value of a build parameter written as ``auto`` in config.yml, for ``n`` rows of dimension ``d``."""
        raise SynthError(f"{cls.__name__} has no rule for {param}: auto")

    @classmethod
    def unbuildable(cls, params, n, d):
        """Why these build parameters cannot index ``n`` rows of dimension ``d`` (None when they can).

        Parameters
        ----------
        params : dict
            Build parameters, "auto" already resolved.
        n, d : int

        Returns
        -------
        str or None
        """
        return None

    @classmethod
    def warm_up(cls, d):
        """Pay once per process what the library spends on first use (e.g. numba compiling its functions),
        before the harness times a build of rows of dimension ``d``. Default: nothing."""

    def open(self):
        """Acquire what the index needs before its build (a database server, a scratch folder). Default: nothing.

        Returns
        -------
        self
        """
        return self

    def close(self):
        """Release what ``open`` or ``build`` acquired; safe to call twice. Default: nothing."""

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def build(self, X):
        """Index the rows of ``X``, an ndarray of shape (n, d), float32, C-contiguous, unit rows."""
        raise NotImplementedError

    build_details_ = {}  # set by ``build`` where the build time has parts worth reporting apart

    def build_details(self):
        """Parts of the build time worth reporting apart (e.g. ``{"load_seconds": ..., "index_seconds": ...}``
        for a database that loads a table, then indexes it); ``{}`` when there are none."""
        return dict(self.build_details_)

    def set_query_params(self, **params):
        """Set the query-time parameter (e.g. ``efSearch=64``); flat indexes take none."""
        if params:
            raise TypeError(f"{type(self).__name__} takes no query parameter, got {sorted(params)}")

    def search(self, Q, k):
        """The ``k`` most similar rows for each query.

        Parameters
        ----------
        Q : ndarray of shape (n_queries, d)
        k : int

        Returns
        -------
        ids : ndarray of shape (n_queries, k), int64
            Row numbers, most similar first; -1 where fewer than ``k`` were found.
        """
        raise NotImplementedError

    filters = False  # True where the plug-in implements ``search_filtered``
    # one int label per row, set by the harness before ``build`` for a filtered run; or a scipy sparse matrix (rows x
    # tags, synth.models.tags), under which a row passes a filter when it carries all of the filter's tags
    labels = None
    ranges = False  # True where the plug-in filters a numeric column itself (``search_range``)
    values = None  # one number per row, set by the harness before ``build`` for a range-filtered run (``ranges``)

    def search_filtered(self, Q, k, classes):
        """The ``k`` most similar rows among those whose label is in ``classes``, searched as the library
        filters (an ID selector, a filter callback, a ``WHERE`` clause); only where ``filters`` is True.

        The labels are the ``labels`` attribute, one int per row (or a sparse rows x tags matrix: then a row passes
        when it carries all of ``classes``), set before ``build``. A library may find
        fewer than ``k`` rows that pass (a graph walk that runs out of candidates): those places are -1.

        Parameters
        ----------
        Q : ndarray of shape (n_queries, d)
        k : int
        classes : sequence of int
            The labels a row may carry to be returned.

        Returns
        -------
        ids : ndarray of shape (n_queries, k), int64
        """
        raise SynthError(f"{type(self).__name__} cannot search under a filter")

    def search_range(self, Q, k, lo, hi):
        """The ``k`` most similar rows among those whose value (the ``values`` attribute, one number per row, set
        before ``build``) lies in ``[lo, hi]``, both ends kept, searched as the library filters a numeric column;
        only where ``ranges`` is True (other plug-ins filtering by a range are given a code per row and the codes
        of the values in it: ``search_filtered``). Returns as :meth:`search_filtered` does."""
        raise SynthError(f"{type(self).__name__} cannot filter a numeric column")

    def query_limit(self):
        """The largest value the query parameter may take on the built index (None: no limit): a filtered sweep
        extends the grid up to it."""
        return None

    def allowed(self, classes):
        """Per row, whether its label is in ``classes`` (tags, ``labels`` a sparse matrix: whether it carries all
        of them) (a bool array of length n; remembered per set)."""
        key = tuple(sorted(int(c) for c in classes))
        cache = self.__dict__.setdefault("_allowed", {})
        if key not in cache:
            if self.labels is None:
                raise SynthError(f"{type(self).__name__}: no labels were given before build()")
            cache.clear()  # one filter at a time is searched: keep one
            if hasattr(self.labels, "tocsc"):  # tags: the rows carrying every tag of the filter
                if getattr(self, "_tag_columns", (None,))[0] is not self.labels:  # converted once per labels
                    self._tag_columns = (self.labels, self.labels.tocsc())
                cols = self._tag_columns[1]
                cache[key] = np.asarray((cols[:, list(key)] != 0).sum(axis=1)).ravel() == len(key)
            else:
                cache[key] = np.isin(np.asarray(self.labels), key)
        return cache[key]

    def reset_counters(self):
        """Zero the distance counter."""

    def distance_count(self):
        """Distance computations since ``reset_counters``, or None when the library exposes no counter."""
        return None

    def memory_bytes(self):
        """Size of the built index in bytes (its serialized size)."""
        raise NotImplementedError


class LibraryIndex(Index):
    """Shared plumbing for a library that returns at most ``min(k, n)`` rows per query.

    Subclasses implement ``make(X)`` (the library's index over the rows of ``X``, built on one thread) and
    ``query(Q, k)`` (the row numbers of the ``k`` most similar rows of each query, ``k <= n``: an array of
    shape (len(Q), k), or one sequence per query, which may be shorter); ``search`` checks the index is
    built and pads with -1 past what was found.
    """

    index_ = None
    n_ = 0

    def make(self, X):
        raise NotImplementedError

    def query(self, Q, k):
        raise NotImplementedError

    def build(self, X):
        X = as_rows(X)
        self.index_, self.n_ = self.make(X), len(X)
        return self

    def search(self, Q, k):
        if self.index_ is None:
            raise SynthError(f"{type(self).__name__}: build() before search()")
        Q = as_rows(Q)
        found = min(k, self.n_)
        if not (found and len(Q)):
            return np.full((len(Q), k), -1, dtype=np.int64)
        return padded(self.query(Q, found), len(Q), k)


def padded(labels, n_queries, k):
    """Row numbers found per query (an array of shape (n_queries, j <= k), or one sequence per query) as an
    int64 array of shape (n_queries, k), -1 past what was found."""
    ids = np.full((n_queries, k), -1, dtype=np.int64)
    if isinstance(labels, np.ndarray):
        labels = labels.reshape(n_queries, -1)
        ids[:, :labels.shape[1]] = labels
    else:
        for row, found_ids in enumerate(labels):
            ids[row, :len(found_ids)] = found_ids
    return ids


def as_rows(X):
    """``X`` as a float32 C-contiguous 2-d array (what faiss and hnswlib take without copying)."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise SynthError(f"expected a 2-d array of vectors, got shape {X.shape}")
    return X


class FaissIndex(Index):
    """Shared plumbing for faiss plug-ins: subclasses implement ``make(X)`` (an untrained faiss index)."""

    index_ = None
    queries_ = 0
    metrics = ("cosine", "ip", "l2")

    def make(self, X):
        raise NotImplementedError

    def faiss_metric(self):
        """faiss's metric constant for ``self.metric``: METRIC_L2 for l2, METRIC_INNER_PRODUCT otherwise."""
        from synth.metric import faiss_metric

        return faiss_metric(self.metric)

    def flat(self, d):
        """A flat (exact) faiss index under ``self.metric``, e.g. an IVF coarse quantizer."""
        import faiss

        return faiss.IndexFlatL2(d) if self.metric == "l2" else faiss.IndexFlatIP(d)

    def build(self, X):
        X = as_rows(X)
        with faiss_single_thread():
            index = self.make(X)
            if not index.is_trained:
                index.train(X)
            index.add(X)
        self.index_, self.n_ = index, len(X)
        self.queries_ = 0
        return self

    def search(self, Q, k):
        if self.index_ is None:
            raise SynthError(f"{type(self).__name__}: build() before search()")
        Q = as_rows(Q)
        with faiss_single_thread():
            _, ids = self.index_.search(Q, k)
        self.queries_ += len(Q)
        return ids.astype(np.int64, copy=False)

    filters = True

    def search_params(self, sel):
        """faiss search parameters carrying the ID selector ``sel`` and the current query parameter."""
        import faiss

        return faiss.SearchParameters(sel=sel)

    def search_filtered(self, Q, k, classes):
        """faiss's own filtered search: an ``IDSelectorBitmap`` over the rows whose label is in ``classes``, in
        the search parameters; rows it rejects are skipped (IVF counts no distance for them, HNSW walks
        through them)."""
        import faiss

        if self.index_ is None:
            raise SynthError(f"{type(self).__name__}: build() before search()")
        Q = as_rows(Q)
        bitmap = np.packbits(self.allowed(classes), bitorder="little")
        sel = faiss.IDSelectorBitmap(self.n_, faiss.swig_ptr(bitmap))
        with faiss_single_thread():
            _, ids = self.index_.search(Q, k, params=self.search_params(sel))
        self.queries_ += len(Q)
        return ids.astype(np.int64, copy=False)

    def reset_counters(self):
        self.queries_ = 0

    def memory_bytes(self):
        import faiss

        return int(faiss.serialize_index(self.index_).size)


class InvertedLists:
    """The rules an inverted-file index shares (a mix-in before its ``Index`` base): its number of lists, the
    build parameter ``lists_param``, is ``round(sqrt(n))`` when written ``auto``, and cannot exceed the number
    of rows, since k-means needs a training point per list."""

    lists_param = "nlist"

    @classmethod
    def auto(cls, param, n, d):
        if param == cls.lists_param:
            return max(1, int(round(np.sqrt(n))))
        return super().auto(param, n, d)

    @classmethod
    def unbuildable(cls, params, n, d):
        lists = params[cls.lists_param]
        if n < lists:
            return f"{cls.lists_param} = {lists} needs at least {lists} base rows, got {n}"
        return super().unbuildable(params, n, d)


class FaissIVF(InvertedLists, FaissIndex):
    """Shared plumbing for the faiss IVF family.

    ``nlist: auto`` is ``round(sqrt(n))``. An ``nprobe`` above ``nlist`` is clipped to ``nlist`` (every
    list probed, which faiss would do anyway), so one sweep serves every corpus size; the clipped
    settings repeat the exhaustive point. The k-means seed is fixed (``random_state``), so builds are
    deterministic.

    The distance count is ``indexIVF_stats.ndis`` (codes scanned in the probed lists) plus ``nlist``
    coarse-quantizer distances per query.
    """

    def __init__(self, nlist, random_state=1234, **build_params):
        super().__init__(nlist=nlist, random_state=random_state, **build_params)
        self.nlist, self.random_state = int(nlist), int(random_state)
        self.nprobe = 1

    def seed(self, index):
        """Fix the k-means seed of ``index`` (and of its product quantizer, if any)."""
        index.cp.seed = self.random_state
        if hasattr(index, "pq"):
            index.pq.cp.seed = self.random_state
        return index

    def search_params(self, sel):
        import faiss

        return faiss.SearchParametersIVF(nprobe=self.nprobe, sel=sel)

    def query_limit(self):
        return self.nlist

    def set_query_params(self, nprobe):
        self.nprobe = min(int(nprobe), self.nlist)
        if self.index_ is not None:
            self.index_.nprobe = self.nprobe

    def build(self, X):
        super().build(X)
        self.index_.nprobe = self.nprobe
        return self

    def reset_counters(self):
        import faiss

        super().reset_counters()
        faiss.cvar.indexIVF_stats.reset()

    def distance_count(self):
        import faiss

        return int(faiss.cvar.indexIVF_stats.ndis) + self.queries_ * self.nlist
