"""bench cost / bench fidelity --model: a model file scored on the scoreboards, its training rows found by
fingerprint (bench.split)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_one_line_error

from bench.cli import main as bench_main
from bench.fidelity import scoreboard
from bench.split import board_split
from synth.cli import main as synth_main
from synth.errors import SynthError
from synth.io.artifact import load_model

PARAMS = ["--patches", "12", "--rank", "4", "--noise-scale", "1"]
CONFIG = "ref=patch:n_patches=12,rank=4,noise_scale=1"
COST = ["--sizes", "1000,2000", "--queries", "100", "--index", "faiss-ivf", "--index", "faiss-hnsw", "--repeats", "1"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """real.npy (5,000 rows of a mixture with norms 0.5-2), its seed-0 split as train.npy / heldout.npy
    (the first 2,000 rows of the permutation the boards draw at seed 0), and l2 models fitted with `synth fit`
    on the training rows (m.safetensors) and on all rows (all.safetensors)."""
    folder = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((20, 16))
    X = (centers[rng.integers(0, 20, 5000)] + 0.35 * rng.standard_normal((5000, 16))) * rng.uniform(0.5, 2, (5000, 1))
    X = X.astype(np.float32)
    np.save(folder / "real.npy", X)
    p = np.random.default_rng(0).permutation(len(X))
    np.save(folder / "train.npy", X[p[:2000]])
    np.save(folder / "heldout.npy", X[p[2000:]])
    runner = CliRunner()
    for data, model in (("train.npy", "m.safetensors"), ("real.npy", "all.safetensors")):
        res = runner.invoke(synth_main, ["fit", str(folder / data), "-o", str(folder / model), "--metric", "l2",
                                         *PARAMS, "-q"])
        assert res.exit_code == 0, res.output
    return folder


def run(*args):
    return CliRunner().invoke(bench_main, [*map(str, args), "-q"])


def test_cost_model_file_gives_the_numbers_of_the_fit_on_the_spot(files, tmp_path):
    # the model was fitted by `synth fit` on the rows the board fits its configurations on, with the same
    # parameters and seed: every count-based figure agrees exactly; only the timings (QPS) may differ
    res = run("cost", files / "real.npy", "--model", files / "m.safetensors", "--config", CONFIG, *COST,
              "--out", tmp_path / "out", "--json")
    assert res.exit_code == 0, res.output
    board = json.loads(res.stdout[res.stdout.index("{"):])
    assert board["metric"] == "l2" and board["n_fit"] == 2000
    assert board["split"] == {"n_fit": 2000, "fit_rows": "split", "note": None, "model": str(files / "m.safetensors")}
    ref, given = board["configs"]["ref"], board["configs"]["m"]
    for key in ("c2st", "memorization", "copies", "stats", "norms", "n_patches", "noise_scale"):
        assert given[key] == ref[key], key
    for n in ("1000", "2000"):
        assert given["by_n"][n]["diagnostics"] == ref["by_n"][n]["diagnostics"]
        for index in ("faiss-ivf", "faiss-hnsw"):
            a, b = given["by_n"][n]["cost"][index], ref["by_n"][n]["cost"][index]
            assert a["ndis_at_target"] == b["ndis_at_target"] and a["build_params"] == b["build_params"]
            assert [(c["recall"], c["ndis"]) for c in a["curve"]] == [(c["recall"], c["ndis"]) for c in b["curve"]]
            assert given["by_n"][n]["ratios"][index]["ndis"] == ref["by_n"][n]["ratios"][index]["ndis"]
    assert given["fit_seconds"] is None and ref["fit_seconds"] > 0
    assert given["model_bytes"] == (files / "m.safetensors").stat().st_size
    assert "fitted on the board's N = 2,000 fitting rows" in (tmp_path / "out" / "cost.md").read_text()


def test_fidelity_model_file_gives_the_numbers_of_the_fit_on_the_spot(files):
    X = np.load(files / "real.npy")
    model = load_model(files / "m.safetensors")
    board = scoreboard(X, {"ref": ("patch", {"n_patches": 12, "rank": 4, "noise_scale": 1.0})}, sizes=(500, 1000),
                       n_permutations=10, stats_n=500, n_queries=100, metric="l2", model=model)
    assert board["split"]["n_train"] == 2000 and board["split"]["fit_rows"] == "split"
    ref, given = board["configs"]
    assert given["name"] == "m" and given["fit_seconds"] is None
    for key in ("c2st", "memorization", "copies", "stats", "norms", "hnsw"):
        assert given[key] == ref[key], key


def test_held_out_rows_score_without_the_memorization_check(files, tmp_path):
    res = run("cost", files / "heldout.npy", "--model", files / "m.safetensors", "--all-heldout", *COST,
              "--out", tmp_path / "out", "--json")
    assert res.exit_code == 0, res.output
    board = json.loads(res.stdout[res.stdout.index("{"):])
    row = board["configs"]["m"]
    assert row["memorization"] is None and row["copies"] is None
    assert board["split"]["fit_rows"] == "not in REAL" and "--all-heldout" in board["split"]["note"]
    assert board["n_fit"] == 2000 and row["c2st"]["n"] == 200  # N is the model's: the test runs at N / 10
    assert "| m | " in (tmp_path / "out" / "cost.md").read_text()
    res = run("fidelity", files / "heldout.npy", "--model", files / "m.safetensors", "--all-heldout", "--sizes",
              "500", "--no-hnsw", "--out", tmp_path / "fid", "--json")
    assert res.exit_code == 0, res.output
    board = json.loads(res.stdout[res.stdout.index("{"):])
    assert board["split"]["n_heldout"] == 3000 and set(board["ceiling"].values()) == {None}
    assert board["configs"][0]["memorization"] is None and board["real"]["heldout_median_nn_train"] is None


@pytest.mark.parametrize("args, path, words", [
    # the metric comes from the model file
    (("--metric", "cosine"), "m.safetensors", ("fitted with metric l2", "--metric cosine")),
    # a model fitted on every row leaves nothing held out
    (("--model", "all.safetensors"), "all.safetensors", ("fitted on all 5,000 rows", "none is held out")),
    # another seed puts other rows first: the training rows cannot be found, so REAL may hold them
    (("--seed", "1"), "m.safetensors", ("not the first 2,000", "seed 1", "--all-heldout")),
    (("--all-heldout",), "m.safetensors", ("fitted on the first 2,000 rows", "drop --all-heldout")),
    (("--fit", "1000"), "m.safetensors", ("fitted on 2,000 rows", "1,000")),
    (("--model", "missing.safetensors"), "missing.safetensors", ("no such model file",)),
    (("--model", "cut.safetensors"), "cut.safetensors", ("not a synth model file",)),
])
@pytest.mark.parametrize("board", ["cost", "fidelity"])
def test_model_file_errors(files, tmp_path, board, args, path, words):
    (files / "cut.safetensors").write_bytes((files / "m.safetensors").read_bytes()[:1000])
    args = [str(files / a) if a.endswith(".safetensors") else a for a in args]
    args = ["--train" if a == "--fit" and board == "fidelity" else a for a in args]  # fidelity calls N --train
    model = [] if "--model" in args else ["--model", str(files / "m.safetensors")]
    res = run(board, files / "real.npy", *model, *args, "--out", tmp_path / "out")
    assert_one_line_error(res, files / path, *words)
    assert not (tmp_path / "out").exists()


def test_board_split_refusals(files):
    X = np.load(files / "real.npy")
    model = load_model(files / "m.safetensors")
    with pytest.raises(SynthError, match="--all-heldout needs --model"):
        board_split(X, all_heldout=True, metric="l2")
    with pytest.raises(SynthError, match="configurations are fitted on the rows the model was"):
        scoreboard(np.load(files / "heldout.npy"), {"x": ("patch", {})}, metric="l2", model=model, all_heldout=True)
    with pytest.raises(SynthError, match="configuration 'm': the model file has that name"):
        scoreboard(X, {"m": ("patch", {})}, metric="l2", model=model)


def test_cosine_rows_read_back_from_a_file_are_found(tmp_path):
    # unit rows saved and read back by `synth fit` are normalized again, which moves some last bits: the split
    # is found all the same
    from synth.bundled import load_minilm_wordnet
    from synth.io.formats import fingerprint, load_embeddings

    X = load_minilm_wordnet()[:3000]
    p = np.random.default_rng(0).permutation(len(X))
    np.save(tmp_path / "train.npy", X[p[:1000]])
    assert fingerprint(load_embeddings(tmp_path / "train.npy")[0]) != fingerprint(X[p[:1000]])  # else no test
    res = CliRunner().invoke(synth_main, ["fit", str(tmp_path / "train.npy"), "-o", str(tmp_path / "c.safetensors"),
                                          "--patches", "8", "--rank", "4", "--noise-scale", "1", "-q"])
    assert res.exit_code == 0, res.output
    fit_rows, heldout, info = board_split(X, model=load_model(tmp_path / "c.safetensors"))
    assert info == {"n_fit": 1000, "fit_rows": "split", "note": None}
    np.testing.assert_array_equal(fit_rows, X[p[:1000]])
    np.testing.assert_array_equal(heldout, X[p[1000:]])
