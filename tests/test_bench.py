import json

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.hardness import lid_mle, relative_contrast
from bench.runner import cost_at_target, recall_at_k
from bench.suites import build_suite, load_suite, make_corpus, save_suite
from synth.bundled import load_minilm_wordnet
from synth.errors import SynthError


def unit(X):
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def small_suite():
    # given models (a fixed noise scale, fixed fog knobs: no tuning) keep the fixture quick; the patch and fog
    # fits on the spot run in test_compare_then_run_reproduces below (slow; .ci/run runs it)
    from synth.models import Fog, PatchPCA

    X = load_minilm_wordnet()
    model = PatchPCA(n_patches=20, noise_scale=1.0, random_state=0).fit(X[3600:6000])
    fog = Fog(n_clusters=20, spread=1.0, offset=0.0, random_state=0).fit(X[3600:6000])
    return build_suite(X[:3600], model=model, fog=fog, n=1500, n_queries=60, random_state=0)


def test_recall_is_tie_tolerant():
    rng = np.random.default_rng(0)
    base = unit(rng.standard_normal((200, 16)))
    base[1] = base[0]  # an exact tie
    queries = unit(base[:5] + 0.01 * rng.standard_normal((5, 16)))
    corpus = make_corpus("t", base, queries, depth=10)
    exact = corpus.neighbors[:, :3]
    np.testing.assert_array_equal(recall_at_k(exact, corpus, 3), 1.0)
    swapped = exact.copy()
    row = np.flatnonzero((exact == 0).any(axis=1))[0]
    swapped[row] = np.where(exact[row] == 0, 1, np.where(exact[row] == 1, 0, exact[row]))
    np.testing.assert_array_equal(recall_at_k(swapped, corpus, 3), 1.0)
    missing = exact.copy()
    missing[:, 2] = -1
    np.testing.assert_allclose(recall_at_k(missing, corpus, 3), 2 / 3)
    far = np.argsort(queries @ base.T, axis=1)[:, :3]  # the three least similar rows
    np.testing.assert_array_equal(recall_at_k(far, corpus, 3), 0.0)


def test_cost_is_interpolated_at_target_recall():
    curve = [{"recall": 0.80, "ndis": 100.0, "qps": 1000.0},
             {"recall": 0.90, "ndis": 200.0, "qps": 500.0},
             {"recall": 0.88, "ndis": 300.0, "qps": 400.0},  # noise: never credited below 0.90
             {"recall": 1.00, "ndis": 400.0, "qps": 250.0}]
    assert cost_at_target(curve, 0.85, "ndis") == pytest.approx(150.0)
    assert cost_at_target(curve, 0.90, "ndis") == pytest.approx(200.0)
    assert cost_at_target(curve, 0.95, "ndis") == pytest.approx(300.0)  # between 0.90@200 and 1.00@400
    # qps: time per query (2 ms -> 4 ms) is interpolated, then inverted
    assert cost_at_target(curve, 0.95, "qps") == pytest.approx(1 / (0.002 + 0.5 * 0.002))
    assert cost_at_target(curve, 0.5, "ndis") == 100.0  # the cheapest setting already reaches it
    assert cost_at_target(curve[:2], 0.95, "ndis") is None  # not reached
    assert cost_at_target([{"recall": 1.0, "ndis": None, "qps": 5.0}], 0.9, "ndis") is None


def test_suite_corpora_are_equal_sized_with_disjoint_queries_and_exact_truth(small_suite):
    assert list(small_suite) == ["real", "fake", "fog", "random"]
    for name, c in small_suite.items():
        assert c.base.shape == (1500, 384) and c.queries.shape == (60, 384), name
        sims = c.queries @ c.base.T
        assert sims.max() < 1 - 1e-6, f"{name}: a query is in its base"
        exact = np.argsort(-sims, axis=1)[:, :10]
        top = np.take_along_axis(sims, c.neighbors[:, :10], axis=1)
        np.testing.assert_allclose(top, np.take_along_axis(sims, exact, axis=1), atol=1e-5)
    assert not np.array_equal(small_suite["fake"].base[:5], small_suite["fake"].queries[:5])


def test_suite_round_trips_through_ann_benchmarks_hdf5(small_suite, tmp_path):
    import h5py

    paths = save_suite(small_suite, tmp_path)
    with h5py.File(paths[0]) as f:
        assert set(f) == {"train", "test", "neighbors", "distances"}
        assert f.attrs["distance"] == "angular" and f.attrs["dimension"] == 384
        np.testing.assert_allclose(f["distances"][0, :3], 1 - small_suite["real"].similarities[0, :3], atol=1e-6)
    loaded = load_suite([tmp_path])
    assert list(loaded) == list(small_suite)
    for name in small_suite:
        np.testing.assert_array_equal(loaded[name].base, small_suite[name].base)
        np.testing.assert_array_equal(loaded[name].neighbors, small_suite[name].neighbors)
        assert loaded[name].meta == small_suite[name].meta


def test_too_little_real_data_is_refused():
    with pytest.raises(SynthError, match="too few"):
        build_suite(load_minilm_wordnet()[:3000], n=1500, n_queries=100)


def test_hardness_known_answers():
    rng = np.random.default_rng(0)
    # points spread over a 3-d subsphere: local dimension about 2 (the sphere S^2)
    base = np.zeros((20000, 32), np.float32)
    base[:, :3] = unit(rng.standard_normal((20000, 3)))
    queries = np.zeros((200, 32), np.float32)
    queries[:, :3] = unit(rng.standard_normal((200, 3)))
    c = make_corpus("s2", base, queries, depth=20)
    lid = lid_mle(c.similarities, k=20)
    assert 1.5 < np.median(lid) < 2.6
    rc = relative_contrast(c.base, c.queries, c.similarities, k=10)
    assert (rc > 1).all()
    # in high dimension the k-th neighbour is barely closer than a random point
    hi = make_corpus("hi", unit(rng.standard_normal((5000, 512))), unit(rng.standard_normal((50, 512))))
    assert np.median(relative_contrast(hi.base, hi.queries, hi.similarities)) < 1.2 < np.median(rc)


@pytest.mark.slow
def test_compare_then_run_reproduces(tmp_path):
    np.save(tmp_path / "real.npy", load_minilm_wordnet()[:3100])
    out = tmp_path / "cmp"
    r = CliRunner().invoke(main, ["compare", str(tmp_path / "real.npy"), "--n", "1000", "--queries", "50", "--index", "faiss-hnsw",
                                  "--index", "hnswlib", "--repeats", "1", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    first = json.loads(r.stdout)
    for index in ("faiss-hnsw", "hnswlib"):
        assert set(first["results"][index]) == {"real", "fake", "fog", "random"}
        for corpus in first["results"][index].values():
            assert set(corpus["ndis_at_target"]) == {"0.90", "0.95", "0.99"}
            assert corpus["curve"] and {"param", "recall", "ndis", "qps"} <= set(corpus["curve"][0])
    assert all(p["ndis"] is None for p in first["results"]["hnswlib"]["real"]["curve"])
    assert first["results"]["faiss-hnsw"]["real"]["ndis_at_target"]["0.90"] > 0
    for name in ("results.json", "results.md", "curves-faiss-hnsw.png", "hardness.png"):
        assert (out / name).exists(), name
    r = CliRunner().invoke(main, ["run", str(out / "suite"), "--index", "faiss-hnsw", "--index", "hnswlib",
                                  "--repeats", "1", "--out", str(tmp_path / "again"), "--json"])
    assert r.exit_code == 0, r.output
    again = json.loads(r.stdout)
    for index in ("faiss-hnsw", "hnswlib"):
        for corpus in ("real", "fake", "fog", "random"):
            a, b = first["results"][index][corpus], again["results"][index][corpus]
            assert [(p["recall"], p["ndis"]) for p in a["curve"]] == [(p["recall"], p["ndis"]) for p in b["curve"]]
            assert a["ndis_at_target"] == b["ndis_at_target"]


def test_run_refuses_foreign_files(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((3, 3)))
    import h5py

    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["train"] = np.ones((3, 3))
    r = CliRunner().invoke(main, ["run", str(tmp_path / "x.h5"), "--out", str(tmp_path / "o")])
    assert r.exit_code != 0 and "x.h5: not an ann-benchmarks file: no test, neighbors, distances" in r.output
