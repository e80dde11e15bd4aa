"""A numeric attribute and range filters: `synth fit --attribute`, `synth sample --range-selectivity` and
`bench filtered --attribute`."""
import json

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import assert_one_line_error, blobs
from scipy.stats import ks_2samp

from bench.cli import main as bench_main
from bench.filtered import filtered_board, range_codes
from synth.cli import main
from synth.io.artifact import load_model
from synth.models.attributes import (
    AttributeModel,
    attribute_normals,
    choose_range,
    neighbour_correlation,
    normal_scores,
)
from synth.sampling.stream import iter_rows, sample_to_file

SMALL = ("--patches", 6, "--rank", 4, "--noise-scale", 1)


def run(*args, cli=main):
    return CliRunner().invoke(cli, [str(a) for a in args])


def attributed(n=3000, d=16, seed=0, integer=False):
    """Blobs with a skewed positive value that grows along one direction, plus noise: it depends on place."""
    rng = np.random.default_rng(seed)
    X = blobs(n, d, 5, seed)
    v = np.exp(1.5 * X @ np.linalg.qr(rng.standard_normal((d, 1)))[0][:, 0] + 0.5 * rng.standard_normal(n)) * 100
    return X, (np.round(v / 20) if integer else v)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attributed")
    X, v = attributed()
    np.save(folder / "real.npy", X)
    np.save(folder / "size.npy", v)
    r = run("fit", folder / "real.npy", "--attribute", folder / "size.npy", "-o", folder / "m.safetensors", *SMALL)
    assert r.exit_code == 0, r.output
    return folder, X, v, r.output


def test_the_attribute_model_keeps_the_marginal_and_how_values_cluster(data):
    folder, X, v, output = data
    assert "attribute model 'size' from" in output and "neighbour correlation" in output
    gen = load_model(folder / "m.safetensors")
    am = gen.attribute_model_
    f = am.fit_info_
    # the privacy bound: every level of the quantile table averages at least min_points training values
    assert f["levels"] * f["rows_per_level"] <= len(v) and f["rows_per_level"] >= 20
    assert v.min() < am.levels_[0] and am.levels_[-1] < v.max()  # no level is the extreme row's value
    assert f["reached"] and abs(f["fake_neighbour_correlation"] - f["real_neighbour_correlation"]) < 1e-3
    F = gen.sample(3000, random_state=4)
    fv = am.values(F, attribute_normals(4, 0, 3000))
    assert ks_2samp(fv, v).statistic < 0.06
    real_c = neighbour_correlation(X, normal_scores(v))
    fake_c = neighbour_correlation(F, normal_scores(fv))
    assert real_c > 0.3 and abs(fake_c - real_c) < 0.1
    # without the dependence on place the values would not cluster at all
    am0 = AttributeModel().fit(X, v, gen.sample(3000, random_state=1))
    am0.strength_ = 0.0
    assert abs(neighbour_correlation(F, normal_scores(am0.values(F, attribute_normals(4, 0, 3000))))) < 0.05


def test_an_attribute_named_like_a_column_of_the_outputs_is_renamed(data, tmp_path):
    folder = data[0]
    np.save(tmp_path / "id.npy", data[2])
    r = run("fit", folder / "real.npy", "--attribute", tmp_path / "id.npy", "-o", tmp_path / "m.safetensors", *SMALL)
    assert r.exit_code == 0 and "attribute model 'attribute' from" in r.output
    r = run("sample", tmp_path / "m.safetensors", "-n", 300, "-o", tmp_path / "s.parquet")
    assert r.exit_code == 0, r.output
    t = pq.read_table(tmp_path / "s.attribute.parquet").to_pydict()
    assert t["id"] == list(range(300)) and len(t["attribute"]) == 300


def test_values_do_not_depend_on_chunks_and_round_trip_through_the_file(data, tmp_path):
    folder = data[0]
    gen = load_model(folder / "m.safetensors")
    a = sample_to_file(gen, tmp_path / "a.npy", 3000, random_state=7, chunk_size=3000)["attribute"]
    b = sample_to_file(gen, tmp_path / "b.npy", 3000, random_state=7, chunk_size=701, threads=2)["attribute"]
    assert np.array_equal(a, b) and len(np.unique(a)) > 100


def test_a_shard_writes_its_rows_values_to_a_part_file(data, tmp_path):
    folder = data[0]
    gen = load_model(folder / "m.safetensors")
    whole = sample_to_file(gen, tmp_path / "w.npy", 3000, random_state=4)["attribute"]
    parts = []
    for i in (0, 1):
        r = run("sample", folder / "m.safetensors", "-n", 3000, "-o", tmp_path / f"s{i}.fbin", "--shard", f"{i}/2",
                "--seed", 4)
        assert r.exit_code == 0, r.output
        parts.append(np.load(tmp_path / f"s{i}.fbin.attribute-part-00{i}-of-002.npy"))
    assert np.array_equal(np.concatenate(parts), whole)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["base.fbin", "folder"])
def test_dask_writes_the_values_and_range_truth_of_the_single_process_run(data, tmp_path, name):
    """On Dask each task gives its rows their values and finds its rows' range-filtered top-k (a range per query
    too); the client joins and merges them into the same files, byte for byte, as one process writes."""
    pytest.importorskip("distributed")
    folder = data[0]
    args = ["-n", 2000, "--queries", 30, "--neighbors", 5, "--range-selectivity", "0.05,0.5,query", "--seed", 2]
    single, dask = tmp_path / "one", tmp_path / "dask"
    single.mkdir(), dask.mkdir()
    r = run("sample", folder / "m.safetensors", "-o", single / name, *args, "--files", 3)
    assert r.exit_code == 0, r.output
    r = run("sample", folder / "m.safetensors", "-o", dask / name, *args, "--workers", 2, "--tasks", 3)
    assert r.exit_code == 0, r.output
    assert "wrote the attribute" in r.output and "filtered top-5 neighbours for 4 filters" in r.output
    assert "wrote the queries' own ranges of range-query-0.5" in r.output
    names = sorted(str(p.relative_to(single)) for p in single.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(dask)) for p in dask.rglob("*") if p.is_file())
    assert any("attribute" in x for x in names) and any("range-0.5" in x for x in names), names
    assert sum("range-query-" in x for x in names) == 4, names  # per share: its ground truth and its queries' ranges
    for x in names:
        if not x.endswith("manifest.json"):
            assert (single / x).read_bytes() == (dask / x).read_bytes(), x


def test_a_whole_number_attribute_stays_whole_and_ranges_use_its_values(tmp_path):
    X, v = attributed(integer=True, seed=2)
    np.save(tmp_path / "real.npy", X)
    (tmp_path / "count.txt").write_text("\n".join(str(int(x)) for x in v) + "\n")
    r = run("fit", tmp_path / "real.npy", "--attribute", tmp_path / "count.txt", "-o", tmp_path / "m.safetensors",
            *SMALL)
    assert r.exit_code == 0, r.output
    assert "whole numbers" in r.output
    gen = load_model(tmp_path / "m.safetensors")
    fv = sample_to_file(gen, tmp_path / "s.npy", 2000, random_state=1)["attribute"]
    assert np.array_equal(fv, np.round(fv))
    for target in (0.05, 0.3):
        lo, hi = gen.attribute_model_.range(target)
        assert lo == int(lo) and hi == int(hi) and lo <= hi
        assert 0.5 * target < np.mean((v >= lo) & (v <= hi)) < 2 * target


def test_choose_range_is_centred_for_a_real_attribute():
    levels = np.linspace(0, 100, 101)
    positions = (np.arange(101) + 0.5) / 101
    lo, hi = choose_range(levels, positions, 0.2)
    assert abs(lo - 40) < 1 and abs(hi - 60) < 1


def _kept_truth(base, queries, keep, k):
    keep = np.flatnonzero(keep)
    order = np.argsort(-(queries @ base[keep].T), axis=1, kind="stable")[:, :k]
    return keep[order]


def _truth_ids(path, name):
    """The neighbour ids of a filtered ground-truth file written beside corpus ``name``."""
    if name == "base.fbin":
        with open(path, "rb") as fh:
            qn, k = np.fromfile(fh, np.uint32, 2)
            return np.fromfile(fh, np.int32, qn * k).reshape(qn, k)
    if name == "base.h5":
        with h5py.File(path) as fh:
            return fh["neighbors"][:]
    return np.array(pq.read_table(path).to_pydict()["neighbors_id"])


def _sampled(data, tmp_path, name, shares):
    """`synth sample` of 2,000 rows, 30 queries, top-5 with ``--range-selectivity shares`` into ``tmp_path / name``:
    the CLI's output, the model, and the rows, values and queries of the same sample drawn in the library."""
    r = run("sample", data[0] / "m.safetensors", "-n", 2000, "-o", tmp_path / name, "--queries", 30, "--neighbors", 5,
            "--range-selectivity", shares, "--seed", 2)
    assert r.exit_code == 0, r.output
    gen = load_model(data[0] / "m.safetensors")
    check = sample_to_file(gen, tmp_path / "check.npy", 2000, random_state=2, n_queries=30, k=5)
    return r.output, gen, np.concatenate(list(iter_rows(gen, 2, 0, 2000))), check["attribute"], check["queries"]


@pytest.mark.parametrize("name", ["base.fbin", "base.h5", "base.parquet", "folder"])
def test_sample_writes_values_and_exact_range_filtered_truth(data, tmp_path, name):
    out = tmp_path / name
    output, gen, base, expect, queries = _sampled(data, tmp_path, name, "0.05,0.5")
    assert "wrote the attribute 'size'" in output
    stem = tmp_path / "base"
    if name == "base.fbin":
        got = np.load(f"{stem}.attribute.npy")
    elif name == "base.h5":
        with h5py.File(out) as f:
            got = f["attribute"][:]
            assert f["attribute"].attrs.get("attribute_name", f.attrs.get("attribute_name")) == "size"
            assert f["neighbors"].shape == (30, 5)
    else:
        t = pq.read_table(out / "scalar_attribute.parquet" if name == "folder" else f"{stem}.attribute.parquet")
        t = t.to_pydict()
        got = np.array(t["size"])
        assert t["id"] == list(range(2000))
    assert np.array_equal(got, expect)
    meta = json.loads((out / "filters.json" if name == "folder" else tmp_path / "base.filters.json").read_text())
    assert set(meta) == {"range-0.05", "range-0.5"}
    for key, f in meta.items():
        lo, hi = f["range"]
        keep = (expect >= lo) & (expect <= hi)
        assert abs(f["share"] - keep.mean()) < 1e-9 and 0.5 * f["target"] < f["share"] < 2 * f["target"]
        ids = _truth_ids((out if name == "folder" else tmp_path) / f["file"], name)
        assert np.array_equal(ids, _kept_truth(base, queries, keep, 5)), key
    info = json.loads((out / "attribute.json" if name == "folder" else tmp_path / "base.attribute.json").read_text())
    assert info["name"] == "size" and info["rows"] == [0, 2000]


@pytest.mark.parametrize("name", ["base.fbin", "base.h5", "folder"])
def test_a_range_per_query_gives_each_query_its_own_range_and_exact_truth(data, tmp_path, name):
    """--range-selectivity S,query: each query's range (written beside the queries) holds about S of the training
    values, the ranges vary across queries, and each query's ground truth is its brute-force top-k among the rows
    whose value lies in its own range; the fixed ranges are still written."""
    from synth.sampling.attributes import query_ranges

    folder, v = data[0], data[2]
    out = tmp_path / name
    output, gen, base, values, queries = _sampled(data, tmp_path, name, "0.05,0.3,query")
    assert "wrote the queries' own ranges of range-query-0.05" in output
    meta = json.loads((out / "filters.json" if name == "folder" else tmp_path / "base.filters.json").read_text())
    assert set(meta) == {"range-0.05", "range-0.3", "range-query-0.05", "range-query-0.3"}
    for target in (0.05, 0.3):
        key = f"range-query-{target:g}"
        f = meta[key]
        if name == "base.fbin":
            assert f["query_ranges"] == f"base.queries.{key}.npy"
            own = np.load(tmp_path / f["query_ranges"])
        elif name == "base.h5":
            assert f["query_ranges"] == f"base.h5:test_{key}"
            with h5py.File(out) as fh:
                own = fh[f"test_{key}"][:]
        else:
            t = pq.read_table(out / f"test_{key}.parquet").to_pydict()
            assert t["id"] == list(range(30))
            own = np.stack([t["lo"], t["hi"]], axis=1)
        assert own.shape == (30, 2) and own.dtype == np.float64 and (own[:, 0] <= own[:, 1]).all()
        assert np.array_equal(own, query_ranges(gen, 2, 30, target))  # the seed's stream, whatever the run
        assert len({tuple(x) for x in own}) > 10  # ranges of their own, not one for all
        train = np.array([np.mean((v >= lo) & (v <= hi)) for lo, hi in own])
        assert 0.6 * target < np.median(train) < 1.6 * target, (target, np.median(train))
        ids = _truth_ids((out if name == "folder" else tmp_path) / f["file"], name)
        kept = [(values >= lo) & (values <= hi) for lo, hi in own]
        for q in range(30):
            assert np.array_equal(ids[q], _kept_truth(base, queries[q:q + 1], kept[q], 5)[0]), (key, q)
        assert abs(f["share"] - np.mean([m.mean() for m in kept])) < 1e-9
        assert f["target"] == target and f["range"] == "each query's own"
    lo, hi = meta["range-0.3"]["range"]
    ids = _truth_ids((out if name == "folder" else tmp_path) / meta["range-0.3"]["file"], name)
    assert np.array_equal(ids, _kept_truth(base, queries, (values >= lo) & (values <= hi), 5))
    if name == "base.fbin":  # the same bytes in other chunks, on other threads
        (tmp_path / "again").mkdir()
        r = run("sample", folder / "m.safetensors", "-n", 2000, "-o", tmp_path / "again" / name, "--queries", 30,
                "--neighbors", 5, "--range-selectivity", "0.05,0.3,query", "--seed", 2, "--chunk-size", 333,
                "--threads", 2)
        assert r.exit_code == 0, r.output
        for x in ("base.gt.filter-range-query-0.05.bin", "base.queries.range-query-0.3.npy", "base.filters.json"):
            assert (tmp_path / x).read_bytes() == (tmp_path / "again" / x).read_bytes(), x


def test_query_ranges_are_windows_of_the_quantile_table_and_do_not_depend_on_the_query_count(data):
    """A real attribute's windows hold the target share of the training values (up to the table's rounding); the
    first queries' ranges are the same however many queries are drawn; another seed places them elsewhere."""
    from synth.sampling.attributes import query_ranges

    folder, _, v = data[0], data[1], data[2]
    gen = load_model(folder / "m.safetensors")
    many = query_ranges(gen, 7, 500, 0.1)
    assert np.array_equal(query_ranges(gen, 7, 40, 0.1), many[:40])
    assert not np.array_equal(query_ranges(gen, 8, 40, 0.1), many[:40])
    shares = np.array([np.mean((v >= lo) & (v <= hi)) for lo, hi in many])
    assert abs(np.mean(shares) - 0.1) < 0.01 and shares.min() > 0.05, (shares.mean(), shares.min())
    lows = many[:, 0]
    assert np.mean(lows <= np.quantile(v, 0.3)) > 0.2 and np.mean(lows >= np.quantile(v, 0.6)) > 0.2  # spread out


def test_a_whole_number_attribute_gives_whole_query_ranges_near_the_target():
    am = AttributeModel()
    am.levels_ = np.repeat(np.arange(1.0, 41.0), 10) + np.tile(np.linspace(-0.3, 0.3, 10), 40)
    am.positions_ = (np.arange(400) + 0.5) / 400
    am.integer_ = True
    starts = np.random.default_rng(0).random(200)
    for target in (0.01, 0.1):
        got = am.windows(starts, target)
        assert np.array_equal(got, np.round(got)) and (got[:, 0] <= got[:, 1]).all()
        width = got[:, 1] - got[:, 0] + 1  # each whole value holds 1/40 of the table
        assert np.all(width == max(1, round(target * 40))), (target, np.unique(width))


def test_ivf_costs_under_a_filter_per_query_are_each_querys_own():
    """ivf_probes with one mask per query gives each query the cost and probes it has alone under its mask."""
    from synth.metrics.searchcost import ivf_cells, ivf_probes

    X, v = attributed(1500, seed=5)
    Q, base = X[:20], X[20:]
    cells = ivf_cells(base)
    lo = np.quantile(v[20:], np.linspace(0.1, 0.7, 20))[:, None]
    masks = (v[20:] >= lo) & (v[20:] <= lo * 1.5)
    nb = np.argsort(-np.where(masks, Q @ base.T, -np.inf), axis=1)[:, :5]
    probe, cost = ivf_probes(cells, Q, nb, allowed=masks)
    for i in (0, 7, 19):
        p1, c1 = ivf_probes(cells, Q[i:i + 1], nb[i:i + 1], allowed=masks[i])
        assert np.array_equal(p1[0], probe[i]) and np.array_equal(c1[0], cost[i])
    assert cost[:, -1].tolist() == (len(cells[0]) + masks.sum(axis=1)).tolist()


@pytest.mark.slow
def test_the_range_board_with_a_range_per_query(tmp_path):
    """--range-per-query: each query of both sides under its own range (the ranges `synth sample` gives the fake
    queries), exact per-query truth, costs at the targets on both corpora; refused without --attribute or with
    --index."""
    from bench.filtered import filter_truths, markdown

    X, v = attributed(6000, seed=3)
    r = filtered_board(X, config=("patch", {"n_patches": 6, "rank": 4, "noise_scale": 1.0}), n_fit=2000, n=3000,
                       n_queries=40, selectivities=(0.05, 0.3), verbose=False, attribute=v, range_per_query=True)
    assert set(r["filters"]) == {"range-query-0.05", "range-query-0.3"} and r["params"]["range_per_query"]
    for corpus in ("real", "fake"):
        for name, f in r["filters"].items():
            row = r[corpus][name]
            assert 0.5 * f["target"] < row["selectivity"] < 2 * f["target"], (corpus, name, row["selectivity"])
            assert row["ivf"]["0.95"] is not None and row["hnsw"]["0.95"] is not None
            assert row["ivf"]["0.99"] <= 1.5 * row["rows"] + 55  # kept rows of the probed cells + nlist
    assert "each query's own" in markdown(r) and "a range of its own" in markdown(r)
    # the per-query truth is each query's brute-force top-k among the rows in its own range
    base, queries, vals = X[:300], X[300:310], v[:300]
    lo = np.quantile(vals, np.linspace(0, 0.6, 10))[:, None]
    masks = (vals >= lo) & (vals <= np.quantile(vals, np.linspace(0.3, 0.95, 10))[:, None])
    truth = filter_truths(base, {"own": masks}, queries, 5)["own"][1]
    for i in range(10):
        assert np.array_equal(truth.neighbors[i], _kept_truth(base, queries[i:i + 1], masks[i], 5)[0])
    np.save(tmp_path / "real.npy", X)
    np.save(tmp_path / "size.npy", v)
    res = run("filtered", tmp_path / "real.npy", "--labels", tmp_path / "size.npy", "--range-per-query", "--out",
              tmp_path / "b", cli=bench_main)
    assert res.exit_code == 1 and "--range-per-query needs --attribute" in res.output
    res = run("filtered", tmp_path / "real.npy", "--attribute", tmp_path / "size.npy", "--range-per-query", "--index",
              "faiss-hnsw", "--out", tmp_path / "b", cli=bench_main)
    assert res.exit_code == 1 and "no --index" in res.output and not (tmp_path / "b").exists()


def test_attribute_errors_are_one_line_and_leave_nothing(data, tmp_path):
    folder, X = data[0], data[1]
    (tmp_path / "short.txt").write_text("1\n2\n")
    r = run("fit", folder / "real.npy", "--attribute", tmp_path / "short.txt", "-o", tmp_path / "m.safetensors",
            *SMALL)
    assert_one_line_error(r, tmp_path / "short.txt", "2 attribute values for 3,000 rows")
    (tmp_path / "words.txt").write_text("a\nb\n")
    r = run("fit", folder / "real.npy", "--attribute", tmp_path / "words.txt", "-o", tmp_path / "m.safetensors",
            *SMALL)
    assert_one_line_error(r, tmp_path / "words.txt", "not an attribute file")
    bad = np.ones(len(X))
    bad[5] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    r = run("fit", folder / "real.npy", "--attribute", tmp_path / "nan.npy", "-o", tmp_path / "m.safetensors", *SMALL)
    assert_one_line_error(r, tmp_path / "nan.npy", "1 attribute values are not finite")
    np.save(tmp_path / "flat.npy", np.ones(len(X)))
    r = run("fit", folder / "real.npy", "--attribute", tmp_path / "flat.npy", "-o", tmp_path / "m.safetensors", *SMALL)
    assert r.exit_code == 1 and "one value on every row" in r.output
    r = run("fit", folder / "real.npy", "--attribute", "gloss-words", "-o", tmp_path / "m.safetensors", *SMALL)
    assert r.exit_code == 1 and "gloss-words' exists for bundled" in r.output
    assert not (tmp_path / "m.safetensors").exists()
    r = run("fit", folder / "real.npy", "-o", tmp_path / "plain.safetensors", *SMALL)
    r = run("sample", tmp_path / "plain.safetensors", "-n", 500, "-o", tmp_path / "x.npy", "--queries", 5,
            "--neighbors", 3, "--range-selectivity", "0.1")
    assert_one_line_error(r, tmp_path / "plain.safetensors", "needs a model with an attribute model")
    r = run("sample", folder / "m.safetensors", "-n", 500, "-o", tmp_path / "x.npy", "--range-selectivity", "0.1")
    assert r.exit_code == 1 and "needs --queries and --neighbors" in r.output
    r = run("sample", folder / "m.safetensors", "-n", 500, "-o", tmp_path / "x.npy", "--queries", 5,
            "--neighbors", 3, "--range-selectivity", "0.1", "--shard", "0/2")
    assert r.exit_code == 1 and "--range-selectivity is not written for a shard of several" in r.output
    r = run("sample", folder / "m.safetensors", "-n", 500, "-o", tmp_path / "x.npy", "--queries", 5,
            "--neighbors", 3, "--range-selectivity", "half")
    assert r.exit_code == 1 and "comma-separated shares" in r.output
    r = run("sample", folder / "m.safetensors", "-n", 500, "-o", tmp_path / "x.npy", "--queries", 5,
            "--neighbors", 3, "--range-selectivity", "query")
    assert_one_line_error(r, folder / "m.safetensors", "a range per query needs the shares it holds")
    assert not list(tmp_path.glob("x*"))


def test_range_codes_select_exactly_the_values_in_each_range():
    rng = np.random.default_rng(0)
    v = np.round(rng.exponential(10, 5000), 1)
    ranges = {"a": [2.0, 2.0], "b": [1.5, 30.0], "c": [0.0, 4.2]}
    codes, kept = range_codes(v, ranges)
    for name, (lo, hi) in ranges.items():
        assert np.array_equal(np.isin(codes, kept[name]), (v >= lo) & (v <= hi)), name


@pytest.mark.slow
def test_the_range_board_measures_both_corpora_and_the_cli_runs_it(tmp_path):
    X, v = attributed(6000, seed=3)
    r = filtered_board(X, config=("patch", {"n_patches": 6, "rank": 4, "noise_scale": 1.0}), n_fit=2000, n=3000,
                       n_queries=60, selectivities=(0.1, 0.5), verbose=False, attribute=v, attribute_source="size.npy")
    assert set(r["filters"]) == {"range-0.1", "range-0.5"}
    for corpus in ("real", "fake"):
        for name, f in r["filters"].items():
            row = r[corpus][name]
            assert 0.4 * f["target"] < row["selectivity"] < 2 * f["target"]
            assert row["ivf"]["0.95"] <= row["rows"] + 60
    assert r["neighbour_correlation"]["real"] > 0.3
    assert abs(r["neighbour_correlation"]["fake"] - r["neighbour_correlation"]["real"]) < 0.15
    np.save(tmp_path / "real.npy", X)
    np.save(tmp_path / "size.npy", v)
    res = run("filtered", tmp_path / "real.npy", "--attribute", tmp_path / "size.npy", "--fit", 2000, "-n", 3000,
              "--queries", 40, "--selectivity", "0.2", "--config", "s=patch:n_patches=6,rank=4,noise_scale=1.0",
              "--index", "faiss-hnsw", "--out", tmp_path / "board", "--json", cli=bench_main)
    assert res.exit_code == 0, res.output
    board = json.loads((tmp_path / "board" / "filtered.json").read_text())
    assert board["params"]["attribute"] == "size" and "range of size" in (tmp_path / "board" / "filtered.md").read_text()
    hnsw = board["indexes"]["faiss-hnsw"]
    assert hnsw["real"]["filters"]["range-0.2"]["ndis_at_target"]["0.95"] > 0
    res = run("filtered", tmp_path / "real.npy", "--out", tmp_path / "b2", cli=bench_main)
    assert res.exit_code == 1 and "--labels or --attribute" in res.output and not (tmp_path / "b2").exists()
