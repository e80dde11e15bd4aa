"""Labels and filtered search: `synth fit --labels`, labelled `synth sample` outputs with filtered ground truth, and
`bench filtered`."""
import json

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import assert_one_line_error, blobs
from scipy.sparse import csr_matrix

from bench.cli import main as bench_main
from bench.filtered import filtered_board
from synth.cli import main
from synth.io.artifact import load_model, model_bytes
from synth.models import PatchPCA
from synth.models.labels import OTHER, LabelModel, choose_filter, label_purity, label_uniforms
from synth.sampling.labels import read_spmat
from synth.sampling.stream import iter_rows, sample_to_file

SMALL = ("--patches", 6, "--rank", 4, "--noise-scale", 1)


def run(*args, cli=main):
    return CliRunner().invoke(cli, [str(a) for a in args])


def labelled(n=3000, d=16, centers=5, seed=0):
    """Blobs whose label is mostly their cluster (a fifth flipped at random), and 12 rows of a rare label."""
    rng = np.random.default_rng(seed)
    X = blobs(n, d, centers, seed)
    cluster = np.argmax(X @ np.linalg.qr(rng.standard_normal((d, centers)))[0], axis=1)
    y = np.array([f"c{c}" for c in cluster], dtype="<U8")
    flip = rng.random(n) < 0.2
    y[flip] = rng.choice(sorted(set(y)), size=flip.sum())
    y[:12] = "rare"
    return X, y


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("labelled")
    X, y = labelled()
    np.save(folder / "real.npy", X)
    (folder / "labels.txt").write_text("\n".join(y) + "\n")
    r = run("fit", folder / "real.npy", "--labels", folder / "labels.txt", "-o", folder / "m.safetensors", *SMALL)
    assert r.exit_code == 0, r.output
    return folder, X, y, r.output


def test_the_label_model_matches_real_purity_and_shares_and_pools_rare_labels(data):
    folder, X, y, output = data
    gen = load_model(folder / "m.safetensors")
    lm = gen.label_model_
    assert "rare" not in lm.classes_ and lm.classes_[-1] != OTHER  # 12 rows < min_points, too few to pool
    assert lm.fit_info_["left_out_rows"] == 12 and "12 rows of rarer labels left out" in output
    assert abs(lm.fit_info_["fake_purity"] - lm.fit_info_["real_purity"]) < 0.01
    F = gen.sample(3000, random_state=5)
    names = np.array(lm.classes_)[lm.labels(F, label_uniforms(5, 0, 3000))]
    real = label_purity(X[12:], y[12:])
    assert abs(label_purity(F, names) - real) < 0.06, (label_purity(F, names), real)
    share = {c: np.mean(y[12:] == c) for c in lm.classes_}
    assert sum(abs(np.mean(names == c) - share[c]) for c in lm.classes_) < 0.08
    # labels follow the geometry: a fake's label is mostly the cluster its nearest real rows carry
    from synth.metrics.neighbors import knn

    _, ids = knn(X, F[:500], k=1)
    assert np.mean(names[:500] == y[ids[:, 0]]) > 0.5
    # the file round-trips to its own bytes
    assert model_bytes(gen, gen.header_["fit_data"], gen.header_["stats"], gen.header_["fit_check"]) == \
        (folder / "m.safetensors").read_bytes()


def test_a_temperature_and_intercepts_are_fitted_not_fixed():
    X, y = labelled(seed=1)
    fakes = PatchPCA(n_patches=6, rank=4, noise_scale=1.0, random_state=0).fit(X).sample(3000, random_state=1)
    sharp = LabelModel().fit(X, y, fakes)
    y_noisy = y.copy()
    rng = np.random.default_rng(3)
    flip = rng.random(len(y)) < 0.5
    y_noisy[flip] = rng.choice(sorted(set(y)), size=flip.sum())
    loose = LabelModel().fit(X, y_noisy, fakes)
    # noisier real labels cluster less, and the fitted purity follows them down
    assert loose.fit_info_["real_purity"] < sharp.fit_info_["real_purity"] - 0.1
    assert loose.fit_info_["fake_purity"] < sharp.fit_info_["fake_purity"] - 0.1
    assert loose.temperature_ != sharp.temperature_


def test_a_background_share_keeps_the_class_shares_and_is_stored():
    X, y = labelled(seed=4)
    model = PatchPCA(n_patches=6, rank=4, noise_scale=1.0, random_state=0).fit(X)
    plain = LabelModel().fit(X, y, model.sample(3000, random_state=1))
    spread = LabelModel(background=0.3).fit(X, y, model.sample(3000, random_state=1))
    F = model.sample(3000, random_state=2)
    for lm in (plain, spread):
        got = np.bincount(lm.labels(F, label_uniforms(2, 0, 3000)), minlength=len(lm.classes_)) / 3000
        assert np.abs(got - lm.shares_).sum() < 0.08
    # to keep the purity with a share of labels drawn regardless of place, the rest must be sharper
    assert spread.temperature_ < plain.temperature_
    P = spread.proba(F)
    assert P.min() >= 0.3 * spread.shares_.min() - 1e-6
    again = LabelModel()._set_arrays(spread._arrays(), spread.classes_)
    assert np.allclose(again.proba(F), P) and again.background_ == 0.3


def test_rare_labels_that_together_reach_min_points_are_pooled():
    X, y = labelled(seed=2)
    y[12:40] = np.where(np.arange(28) % 2, "odd", "even")  # 12 + 14 + 14 rows of three rare labels: 40 in all
    fakes = PatchPCA(n_patches=6, rank=4, noise_scale=1.0, random_state=0).fit(X).sample(3000, random_state=1)
    lm = LabelModel().fit(X, y, fakes)
    assert lm.classes_[-1] == OTHER and lm.fit_info_["pooled_rows"] == 40


def test_labels_do_not_depend_on_chunks_or_shards(data, tmp_path):
    folder = data[0]
    gen = load_model(folder / "m.safetensors")
    whole = sample_to_file(gen, tmp_path / "a.npy", 3000, random_state=4, chunk_size=257)["labels"]
    again = sample_to_file(gen, tmp_path / "b.npy", 3000, random_state=4, chunk_size=3000)["labels"]
    parts = [sample_to_file(gen, tmp_path / f"s{i}.npy", 3000, random_state=4, shard=(i, 2))["labels"] for i in (0, 1)]
    assert np.array_equal(whole, again) and np.array_equal(whole, np.concatenate(parts))
    rows = np.concatenate(list(iter_rows(gen, 4, 0, 3000)))
    assert np.array_equal(whole, gen.label_model_.labels(rows, label_uniforms(4, 0, 3000)))
    other_seed = sample_to_file(gen, tmp_path / "c.npy", 3000, random_state=5)["labels"]
    assert not np.array_equal(whole, other_seed)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["base.fbin", "folder"])
def test_dask_writes_the_labels_and_filtered_truth_of_the_single_process_run(data, tmp_path, name):
    """On Dask each task labels its rows and finds its rows' filtered top-k; the client joins and merges them into
    the same files, byte for byte, as one process writes."""
    pytest.importorskip("distributed")
    folder = data[0]
    args = ["-n", 2000, "--queries", 30, "--neighbors", 5, "--filter-selectivity", "0.05,0.5,query", "--seed", 2]
    single, dask = tmp_path / "one", tmp_path / "dask"
    single.mkdir(), dask.mkdir()
    r = run("sample", folder / "m.safetensors", "-o", single / name, *args, "--files", 3)
    assert r.exit_code == 0, r.output
    r = run("sample", folder / "m.safetensors", "-o", dask / name, *args, "--workers", 2, "--tasks", 3)
    assert r.exit_code == 0, r.output
    assert "wrote the labels" in r.output and "filtered top-5 neighbours for 3 filters" in r.output
    assert "wrote the queries' own labels" in r.output
    names = sorted(str(p.relative_to(single)) for p in single.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(dask)) for p in dask.rglob("*") if p.is_file())
    assert any("labels" in x for x in names) and any("filter-0.5" in x or "labels_0.5" in x for x in names), names
    for x in names:
        if not x.endswith("manifest.json"):
            assert (single / x).read_bytes() == (dask / x).read_bytes(), x


def _kept_truth(base, queries, codes, ids, k):
    keep = np.flatnonzero(np.isin(codes, ids))
    order = np.argsort(-(queries @ base[keep].T), axis=1, kind="stable")[:, :k]
    return keep[order]


@pytest.mark.parametrize("name", ["base.fbin", "base.npy", "base.h5", "base.parquet", "folder"])
def test_sample_writes_labels_and_exact_filtered_truth_in_each_format(data, tmp_path, name):
    folder = data[0]
    out = tmp_path / name
    r = run("sample", folder / "m.safetensors", "-n", 2000, "-o", out, "--queries", 30, "--neighbors", 5,
            "--filter-selectivity", "0.05,0.5", "--seed", 2)
    assert r.exit_code == 0, r.output
    gen = load_model(folder / "m.safetensors")
    base = np.concatenate(list(iter_rows(gen, 2, 0, 2000)))
    expect = sample_to_file(gen, tmp_path / "check.npy", 2000, random_state=2)["labels"]
    stem = tmp_path / "base"
    if name == "base.fbin":  # big-ann's filtered-track metadata, read as its dataset_io reads it
        codes, ncol = read_spmat(f"{stem}.labels.spmat")
        with open(f"{stem}.labels.spmat", "rb") as f:
            nrow, ncol2, nnz = np.fromfile(f, np.int64, 3)
            indptr = np.fromfile(f, np.int64, nrow + 1)
            indices = np.fromfile(f, np.int32, nnz)
            m = csr_matrix((np.fromfile(f, np.float32, nnz), indices, indptr), shape=(nrow, ncol2))
        assert np.array_equal(m.indices, expect) and ncol == len(gen.label_model_.classes_)
        codes = expect
    elif name == "base.npy":
        codes = np.load(f"{stem}.labels.npy")
    elif name == "base.h5":
        with h5py.File(out) as f:
            codes = f["labels"][:]
            assert json.loads(f.attrs["label_classes"]) == gen.label_model_.classes_
            assert f["neighbors"].shape == (30, 5)  # the corpus's own truth is still there
    elif name == "base.parquet":
        t = pq.read_table(f"{stem}.labels.parquet").to_pydict()
        codes = np.array([gen.label_model_.classes_.index(c) for c in t["labels"]])
        assert t["id"] == list(range(2000))
    else:  # VectorDBBench's scalar-label file
        t = pq.read_table(out / "scalar_labels.parquet").to_pydict()
        codes = np.array([gen.label_model_.classes_.index(c) for c in t["labels"]])
    assert np.array_equal(codes, expect)
    meta = json.loads((out / "filters.json" if name == "folder" else tmp_path / "base.filters.json").read_text())
    queries = sample_to_file(gen, tmp_path / "q.npy", 2000, random_state=2, n_queries=30, k=5)["queries"]
    for key, f in meta.items():
        assert abs(f["share"] - np.isin(codes, f["ids"]).mean()) < 1e-9 and f["classes"]
        path = (out if name == "folder" else tmp_path) / f["file"]
        if name == "base.fbin":
            with open(path, "rb") as fh:
                qn, k = np.fromfile(fh, np.uint32, 2)
                got = np.fromfile(fh, np.int32, qn * k).reshape(qn, k)
        elif name == "base.npy":
            got = np.load(path)["ids"]
        elif name == "base.h5":
            with h5py.File(path) as fh:
                got = fh["neighbors"][:]
        else:
            got = np.array(pq.read_table(path).to_pydict()["neighbors_id"])
        assert np.array_equal(got, _kept_truth(base, queries, codes, f["ids"], 5)), key
    labels_json = json.loads((out / "labels.json" if name == "folder" else tmp_path / "base.labels.json").read_text())
    assert labels_json["classes"] == gen.label_model_.classes_


@pytest.mark.parametrize("name", ["base.fbin", "base.h5"])
def test_the_per_query_filter_gives_each_query_its_own_label_and_truth(data, tmp_path, name):
    """--filter-selectivity query: each query's label is drawn from the label model at the query (its own label
    stream), written as big-ann's query metadata (.spmat) or the .h5's test_labels, and its ground truth is its
    exact top-k among the rows of its class."""
    folder = data[0]
    out = tmp_path / name
    r = run("sample", folder / "m.safetensors", "-n", 2000, "-o", out, "--queries", 30, "--neighbors", 5,
            "--filter-selectivity", "0.5,query", "--seed", 2)
    assert r.exit_code == 0, r.output
    assert "wrote the queries' own labels" in r.output
    gen = load_model(folder / "m.safetensors")
    base = np.concatenate(list(iter_rows(gen, 2, 0, 2000)))
    codes = sample_to_file(gen, tmp_path / "check.npy", 2000, random_state=2)["labels"]
    queries = sample_to_file(gen, tmp_path / "q.npy", 2000, random_state=2, n_queries=30, k=5)["queries"]
    if name == "base.fbin":
        qcodes, ncol = read_spmat(tmp_path / "base.queries.labels.spmat")
        assert ncol == len(gen.label_model_.classes_)
        with open(tmp_path / "base.gt.filter-query.bin", "rb") as fh:
            qn, k = np.fromfile(fh, np.uint32, 2)
            got = np.fromfile(fh, np.int32, qn * k).reshape(qn, k)
    else:
        with h5py.File(tmp_path / "base.h5") as f:
            qcodes = f["test_labels"][:]
        with h5py.File(tmp_path / "base.filter-query.h5") as f:
            got = f["neighbors"][:]
    assert len(set(qcodes)) > 1  # the queries' labels vary, as the rows' do
    for q, c in enumerate(qcodes):
        assert np.array_equal(got[q], _kept_truth(base, queries[q:q + 1], codes, [c], 5)[0]), q
    meta = json.loads((tmp_path / "base.filters.json").read_text())
    expect = np.mean([np.mean(codes == c) for c in qcodes])
    assert abs(meta["query"]["share"] - expect) < 1e-9 and meta["query"]["target"] == "query"


def test_label_errors_are_one_line_and_leave_nothing(data, tmp_path):
    folder, X = data[0], data[1]
    (tmp_path / "short.txt").write_text("a\nb\n")
    r = run("fit", folder / "real.npy", "--labels", tmp_path / "short.txt", "-o", tmp_path / "m.safetensors", *SMALL)
    assert_one_line_error(r, tmp_path / "short.txt", "2 labels for 3,000 rows")
    np.save(tmp_path / "floats.npy", np.zeros(len(X)))
    r = run("fit", folder / "real.npy", "--labels", tmp_path / "floats.npy", "-o", tmp_path / "m.safetensors", *SMALL)
    assert_one_line_error(r, tmp_path / "floats.npy", "not floats")
    r = run("fit", folder / "real.npy", "--labels", "lexname", "-o", tmp_path / "m.safetensors", *SMALL)
    assert r.exit_code == 1 and "named labels 'lexname' exist for bundled" in r.output
    assert not (tmp_path / "m.safetensors").exists()
    r = run("fit", folder / "real.npy", "-o", tmp_path / "plain.safetensors", *SMALL)
    r = run("sample", tmp_path / "plain.safetensors", "-n", 500, "-o", tmp_path / "x.npy", "--queries", 5,
            "--neighbors", 3, "--filter-selectivity", "0.1")
    assert_one_line_error(r, tmp_path / "plain.safetensors", "needs a model with a label model")
    r = run("sample", folder / "m.safetensors", "-n", 500, "-o", tmp_path / "x.npy", "--filter-selectivity", "0.1")
    assert r.exit_code == 1 and "needs --queries and --neighbors" in r.output
    r = run("sample", folder / "m.safetensors", "-n", 500, "-o", tmp_path / "x.npy", "--queries", 5,
            "--neighbors", 3, "--filter-selectivity", "0.1", "--shard", "0/2")
    assert r.exit_code == 1 and "not written for a shard of several" in r.output
    assert not list(tmp_path.glob("x*"))
    r = run("filtered", folder / "real.npy", "--labels", folder / "labels.txt", "--model",
            tmp_path / "plain.safetensors", "--out", tmp_path / "board", cli=bench_main)
    assert r.exit_code == 1 and "no label model" in r.output and not (tmp_path / "board").exists()


@pytest.mark.slow
def test_labels_set_by_knobs_without_real_labels(data, tmp_path):
    """classes=C,purity=P,zipf=S: C classes with Zipf shares among the fakes and the purity asked; the classes
    anchor on fakes, so nothing comes from real labels; an unreachable purity is said, not faked."""
    folder = data[0]
    r = run("fit", folder / "real.npy", "--labels", "classes=4,purity=0.5,zipf=1", "-o", tmp_path / "k.safetensors",
            *SMALL)
    assert r.exit_code == 0, r.output
    lm = load_model(tmp_path / "k.safetensors").label_model_
    assert lm.classes_ == ["c0", "c1", "c2", "c3"] and lm.fit_info_["knob"]["purity"] == 0.5
    assert abs(lm.fit_info_["fake_purity"] - 0.5) < 0.02 and "real_purity" not in lm.fit_info_
    gen = load_model(tmp_path / "k.safetensors")
    codes = sample_to_file(gen, tmp_path / "s.npy", 6000, random_state=1)["labels"]
    rows = np.concatenate(list(iter_rows(gen, 1, 0, 6000)))
    shares = np.bincount(codes, minlength=4) / len(codes)
    expect = 1 / np.arange(1, 5)
    assert np.abs(shares - expect / expect.sum()).max() < 0.03, shares
    assert abs(label_purity(rows[:3000], codes[:3000]) - 0.5) < 0.05
    r = run("fit", folder / "real.npy", "--labels", "classes=4,purity=0.99", "-o", tmp_path / "h.safetensors", *SMALL)
    assert r.exit_code == 0 and "Warning:" in r.output and "out of reach" in r.output
    for bad, words in (("classes=1", "between 2 and 10,000"), ("classes=4,colour=2", "unknown knob 'colour'"),
                       ("classes=x", "classes must be a number"), ("classes=4,purity=1.5", "purity must be in (0, 1)")):
        r = run("fit", folder / "real.npy", "--labels", bad, "-o", tmp_path / "bad.safetensors", *SMALL)
        assert r.exit_code == 1 and r.output.count("\n") == 1 and words in r.output, (bad, r.output)
    assert not (tmp_path / "bad.safetensors").exists()


def test_choose_filter_takes_the_nearest_share_on_a_log_scale():
    shares = {"a": 0.5, "b": 0.3, "c": 0.15, "d": 0.04, "e": 0.01}
    assert choose_filter(shares, 0.01) == (["e"], 0.01)
    assert choose_filter(shares, 0.05) == (["d", "e"], 0.05)
    assert choose_filter(shares, 0.8) == (["a", "b"], 0.8)
    assert choose_filter(shares, 1.0)[0] == ["a", "b", "c", "d", "e"]


@pytest.mark.slow
def test_the_filtered_board_measures_both_corpora_under_each_filter(tmp_path):
    X, y = labelled(6000, seed=3)
    r = filtered_board(X, y, config=("patch", {"n_patches": 6, "rank": 4, "noise_scale": 1.0}), n_fit=2000, n=3000,
                       n_queries=60, selectivities=(0.1, 0.5), verbose=False)
    assert set(r["filters"]) == {"0.1", "0.5"}
    for corpus in ("real", "fake"):
        for name, f in r["filters"].items():
            row = r[corpus][name]
            assert 0.03 < row["selectivity"] < 0.8 and row["rows"] > 10
            # a narrower filter costs IVF fewer distance computations, never more than the rows it keeps + nlist
            assert row["ivf"]["0.95"] <= row["rows"] + 60
        assert r[corpus]["0.1"]["ivf"]["0.95"] < r[corpus]["0.5"]["ivf"]["0.95"]
    assert all(v is not None for f in r["ratios"].values() for v in f.values())
    assert 0 < r["purity"]["fake"] < 1 and abs(r["purity"]["fake"] - r["purity"]["real"]) < 0.1
    out = tmp_path / "board"
    np.save(tmp_path / "real.npy", X)
    (tmp_path / "labels.txt").write_text("\n".join(y) + "\n")
    res = run("filtered", tmp_path / "real.npy", "--labels", tmp_path / "labels.txt", "--fit", 2000, "-n", 3000,
              "--queries", 40, "--selectivity", "0.2", "--config", "s=patch:n_patches=6,rank=4,noise_scale=1.0",
              "--out", out, "--json", cli=bench_main)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["filters"]["0.2"]["classes"] and (out / "filtered.md").exists()
    # index plug-ins under the same filters: faiss's IVF counts what the board's own IVF counts, on its own cells
    res = run("filtered", tmp_path / "real.npy", "--labels", tmp_path / "labels.txt", "--fit", 2000, "-n", 3000,
              "--queries", 40, "--selectivity", "0.2", "--config", "s=patch:n_patches=6,rank=4,noise_scale=1.0",
              "--index", "faiss-ivf", "--index", "hnswlib", "--repeats", 1, "--out", out, "--force", "--json",
              cli=bench_main)
    assert res.exit_code == 0, res.output
    board = json.loads(res.output)
    for corpus in ("real", "fake"):
        ivf = board["indexes"]["faiss-ivf"][corpus]["filters"]["0.2"]
        assert 0.5 < ivf["ndis_at_target"]["0.95"] / board[corpus]["0.2"]["ivf"]["0.95"] < 2
        hnswlib = board["indexes"]["hnswlib"][corpus]["filters"]["0.2"]
        assert hnswlib["ndis_at_target"]["0.95"] is None and hnswlib["qps_at_target"]["0.95"] > 0
    assert board["indexes"]["hnswlib"]["ratios"]["0.2"]["qps"] > 0
    assert "hnswlib | 20.0% | no counter" in (out / "filtered.md").read_text()


def filtered_case(n=2000, d=24, seed=0):
    """Unit rows in 8 classes, 30 queries near them, a filter of two classes and its exact top-10."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Q = X[:30] + 0.2 * rng.standard_normal((30, d)).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    labels = rng.integers(0, 8, n).astype(np.int32)
    classes = [2, 5]
    allowed = np.isin(labels, classes)
    ids = np.flatnonzero(allowed)
    return X, Q, labels, classes, allowed, ids[np.argsort(-(Q @ X[ids].T), axis=1)[:, :10]]


@pytest.mark.parametrize("name,param,top", [("faiss-hnsw", "efSearch", 2000), ("faiss-ivf", "nprobe", 45),
                                            ("hnswlib", "ef", 2000)])
def test_plugins_search_under_a_filter_as_their_library_does(name, param, top):
    """Only rows the filter keeps come back; the exhaustive setting finds the exact filtered top-10; a cheap setting
    is cheaper; faiss IVF counts a distance only for the kept rows of the probed lists (+ nlist per query)."""
    from bench.indexes import get

    X, Q, labels, classes, allowed, truth = filtered_case()
    spec = get(name)
    index = spec.create(spec.build_grid[0], *X.shape)
    index.labels = labels
    assert index.filters
    with index:
        index.build(X)
        counts = []
        for value in (1, top):
            index.set_query_params(**{param: value})
            index.reset_counters()
            got = index.search_filtered(Q, 10, classes)
            counts.append(index.distance_count())
            assert allowed[got[got >= 0]].all()
        assert all(set(g) == set(t) for g, t in zip(got, truth))
        assert (index.search(Q, 10) >= 0).all() and not allowed[index.search(Q, 10)].all()  # unfiltered still works
    if name != "hnswlib":
        assert counts[0] < counts[1]
    if name == "faiss-ivf":
        assert counts[1] == len(Q) * (allowed.sum() + 45)
    else:
        assert (counts[0] is None) == (name == "hnswlib")


def test_a_filtered_sweep_goes_past_the_grid_up_to_the_plugins_limit():
    from bench.filtered import filtered_values
    from bench.indexes import get

    for name, n, tail in (("faiss-ivf", 30_000, [96, 128, 173]), ("hnswlib", 30_000, [4096, 8192, 16384]),
                          ("hnswlib", 3_000, [1024, 2048, 3000])):
        spec = get(name)
        index = spec.create(spec.build_grid[0], n, 16)
        values = filtered_values(spec, index, n)
        assert values[:len(spec.query_values)] == spec.query_values and values[-3:] == tail, (name, values)


def test_bench_filtered_refuses_an_index_that_cannot_filter(tmp_path):
    X, y = labelled(600)
    np.save(tmp_path / "real.npy", X)
    (tmp_path / "labels.txt").write_text("\n".join(y) + "\n")
    res = run("filtered", tmp_path / "real.npy", "--labels", tmp_path / "labels.txt", "--fit", 200, "-n", 300,
              "--queries", 10, "--index", "voyager", "--out", tmp_path / "out", cli=bench_main)
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
    assert res.output.strip().splitlines() == [res.output.strip()]
    assert res.output.startswith("Error: index voyager cannot search under a filter (those that can: faiss-flat")
    assert not (tmp_path / "out").exists()


def test_publish_gives_the_corpus_a_label_column_the_datasets_library_reads(data, tmp_path):
    from datasets import load_dataset

    folder = data[0]
    r = run("publish", folder / "m.safetensors", "--n", 1500, "--queries", 10, "--k", 5, "--out", tmp_path / "pub")
    assert r.exit_code == 0, r.output
    # a cache of its own: datasets keys its cache by folder name and file sizes, so a folder "pub" of the same sizes
    # published by an earlier run (another label model) would be read back from ~/.cache instead
    ds = load_dataset(str(tmp_path / "pub"), "corpus", split="train", cache_dir=str(tmp_path / "hf-cache"))
    gen = load_model(folder / "m.safetensors")
    assert ds.features["label"].names == gen.label_model_.classes_
    expect = sample_to_file(gen, tmp_path / "c.npy", 1500, random_state=0)["labels"]
    assert np.array_equal(np.array(ds["label"]), expect)


@pytest.mark.slow
def test_the_route_on_real_labels_fit_on_train_then_the_board_finds_the_split(tmp_path):
    """`synth fit bundled:train --labels lexname`, then `bench filtered bundled --labels lexname --model FILE`: the
    board finds the training rows by the file's fingerprint and measures the file's own label model."""
    model = tmp_path / "m.safetensors"
    r = run("fit", "bundled:train", "--labels", "lexname", "-o", model)
    assert r.exit_code == 0, r.output
    assert "label model: 41 classes from lexname" in r.output
    r = run("filtered", "bundled", "--labels", "lexname", "--model", model, "-n", 5000, "--queries", 50,
            "--selectivity", "0.01,0.5", "--out", tmp_path / "board", "--json", cli=bench_main)
    assert r.exit_code == 0, r.output
    board = json.loads(r.output)
    assert board["params"]["model"] == str(model) and board["params"]["classes"] == 41
    assert abs(board["purity"]["fake"] - board["purity"]["real"]) < 0.05


def test_the_card_names_the_label_column_only_when_there_is_one(data, tmp_path):
    folder = data[0]
    r = run("publish", folder / "m.safetensors", "--n", 1200, "--queries", 5, "--k", 5, "--out", tmp_path / "pub")
    assert r.exit_code == 0, r.output
    card = (tmp_path / "pub" / "README.md").read_text()
    assert "`label` class id (`ClassLabel` of 5 classes" in card
    r = run("fit", folder / "real.npy", "-o", tmp_path / "plain.safetensors", *SMALL)
    r = run("publish", tmp_path / "plain.safetensors", "--n", 1200, "--queries", 5, "--k", 5, "--out", tmp_path / "p2")
    assert r.exit_code == 0 and "`label`" not in (tmp_path / "p2" / "README.md").read_text()
