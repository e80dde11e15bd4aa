"""The DiskANN (Vamana) plug-in: recall against exact neighbours, its temporary folder, and the listing when
diskannpy is missing (it installs with ``pip install --no-deps``, outside every extra)."""

import glob
import os
import sys
import tempfile

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.indexes import available, get, registry
from bench.runner import measure_index
from bench.suites import make_corpus
from synth.bundled import load_minilm_wordnet
from synth.errors import SynthError

NAME = "diskann-vamana"
INSTALL = ("pip install --no-deps diskannpy==0.7.0 (--no-deps because diskannpy 0.7.0 pins numpy==1.25 and pip "
           "would downgrade numpy 2; it works with numpy 2)")


def folders():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "diskann-vamana-*")))


@pytest.fixture(scope="module")
def bundled():
    """2,000 bundled rows as the base, the next 200 as queries, exact top-100 ground truth."""
    X = load_minilm_wordnet()
    return make_corpus("real", X[:2000], X[2000:2200])


def test_recall_on_bundled_rows_against_exact_neighbours(bundled):
    """Every build setting reaches recall@10 >= 0.95 by the largest search complexity (measured: 1.0), recall rises
    along the sweep, the count is None as config.yml says, and no folder is left behind."""
    pytest.importorskip("diskannpy")
    spec, before = get(NAME), folders()
    for params in spec.build_grid:
        r = measure_index(spec, params, bundled, k=10, repeats=1)
        recalls = [p["recall"] for p in r["curve"]]
        assert max(recalls) >= 0.95 and recalls[0] < 0.99, (params, recalls)
        assert all(b >= a - 0.01 for a, b in zip(recalls, recalls[1:])), recalls
        assert all(p["ndis"] is None and p["qps"] > 0 for p in r["curve"])
        assert r["memory_bytes"] >= bundled.base.nbytes
    assert spec.counter is None and spec.counter_note
    assert folders() <= before


def test_one_query_and_fewer_rows_than_k():
    """One query goes through batch_search too (diskannpy's single-query search returns one row k times), and
    past the rows there are: -1."""
    pytest.importorskip("diskannpy")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    spec = get(NAME)
    with spec.create(spec.build_grid[0], *X.shape) as index:
        index.build(X)
        index.set_query_params(search_complexity=300)
        exact = np.argsort(-(X[:1] @ X.T), axis=1)[:, :10]
        ids = index.search(X[:1], 10)
        assert ids.shape == (1, 10) and ids.dtype == np.int64 and len(set(ids[0])) == 10
        np.testing.assert_array_equal(ids, exact)
        ids = index.search(X[:4], 400)
        assert ids.shape == (4, 400) and (ids[:, 300:] == -1).all()
        assert (np.sort(ids[:, :300], axis=1) == np.arange(300)).all()


def test_the_folder_is_gone_after_close_and_after_an_error(monkeypatch):
    diskannpy = pytest.importorskip("diskannpy")
    X = np.random.default_rng(2).standard_normal((20, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    spec, before = get(NAME), folders()
    with spec.create(spec.build_grid[0], *X.shape) as index:
        index.build(X)
        assert index.search(X[:2], 3).shape == (2, 3)
    assert folders() <= before and index.index_ is None
    index.close()  # twice is fine

    seen = []

    def fails(data, index_directory, **kwargs):
        seen.append(index_directory)
        open(os.path.join(index_directory, "ann"), "wb").close()  # a half-written index
        raise RuntimeError("build failed")

    monkeypatch.setattr(diskannpy, "build_memory_index", fails)
    index = spec.create(spec.build_grid[0], *X.shape)
    with pytest.raises(RuntimeError, match="build failed"):
        with index:
            index.build(X)
    assert seen and not os.path.exists(seen[0]) and folders() <= before


@pytest.fixture
def no_diskannpy(monkeypatch):
    for module in [m for m in sys.modules if m == "diskannpy" or m.startswith("diskannpy.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "diskannpy", None)


def test_missing_library_is_listed_with_the_no_deps_install_line(no_diskannpy):
    spec = registry()[NAME]
    assert spec.install_line() == INSTALL and spec.extra is None
    assert spec.unavailable() == f"diskannpy is not installed; {INSTALL}"
    assert NAME not in available()
    r = CliRunner().invoke(main, ["indexes"])
    assert r.exit_code == 0 and "Traceback" not in r.output
    assert f"{NAME}: unavailable, diskannpy is not installed; {INSTALL}" in r.output.splitlines()
    with pytest.raises(SynthError) as e:
        spec.create(spec.build_grid[0], 100, 8)
    assert str(e.value) == f"index {NAME!r} is unavailable: diskannpy is not installed; {INSTALL}"
