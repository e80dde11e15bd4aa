"""Metrics beyond cosine: norm tables, their file round trip, determinism, ground truth, formats, refusals."""

import numpy as np
import pytest
from click.testing import CliRunner

from synth.cli import main
from synth.errors import SynthError
from synth.io.artifact import load_model, model_bytes, read_header, save_model
from synth.metric import check_metric, draw_norms, norm_table
from synth.models import PatchPCA


def raw_rows(n=1500, d=16, seed=0):
    """Gaussian rows whose norms vary by a factor of ten (so ip / l2 differ from cosine)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    return X * rng.uniform(0.3, 3.0, (n, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    X = raw_rows()
    return X, {m: PatchPCA(n_patches=6, rank=4, noise_scale=1.0, metric=m, random_state=0).fit(X)
               for m in ("cosine", "ip", "l2")}


def test_norm_table_is_monotone_and_each_level_a_mean_of_min_points():
    norms = np.arange(1.0, 41.0)  # 40 rows, min_points 20
    t = norm_table(norms, 20, levels=5)
    assert t.shape == (5,) and np.all(np.diff(t) >= 0)
    assert t[0] == pytest.approx(np.mean(norms[:20])) and t[-1] == pytest.approx(np.mean(norms[-20:]))
    assert draw_norms(t[None], np.zeros(3, int), np.array([0.0, 0.5, 0.999999])).tolist() == pytest.approx(
        [t[0], t[2], t[-1]], rel=1e-5)


def test_raw_rows_keep_norms_and_refuse_what_unit_rows_refuses_and_float32_overflow(tmp_path):
    # one check (synth.io.arrays.raw_rows) behind metric_rows and load_embeddings(normalize=False)
    from synth.io.formats import load_embeddings
    from synth.metric import metric_rows

    X = raw_rows(50).astype(np.float64)
    np.save(tmp_path / "x.npy", X)
    for got in (metric_rows(X, "l2"), load_embeddings(tmp_path / "x.npy", normalize=False)[0]):
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, X.astype(np.float32))
    bad = {"overflow.npy": (X * 1e38, "values overflow float32"), "nan.npy": (np.where(X > 2, np.nan, X), "NaN"),
           "zero.npy": (np.vstack([X, np.zeros((1, 16))]), "all zeros")}
    for name, (A, message) in bad.items():
        np.save(tmp_path / name, A)
        for call in (lambda: metric_rows(A, "ip", path=name),
                     lambda: load_embeddings(tmp_path / name, normalize=False)):
            with pytest.raises(SynthError, match=message) as e:
                call()
            assert e.value.path.endswith(name)


def test_bad_metric_is_refused():
    with pytest.raises(SynthError, match="metric must be one of cosine, ip, l2"):
        check_metric("dot")
    with pytest.raises(SynthError, match="metric must be one of"):
        PatchPCA(metric="L2").fit(raw_rows())


def test_ip_l2_samples_have_cosine_directions_and_real_norms(fitted):
    X, models = fitted
    cos = models["cosine"].sample(3000, random_state=1)
    assert np.allclose(np.linalg.norm(cos, axis=1), 1, atol=1e-5)
    for m in ("ip", "l2"):
        Y = models[m].sample(3000, random_state=1)
        norms = np.linalg.norm(Y, axis=1)
        np.testing.assert_allclose(Y / norms[:, None], cos, atol=1e-5)  # the directions' stream is cosine's
        assert models[m].norm_table_.shape == (models[m].n_patches_, 33)
        real = np.linalg.norm(X, axis=1)
        assert abs(np.median(norms) - np.median(real)) < 0.1 * np.median(real)
        assert norms.min() >= real.min() - 1e-6 and norms.max() <= real.max() + 1e-6
    assert models["cosine"].norm_table_ is None


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_norm_table_round_trips_through_the_file(tmp_path, fitted, metric):
    model = fitted[1][metric]
    path = tmp_path / "m.safetensors"
    save_model(model, path)
    loaded = load_model(path)
    assert loaded.metric == metric and read_header(path)["params"]["metric"] == metric
    np.testing.assert_array_equal(loaded.norm_table_, model.norm_table_)
    np.testing.assert_array_equal(loaded.sample(700, random_state=5), model.sample(700, random_state=5))
    assert model_bytes(loaded) == path.read_bytes()


def test_cosine_file_has_no_metric_and_loads_as_cosine(tmp_path, fitted):
    path = tmp_path / "m.safetensors"
    save_model(fitted[1]["cosine"], path)
    assert "metric" not in read_header(path)["params"]  # files of the default keep their bytes
    assert load_model(path).metric == "cosine" and load_model(path).norm_table_ is None


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_rows_depend_only_on_seed_and_row(fitted, metric):
    from synth.sampling.stream import iter_rows

    model = fitted[1][metric]
    whole = model.sample(9000, random_state=4)
    np.testing.assert_array_equal(model.sample(5000, random_state=4), whole[:5000])
    for threads, chunk in ((1, 1000), (2, 777)):
        got = np.concatenate(list(iter_rows(model, 4, 0, 9000, chunk_size=chunk, threads=threads)))
        np.testing.assert_array_equal(got, whole)
    np.testing.assert_array_equal(np.concatenate(list(iter_rows(model, 4, 4500, 9000, chunk_size=500))),
                                  whole[4500:])


def test_fit_cli_bad_metric_is_one_line_error(tmp_path):
    result = CliRunner().invoke(main, ["fit", "bundled", "-o", str(tmp_path / "m.safetensors"), "--metric", "dot"])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.output
    assert result.output.strip() == "Error: metric must be one of cosine, ip, l2, got 'dot'"
    result = CliRunner().invoke(main, ["fit", "bundled", "-o", str(tmp_path / "m.safetensors"), "--metric", "l2",
                                       "--kind", "fog"])
    assert result.exit_code != 0 and "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_fit_cli_l2_keeps_norms(tmp_path):
    np.save(tmp_path / "raw.npy", raw_rows(1200))
    out = tmp_path / "m.safetensors"
    result = CliRunner().invoke(main, ["fit", str(tmp_path / "raw.npy"), "-o", str(out), "--metric", "l2",
                                       "--patches", "5", "--rank", "4", "--noise-scale", "1"])
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.metric == "l2" and model.norm_table_.max() > 2
    assert np.linalg.norm(model.sample(100, random_state=0), axis=1).std() > 0.3


# ------------------------------------------------------------------ step 2: ground truth and output formats
@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_blockwise_ground_truth_equals_brute_force(metric):
    from synth.sampling.groundtruth import exact_neighbors

    base, queries = raw_rows(3000, 12, seed=1), raw_rows(40, 12, seed=2)
    ids, scores = exact_neighbors(base, queries, 10, block_rows=700, metric=metric)
    if metric == "l2":
        s = -((queries[:, None, :].astype(np.float64) - base[None].astype(np.float64)) ** 2).sum(-1)
    else:
        s = queries.astype(np.float64) @ base.T.astype(np.float64)
    want = np.argsort(-s, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(ids, want)
    np.testing.assert_allclose(scores, np.take_along_axis(s, want, 1), rtol=1e-4, atol=1e-3)
    # differs from cosine's neighbours on rows of varied norms
    cos_ids, _ = exact_neighbors(base / np.linalg.norm(base, axis=1, keepdims=True),
                                 queries / np.linalg.norm(queries, axis=1, keepdims=True), 10)
    assert not np.array_equal(ids, cos_ids)


@pytest.mark.parametrize("metric,name", [("cosine", "angular"), ("ip", "dot"), ("l2", "euclidean")])
def test_hdf5_distance_attribute_and_distances(tmp_path, fitted, metric, name):
    import h5py

    from synth.sampling.stream import sample_to_file, write_truth

    model = fitted[1][metric]
    out = tmp_path / "c.h5"
    info = sample_to_file(model, out, 2000, random_state=0, n_queries=20, k=5)
    write_truth(out, info["queries"], info["neighbors"], info["scores"], metric=metric)
    with h5py.File(out, "r") as f:
        assert f.attrs["distance"] == name
        base, q, nb, dist = f["train"][:], f["test"][:], f["neighbors"][:], f["distances"][:]
    np.testing.assert_array_equal(base, model.sample(2000, random_state=0))
    d0 = base[nb[:, 0]]
    if metric == "l2":
        want = np.linalg.norm(q - d0, axis=1)
        assert np.all(np.diff(dist, axis=1) >= -1e-5)  # ascending distances
    elif metric == "ip":
        want = -(q * d0).sum(1)
    else:
        want = 1 - (q * d0).sum(1)
    np.testing.assert_allclose(dist[:, 0], want, rtol=1e-4, atol=1e-4)


def test_sample_cli_l2_fbin_ground_truth(tmp_path, fitted):
    model_path = tmp_path / "m.safetensors"
    save_model(fitted[1]["l2"], model_path)
    out = tmp_path / "c.fbin"
    result = CliRunner().invoke(main, ["sample", str(model_path), "-n", "3000", "-o", str(out), "--queries", "10",
                                       "--neighbors", "4", "--threads", "2", "--chunk-size", "1000"])
    assert result.exit_code == 0, result.output
    raw = np.fromfile(out, dtype=np.float32)[2:].reshape(3000, -1)
    np.testing.assert_array_equal(raw, fitted[1]["l2"].sample(3000, random_state=0))
    gt = np.fromfile(tmp_path / "c.gt.bin", dtype=np.uint32)
    ids = gt[2:2 + 40].view(np.int32).reshape(10, 4)
    dist = gt[2 + 40:].view(np.float32).reshape(10, 4)
    q = np.fromfile(tmp_path / "c.queries.fbin", dtype=np.float32)[2:].reshape(10, -1)
    sq = ((q[:, None] - raw[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(ids, np.argsort(sq, axis=1, kind="stable")[:, :4])
    np.testing.assert_allclose(dist, np.sort(sq, axis=1)[:, :4], rtol=1e-4)  # big-ann: squared L2


def test_publish_refuses_l2_model(tmp_path, fitted):
    from synth.publish.hub import publish

    model_path = tmp_path / "m.safetensors"
    save_model(fitted[1]["l2"], model_path)
    with pytest.raises(SynthError, match="cosine models only"):
        publish(model_path, tmp_path / "pub", n=100, n_queries=10, k=5)


# ------------------------------------------------------------------ step 3: scores
def test_two_sample_l2_sees_norms_cosine_does_not():
    from synth.metrics.twosample import knn_two_sample

    rng = np.random.default_rng(0)
    D = rng.standard_normal((1200, 8)).astype(np.float32)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    real, fake = D[:600] * 1.0, D[600:] * 3.0  # same directions' law, norms 1 against 3
    assert knn_two_sample(real, fake, k=5, n_permutations=0)["c2st"] > 0.4
    assert knn_two_sample(real, fake, k=5, n_permutations=0, metric="l2")["c2st"] < 0.05
    same = knn_two_sample(D[:600] * 2.0, D[600:] * 2.0, k=5, n_permutations=0, metric="l2")["c2st"]
    assert same > 0.4
    with pytest.raises(SynthError, match="metric must be one of"):
        knn_two_sample(real, fake, k=5, metric="hamming")


def test_score_cli_l2(tmp_path, fitted):
    import json

    X, models = fitted
    np.save(tmp_path / "real.npy", raw_rows(600, seed=7))
    np.save(tmp_path / "fake.npy", models["l2"].sample(600, random_state=0))
    result = CliRunner().invoke(main, ["score", str(tmp_path / "real.npy"), str(tmp_path / "fake.npy"), "--metric",
                                       "l2", "--n", "300", "--permutations", "10", "--no-standard", "--json"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    assert r["metric"] == "l2" and 0 <= r["norms"]["ks"] < 0.2 and 0.2 < r["c2st"] <= 0.55
    bad = CliRunner().invoke(main, ["score", str(tmp_path / "real.npy"), str(tmp_path / "fake.npy"), "--metric", "x"])
    assert bad.exit_code != 0 and bad.output.strip() == "Error: metric must be one of cosine, ip, l2, got 'x'"


# ------------------------------------------------------------------ step 4: bench
L2_INDEXES = ["faiss-flat", "faiss-hnsw", "faiss-ivf", "faiss-ivfsq8", "faiss-ivfpq", "hnswlib"]


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("name", L2_INDEXES)
def test_metric_plugins_find_the_metric_neighbours(name, metric):
    from bench.indexes import get
    from bench.runner import measure_index, recall_at_k
    from bench.suites import make_corpus

    spec = get(name)
    if spec.unavailable():
        pytest.skip(spec.unavailable())
    base, queries = raw_rows(2000, 16, seed=3), raw_rows(50, 16, seed=4)
    corpus = make_corpus("c", base, queries, metric=metric)
    cosine = make_corpus("c", base / np.linalg.norm(base, axis=1, keepdims=True),
                         queries / np.linalg.norm(queries, axis=1, keepdims=True))
    assert not np.array_equal(corpus.neighbors[:, :10], cosine.neighbors[:, :10])
    index = spec.create(spec.build_grid[0], len(base), base.shape[1], metric=metric)
    index.build(base)
    last = spec.query_values[-1]
    index.set_query_params(**({spec.query_param: last} if spec.query_param else {}))
    found = index.search(queries, 10)
    got = recall_at_k(found, corpus, 10).mean()
    if name == "faiss-ivfpq":  # 2 codes of 8 bits per 16-d row: approximate, but closer to the metric than cosine
        assert got > recall_at_k(found, cosine, 10).mean() and got > 0.2
    else:  # at the most thorough setting the index finds the metric's neighbours
        assert got >= 0.97
        r = measure_index(spec, spec.build_grid[0], corpus, k=10, repeats=1)
        assert r["curve"][-1]["recall"] >= 0.97


def test_plugin_that_cannot_do_l2_refuses_in_one_line():
    from bench.indexes import registry, require

    others = [s for name, s in registry().items() if name not in L2_INDEXES]
    assert others
    for spec in others:
        if spec.unavailable():
            continue
        with pytest.raises(SynthError) as e:
            spec.create(spec.build_grid[0], 1000, 16, metric="l2")
        assert str(e.value).startswith(f"index {spec.name!r} cannot search by metric l2")
        assert "\n" not in str(e.value)
        with pytest.raises(SynthError, match=f"index {spec.name!r} cannot search by metric l2"):
            require([spec.name], metric="l2")
    # a fake plug-in without a metrics list is cosine only
    from bench.indexes.base import LibraryIndex

    assert LibraryIndex.metrics == ("cosine",)


def test_bench_cost_cli_refuses_bad_metric_and_cosine_only_plugin(tmp_path):
    from bench.cli import main as bench_main
    from bench.indexes import registry

    result = CliRunner().invoke(bench_main, ["cost", "bundled", "--out", str(tmp_path / "o"), "--metric", "cos"])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)
    assert result.output.strip() == "Error: metric must be one of cosine, ip, l2, got 'cos'"
    other = next((n for n, s in registry().items() if n not in L2_INDEXES and not s.unavailable()), None)
    if other is None:
        pytest.skip("no cosine-only plug-in installed")
    result = CliRunner().invoke(bench_main, ["cost", "bundled", "--out", str(tmp_path / "o"), "--metric", "l2",
                                             "--index", other])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [f"Error: index {other!r} cannot search by metric l2 (it supports "
                                                  "cosine)"]


def test_l2_corpus_round_trips_through_hdf5(tmp_path):
    from bench.suites import load_corpus, make_corpus, save_corpus

    corpus = make_corpus("real", raw_rows(500, 8, seed=5), raw_rows(20, 8, seed=6), metric="l2")
    save_corpus(corpus, tmp_path / "real.h5")
    back = load_corpus(tmp_path / "real.h5")
    assert back.metric == "l2"
    np.testing.assert_array_equal(back.base, corpus.base)
    np.testing.assert_array_equal(back.neighbors, corpus.neighbors)
    np.testing.assert_allclose(back.similarities, corpus.similarities, rtol=1e-4, atol=1e-5)


def test_search_cost_under_l2():
    from synth.metrics.searchcost import search_cost

    X = raw_rows(3000, 16, seed=8)
    cost = search_cost(X[:2500], X[2500:2700], k=10, recall=0.9, metric="l2")
    assert cost["ivf"] is not None and cost["hnsw"] is not None and 0 < cost["ivf"] < 2600


def test_cost_board_l2_small():
    from bench.cost import cost_board, markdown

    X = raw_rows(3400, 16, seed=9)
    r = cost_board(X, {"d": ("patch", {"n_patches": 20, "rank": 4, "noise_scale": 1.0})}, n_fit=2000, sizes=(1000,),
                   n_queries=100, indexes=("faiss-ivf", "faiss-hnsw"), repeats=1, metric="l2", source="raw")
    row = r["configs"]["d"]
    assert r["metric"] == "l2" and row["params"]["metric"] == "l2" and 0 < row["c2st"]["c2st"] <= 0.6
    assert row["norms"]["ks"] < 0.2
    for index in ("faiss-ivf", "faiss-hnsw"):
        assert r["real"]["1000"]["cost"][index]["ndis_at_target"]["0.95"] is not None
    assert "Metric l2" in markdown(r) and "**row norms**" in markdown(r)


def test_fidelity_scoreboard_l2_small():
    from bench.fidelity import markdown, scoreboard

    X = raw_rows(2600, 16, seed=10)
    r = scoreboard(X, {"d": ("patch", {"n_patches": 20, "rank": 4, "noise_scale": 1.0})}, n_train=2000,
                   sizes=(300,), n_permutations=10, hnsw=True, n_queries=100, metric="l2", source="raw")
    row = r["configs"][0]
    assert r["metric"] == "l2" and row["params"]["metric"] == "l2" and row["norms"]["ks"] < 0.2
    assert 0 < row["c2st"]["300"]["c2st"] <= 0.6 and row["hnsw"]["ratio"] is not None
    assert "Metric l2" in markdown(r) and "**row norms**" in markdown(r)
    r["real"]["hnsw"]["ndis_at_0.95"] = None  # real not reached (the word table under l2 at n = 20,000)
    assert "| real | | | | | | | | not reached |" in markdown(r)
    with pytest.raises(SynthError, match="configuration 'fog': metric l2 needs kind patch"):
        scoreboard(X, {"fog": ("fog", {})}, n_train=2000, sizes=(300,), metric="l2")


@pytest.mark.slow
def test_bench_compare_and_run_l2(tmp_path):
    import h5py

    from bench.cli import main as bench_main

    X = raw_rows(4000, 16, seed=11)
    np.save(tmp_path / "raw.npy", X)
    out = tmp_path / "o"
    result = CliRunner().invoke(bench_main, ["compare", str(tmp_path / "raw.npy"), "--out", str(out), "--n", "1000",
                                             "--queries", "50", "--metric", "l2", "--index", "faiss-ivf",
                                             "--index", "faiss-hnsw", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    with h5py.File(out / "suite" / "real.h5", "r") as f:
        assert f.attrs["distance"] == "euclidean"
    again = CliRunner().invoke(bench_main, ["run", str(out / "suite"), "--out", str(tmp_path / "r"), "--index",
                                            "faiss-ivf", "--repeats", "1"])
    assert again.exit_code == 0, again.output
    refused = CliRunner().invoke(bench_main, ["compare", str(tmp_path / "raw.npy"), "--out", str(tmp_path / "x"),
                                              "--metric", "l2", "--index", "pynndescent"])
    if "unavailable" not in refused.output:
        assert refused.output.strip().splitlines() == [
            "Error: index 'pynndescent' cannot search by metric l2 (it supports cosine)"]


RECIPE = """name: tiny
source:
  embeddings: raw.npy
split:
  train: 1000
fit:
  patches: 8
  rank: 4
  noise_scale: 1
  metric: l2
score:
  n: 200
  permutations: 10
sample:
  - path: out/fake.h5
    n: 500
    queries: 10
    neighbors: 5
"""


def test_recipe_fit_metric(tmp_path):
    import h5py

    from synth.publish.recipe import load_recipe

    np.save(tmp_path / "raw.npy", raw_rows(1400))
    (tmp_path / "r.yml").write_text(RECIPE)
    result = CliRunner().invoke(main, ["recipe", "run", str(tmp_path / "r.yml"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert load_model(tmp_path / "run" / "model.safetensors").metric == "l2"
    with h5py.File(tmp_path / "run" / "out" / "fake.h5", "r") as f:
        assert f.attrs["distance"] == "euclidean" and f["neighbors"].shape == (10, 5)
    (tmp_path / "bad.yml").write_text(RECIPE.replace("metric: l2", "metric: dot"))
    with pytest.raises(SynthError, match="fit.metric"):
        load_recipe(tmp_path / "bad.yml")
    (tmp_path / "bench.yml").write_text(RECIPE + "bench:\n  n: 100\n")
    with pytest.raises(SynthError, match="cosine only; fit.metric is l2"):
        load_recipe(tmp_path / "bench.yml")


def test_norm_tables_count_in_the_size_cap():
    from synth.models.patch import auto_patches, patch_bytes

    assert patch_bytes(384, 40, norms=True) == patch_bytes(384, 40) + 4 * 33
    assert auto_patches(10**6, 384, 40, 16.0, norms=True) < auto_patches(10**6, 384, 40, 16.0)


def test_shards_and_merge_l2(tmp_path, fitted):
    model_path = tmp_path / "m.safetensors"
    save_model(fitted[1]["l2"], model_path)
    for i in range(2):
        r = CliRunner().invoke(main, ["sample", str(model_path), "-n", "3000", "-o", str(tmp_path / f"s{i}.npy"),
                                      "--shard", f"{i}/2", "--queries", "8", "--neighbors", "4"])
        assert r.exit_code == 0, r.output
    whole = fitted[1]["l2"].sample(3000, random_state=0)
    np.testing.assert_array_equal(np.concatenate([np.load(tmp_path / f"s{i}.npy") for i in range(2)]), whole)
    parts = sorted(str(p) for p in tmp_path.glob("s*.neighbors-part-*.npz"))
    assert len(parts) == 2
    r = CliRunner().invoke(main, ["merge-neighbors", str(tmp_path / "all.npy"), *parts, "--neighbors", "4"])
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "all.neighbors.npz") as z:
        ids = z["ids"]
    q = np.load(tmp_path / "all.queries.npy")
    sq = ((q[:, None].astype(np.float64) - whole[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(ids, np.argsort(sq, axis=1, kind="stable")[:, :4])


def test_audit_runs_on_an_l2_model(fitted):
    from synth.metrics.privacy import membership_attacks

    X, models = fitted
    r = membership_attacks(models["l2"], X[:500], raw_rows(500, seed=12), n=200, n_fakes=2000, n_boot=10)
    assert 0.3 < r["attacks"]["nearest_fake"]["auc"] < 0.7
