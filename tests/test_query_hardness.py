"""Queries of chosen hardness: `synth sample --query-hardness` and `bench query-bands`."""
import os
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import blobs

from synth.cli import main
from synth.errors import SynthError
from synth.io.artifact import save_model
from synth.io.formats import read_vectors
from synth.metrics.hardness import candidate_count, mean_distance, parse_band, select_band
from synth.metrics.neighbors import knn
from synth.models import PatchPCA
from synth.sampling.stream import draw_queries, iter_rows, sample_to_file


@pytest.fixture(scope="module")
def gen():
    return PatchPCA(n_patches=8, rank=4, random_state=0).fit(blobs(3000, 16, 6))


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_bands_parse_to_exact_fractions_and_bad_bands_are_refused():
    assert parse_band("hard") == ("hard", Fraction(2, 3), Fraction(1))
    assert parse_band(" Easy ") == ("easy", Fraction(0), Fraction(1, 3))
    assert parse_band("90-100") == ("90-100", Fraction(9, 10), Fraction(1))
    assert parse_band("2.5-5") == ("2.5-5", Fraction(1, 40), Fraction(1, 20))
    assert candidate_count(500, parse_band("hard")) == 1500
    assert candidate_count(100, parse_band("90-100")) == 1000
    assert candidate_count(7, parse_band("medium")) == 21
    for bad in ("harder", "50-40", "0-0", "-10", "10-", "90-101", "a-b", ""):
        with pytest.raises(SynthError, match="easy, medium, hard"):
            parse_band(bad)


def test_select_band_keeps_the_band_of_relative_contrast_ranks_in_candidate_order():
    rng = np.random.default_rng(1)
    reference = rng.standard_normal((400, 8)).astype(np.float32)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    queries = reference[rng.permutation(400)[:30]] + 0.01  # near a row: RC set by the k-th neighbour
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    scores, _ = knn(reference, queries, k=5)
    rc = mean_distance(queries, reference) / np.sqrt(np.maximum(2 - 2 * scores[:, -1].astype(np.float64), 0))
    by_difficulty = np.argsort(-rc, kind="stable")  # the easiest first
    for name, part in (("easy", slice(0, 10)), ("medium", slice(10, 20)), ("hard", slice(20, 30))):
        keep, report = select_band(queries, scores, reference, 10, parse_band(name))
        assert keep.tolist() == sorted(by_difficulty[part].tolist())
        assert report["candidates"] == 30 and report["k"] == 5 and report["reference_rows"] == 400
        assert report["rc"]["median"] == pytest.approx(np.median(rc[keep]))
    # a band whose end passes the last rank keeps the hardest n
    keep, _ = select_band(queries, scores, reference, 4, parse_band("95-100"))
    assert keep.tolist() == sorted(by_difficulty[-4:].tolist())


def test_sampled_hard_queries_are_the_hardest_third_of_the_query_stream(gen, tmp_path):
    n, q, k = 6000, 40, 10
    infos = {b: sample_to_file(gen, tmp_path / f"{b}.fbin", n, random_state=3, n_queries=q, k=k, query_hardness=b)
             for b in ("easy", "medium", "hard")}
    candidates = draw_queries(gen, 3, 3 * q, np.float32)
    base = read_vectors(tmp_path / "hard.fbin")
    assert np.array_equal(base, np.concatenate(list(iter_rows(gen, 3, 0, n))))
    chosen = []
    for b, info in infos.items():
        # each band's queries are candidates of the stream, in stream order, with their exact neighbours
        where = [int(np.flatnonzero((candidates == row).all(axis=1))[0]) for row in info["queries"]]
        assert len(where) == q and where == sorted(where)
        assert np.array_equal(info["neighbors"], knn(base, info["queries"], k=k)[1])
        assert info["hardness"]["band"] == b and info["hardness"]["candidates"] == 3 * q
        chosen.append(set(where))
    assert set.union(*chosen) == set(range(3 * q)) and sum(map(len, chosen)) == 3 * q  # the thirds partition them
    med = [infos[b]["hardness"]["rc"]["median"] for b in ("easy", "medium", "hard")]
    assert med[0] > med[1] > med[2]
    # without a band: the first q of the stream, as before
    plain = sample_to_file(gen, tmp_path / "plain.fbin", n, random_state=3, n_queries=q, k=k)
    assert np.array_equal(plain["queries"], candidates[:q]) and "hardness" not in plain


def test_cli_writes_the_band_and_says_its_hardness(gen, tmp_path):
    model = tmp_path / "m.safetensors"
    save_model(gen, model)
    r = run("sample", model, "-n", 5000, "-o", tmp_path / "c.h5", "--queries", 30, "--neighbors", 10,
            "--query-hardness", "90-100", "--seed", 2)
    assert r.exit_code == 0, r.output
    assert "query hardness 90-100: difficulty ranks 90.0-100.0% of 300 model queries" in r.output
    import h5py

    with h5py.File(tmp_path / "c.h5") as f:
        assert f["test"].shape == (30, gen.n_features_) and f["neighbors"].shape == (30, 10)


@pytest.mark.parametrize("args, message", [
    (("--query-hardness", "hard"), "needs --queries and --neighbors"),
    (("--queries", 5, "--neighbors", 3, "--query-hardness", "hardest"), "easy, medium, hard"),
    (("--queries", 5, "--neighbors", 3, "--query-hardness", "hard", "--shard", "0/2"), "without --shard"),
])
def test_cli_refuses_a_band_it_cannot_choose_and_writes_nothing(gen, tmp_path, args, message):
    model = tmp_path / "m.safetensors"
    save_model(gen, model)
    r = run("sample", model, "-n", 2000, "-o", tmp_path / "c.fbin", *args)
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output
    assert r.output.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]


def test_an_ip_model_has_no_distance_to_rank_by_and_l2_does(tmp_path):
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((1500, 16)) * rng.uniform(0.3, 3.0, (1500, 1))).astype(np.float32)
    ip = PatchPCA(n_patches=6, rank=4, noise_scale=1.0, metric="ip", random_state=0).fit(X)
    with pytest.raises(SynthError, match="no distance"):
        sample_to_file(ip, tmp_path / "ip.npy", 2000, n_queries=10, k=5, query_hardness="hard")
    assert not os.listdir(tmp_path)
    l2 = PatchPCA(n_patches=6, rank=4, noise_scale=1.0, metric="l2", random_state=0).fit(X)
    hard = sample_to_file(l2, tmp_path / "l2.npy", 2000, n_queries=10, k=5, query_hardness="hard")
    easy = sample_to_file(l2, tmp_path / "l2e.npy", 2000, n_queries=10, k=5, query_hardness="easy")
    assert hard["hardness"]["rc"]["median"] < easy["hardness"]["rc"]["median"]


@pytest.mark.slow  # a board on bundled rows: the quick suite keeps to 3 minutes
def test_query_bands_board_orders_real_cost_and_measures_the_fake(tmp_path):
    from bench.querybands import band_board, markdown
    from synth.bundled import load_minilm_wordnet

    X = load_minilm_wordnet()
    model = PatchPCA(n_patches=20, rank=16, random_state=0).fit(X[:2000])
    result = band_board(X[2000:], model=model, n=3000, n_queries=100, random_state=0, verbose=False,
                        all_heldout=True)
    assert result["params"]["pool"] == 300 and result["params"]["fit_rows"] == "not in REAL"
    for corpus in ("real", "fake"):
        rc = [result[corpus][b]["hardness"]["rc"]["median"] for b in ("easy", "medium", "hard")]
        assert rc[0] > rc[1] > rc[2]
    # real data: the hardest third costs both families more than the easiest, at recall 0.95 and per query
    for family in ("ivf", "hnsw"):
        easy, hard = result["real"]["easy"][family], result["real"]["hard"][family]
        assert hard["at_recall"]["0.95"] > easy["at_recall"]["0.95"]
        assert hard["per_query_median"] > easy["per_query_median"]
    ratio = result["ratios"]["hard"]["ivf"]
    assert ratio == pytest.approx(result["fake"]["hard"]["ivf"]["at_recall"]["0.95"]
                                  / result["real"]["hard"]["ivf"]["at_recall"]["0.95"])
    text = markdown(result)
    assert "| hard | fake |" in text and "Cost rises strictly" in text


@pytest.mark.slow
def test_dask_chooses_the_band_of_the_single_process_run(gen, tmp_path):
    pytest.importorskip("distributed")
    from synth.sampling.distributed import sample_on_dask

    single = sample_to_file(gen, tmp_path / "s.fbin", 7000, random_state=4, n_queries=25, k=10,
                            query_hardness="hard")
    from synth.sampling.stream import write_truth

    write_truth(tmp_path / "s.fbin", single["queries"], single["neighbors"], single["scores"])
    got = sample_on_dask(gen, tmp_path / "d.fbin", 7000, random_state=4, n_tasks=3, n_workers=2, n_queries=25,
                         k=10, query_hardness="hard")
    assert got["hardness"] == single["hardness"]
    for a, b in (("s.fbin", "d.fbin"), ("s.queries.fbin", "d.queries.fbin"), ("s.gt.bin", "d.gt.bin")):
        assert (tmp_path / a).read_bytes() == (tmp_path / b).read_bytes(), a


@pytest.mark.slow  # a board on bundled rows: the quick suite keeps to 3 minutes
def test_query_bands_finds_a_model_files_training_rows_and_refuses_unknown_ones(tmp_path):
    import json

    from bench.cli import main as bench_main
    from synth.bundled import load_minilm_wordnet

    X = load_minilm_wordnet()[:5000]
    np.save(tmp_path / "real.npy", X)
    order = np.random.default_rng(0).permutation(len(X))
    np.save(tmp_path / "train.npy", X[order[:1000]])
    np.save(tmp_path / "other.npy", X[:1000])
    for name in ("train", "other"):
        r = run("fit", tmp_path / f"{name}.npy", "-o", tmp_path / f"{name}.safetensors", "--patches", 10, "--rank", 8,
                "--noise-scale", 1, "-q")
        assert r.exit_code == 0, r.output
    args = [str(tmp_path / "real.npy"), "-n", "1000", "--queries", "50", "--json", "-q"]
    r = CliRunner().invoke(bench_main, ["query-bands", *args, "--model", str(tmp_path / "train.safetensors"),
                                        "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    params = json.loads(r.output)["params"]
    assert params["fit_rows"] == "split" and params["n_fit"] == 1000 and params["fit_seconds"] is None
    r = CliRunner().invoke(bench_main, ["query-bands", *args, "--model", str(tmp_path / "other.safetensors"),
                                        "--out", str(tmp_path / "b")])
    assert r.exit_code == 1 and "held-out rows cannot be told" in r.output and r.output.count("\n") == 1
    assert not (tmp_path / "b").exists()
