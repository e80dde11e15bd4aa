"""The index plug-ins of the [ann] extra (usearch, voyager, pynndescent, nmslib, annoy) through the harness, and
what happens when their libraries are missing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.indexes import available, get, registry, require
from bench.runner import measure_index
from bench.suites import make_corpus, save_corpus
from synth.bundled import load_minilm_wordnet
from synth.errors import SynthError
from synth.install import install_hint

ROOT = Path(__file__).resolve().parent.parent
ANN = ("annoy", "nmslib", "pynndescent", "usearch", "voyager")
SLOW = {"pynndescent"}  # numba compiles it on first use in a process (warm_up): about 30 s on 2 busy cores
MODULES = {"annoy": "annoy", "nmslib": "nmslib", "pynndescent": "pynndescent", "usearch": "usearch",
           "voyager": "voyager"}


def plugins(names=ANN):
    return [pytest.param(name, marks=[pytest.mark.slow] if name in SLOW else []) for name in names]


@pytest.fixture(scope="module")
def bundled():
    """2,000 bundled rows as the base, the next 200 as queries, exact top-100 ground truth."""
    X = load_minilm_wordnet()
    return make_corpus("real", X[:2000], X[2000:2200])


@pytest.mark.parametrize("name", plugins())
def test_plugin_sweep_on_bundled_rows(bundled, name):
    """Build, sweep and count as `bench compare` does: recall rises with the query parameter and reaches at
    least 0.99 (measured: 1.0 for all five), the counter is positive where the plug-in documents one and null
    where it documents none, QPS is always there."""
    pytest.importorskip(MODULES[name])
    spec = get(name)
    r = measure_index(spec, spec.build_grid[0], bundled, k=10, repeats=1)
    curve = r["curve"]
    recalls = [p["recall"] for p in curve]
    assert len(curve) >= 3 and recalls[0] < recalls[-1], recalls
    assert all(b >= a - 0.01 for a, b in zip(recalls, recalls[1:])), recalls  # rises, up to search noise
    assert 0.5 < recalls[0] < 0.99 and max(recalls) >= 0.99, recalls
    assert all(p["qps"] > 0 for p in curve)
    assert r["build_seconds"] >= 0 and r["memory_bytes"] >= bundled.base.nbytes  # each stores the float32 rows
    counts = [p["ndis"] for p in curve]
    if spec.counter is None:
        assert spec.counter_note and all(c is None for c in counts), counts
    else:
        assert all(c is not None and c > 0 for c in counts), counts
        assert all(a <= b for a, b in zip(counts, counts[1:])) and counts[-1] > counts[0], counts
        assert counts[0] < len(bundled.base)  # the cheapest setting computes fewer distances than a scan


def test_usearch_counts_what_usearch_reports(bundled):
    """The usearch counter is the sum of usearch's own computed_distances over the searches since the reset,
    and a search of the same queries in two halves counts the same as in one batch."""
    pytest.importorskip("usearch")
    spec = get("usearch")
    index = spec.create(spec.build_grid[0], *bundled.base.shape).build(bundled.base)
    index.set_query_params(expansion_search=32)
    index.reset_counters()
    ids = index.search(bundled.queries, 10)
    whole, visited = index.distance_count(), index.visited_members_
    raw = index.index_.search(bundled.queries, 10, threads=1)
    assert whole == raw.computed_distances > 0 and visited == raw.visited_members > 0
    np.testing.assert_array_equal(ids, raw.keys.astype(np.int64))
    index.reset_counters()
    assert index.distance_count() == 0
    index.search(bundled.queries[:100], 10)
    index.search(bundled.queries[100:], 10)
    assert index.distance_count() == whole


def test_nmslib_builds_after_usearch_in_a_fresh_process():
    """usearch's extension carries its own C++ runtime; imported first in a process it used to break nmslib's
    parameter parsing ("Failed to convert value"). The usearch plug-in loads the shared runtime first."""
    pytest.importorskip("usearch")
    pytest.importorskip("nmslib")
    code = ("import numpy as np; from bench.indexes import get\n"
            "X = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)\n"
            "X /= np.linalg.norm(X, axis=1, keepdims=True)\n"
            "for name in ('usearch', 'nmslib'):\n"
            "    spec = get(name)\n"
            "    ids = spec.create(spec.build_grid[0], *X.shape).build(X).search(X[:3], 5)\n"
            "    assert (ids[:, 0] == np.arange(3)).all(), (name, ids)\n"
            "print('ok')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
    assert "Your CPU supports" not in proc.stderr  # nmslib's import-time note is silenced


def test_new_plugins_run_through_bench_run(tmp_path):
    """The CLI runs the installed [ann] plug-ins on a saved corpus (the quick ones: no numba compilation)."""
    names = [n for n in ANN if n not in SLOW and n in available()]
    if not names:
        pytest.skip("no [ann] library installed")
    X = load_minilm_wordnet()
    save_corpus(make_corpus("real", X[:1000], X[1000:1050]), tmp_path / "real.h5")
    args = ["run", str(tmp_path / "real.h5"), "--repeats", "1", "--out", str(tmp_path / "o"), "--json"]
    r = CliRunner().invoke(main, args + [a for n in names for a in ("--index", n)])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    for name in names:
        real = result["results"][name]["real"]
        assert real["qps_at_target"]["0.90"] > 0, name
        assert (real["ndis_at_target"]["0.90"] is None) == (get(name).counter is None), name
        assert (tmp_path / "o" / f"curves-{name}.png").is_file()


# ------------------------------------------------------------------ a library that is not installed


@pytest.fixture
def no_usearch(monkeypatch):
    """usearch made impossible to import (a None in sys.modules blocks the import), whether it is installed or
    not."""
    for module in [m for m in sys.modules if m == "usearch" or m.startswith("usearch.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "usearch", None)
    with pytest.raises(ImportError):
        import usearch  # noqa: F401
    return f"usearch is not installed; {install_hint('ann')}"


def test_missing_library_is_unavailable_with_the_install_line(no_usearch):
    spec = registry()["usearch"]  # still registered: parsing its config imports nothing
    assert spec.unavailable() == no_usearch
    assert "usearch" not in available() and "faiss-hnsw" in available()
    message = f"index 'usearch' is unavailable: {no_usearch}"
    for call in (lambda: spec.create(spec.build_grid[0], 100, 8), lambda: require(["faiss-flat", "usearch"])):
        with pytest.raises(SynthError) as e:
            call()
        assert str(e.value) == message


def test_compare_with_a_missing_library_is_one_line(no_usearch, tmp_path):
    """Refused while the options are read: before the corpora are built, nothing written, no traceback."""
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["compare", "bundled", "--n", "200", "--queries", "20", "--index", "faiss-flat",
                                  "--index", "usearch", "--out", str(out)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.strip().splitlines() == [f"Error: index 'usearch' is unavailable: {no_usearch}"]
    assert not out.exists()


def test_bench_indexes_lists_every_plugin_and_the_install_line(no_usearch):
    r = CliRunner().invoke(main, ["indexes"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert f"usearch: unavailable, {no_usearch}" in lines
    assert "faiss-hnsw: installed" in lines
    names = [line.split(":")[0] for line in lines if not line.startswith(" ")]
    assert names == list(registry())


def test_default_run_skips_missing_libraries_and_says_how_to_install_them(monkeypatch, tmp_path):
    """Without --index a run takes every installed plug-in and lists the others as skipped, with the install
    line, on stderr and in results.md."""
    # all five missing, and the other plug-ins' libraries too ([db], diskannpy): the default run is the base
    # install's six plug-ins
    blocked = {MODULES[name] for name in ANN} | {m for spec in registry().values() for m in spec.requires
                                                 if spec.extra != "ann"}
    for name in blocked:
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, module)
        monkeypatch.setitem(sys.modules, name, None)
    X = np.random.default_rng(1).standard_normal((130, 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    save_corpus(make_corpus("real", X[:120], X[120:]), tmp_path / "tiny.h5")
    r = CliRunner().invoke(main, ["run", str(tmp_path / "tiny.h5"), "--repeats", "1", "--out", str(tmp_path / "o"),
                                  "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert set(result["results"]) >= {"faiss-flat", "faiss-hnsw", "hnswlib"} and not set(result["results"]) & set(ANN)
    line = install_hint("ann")
    for name in ANN:
        reason = f"not run: {MODULES[name]} is not installed; {line}"
        assert f"skipped {name}: {reason}" in r.stderr.splitlines()
        assert f"- `{name}`: {reason}" in (tmp_path / "o" / "results.md").read_text()
