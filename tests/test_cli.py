import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import save_real_split

from synth.bundled import load_minilm_wordnet
from synth.cli import main
from synth.io.formats import read_vectors

STAT_KEYS = {"twonn_id", "isoscore", "participation_ratio", "anisotropy", "nn_cosine"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return save_real_split(tmp_path_factory.mktemp("cli"))


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


@pytest.mark.slow  # moved out of the quick suite (its 3-minute budget, 2026-12-08)
def test_fit_sample_score_json(files):
    model = files / "patch.safetensors"
    r = run("fit", files / "train.npy", "-o", model, "--patches", 40, "--seed", 1)
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and "MB" in r.output
    r = run("sample", model, "-n", 3000, "-o", files / "fake.fbin", "--seed", 2)
    assert r.exit_code == 0, r.output
    fake = read_vectors(files / "fake.fbin")
    assert fake.shape == (3000, 384)
    # the standard measures through the CLI are tests/test_standard_measures.py's
    r = run("score", files / "heldout.npy", files / "fake.fbin", "--train", files / "train.npy", "--n", 1000,
            "--permutations", 50, "--json", "--no-standard")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {"c2st", "c2st_real", "c2st_fake", "ceiling", "p_value", "n", "k", "stats", "dcr"} <= set(out)
    assert out["n"] == 1000 and out["k"] == 10
    assert STAT_KEYS <= set(out["stats"]["real"]) and STAT_KEYS <= set(out["stats"]["fake"])
    assert {"fake_median", "heldout_median", "memorization_rate"} <= set(out["dcr"])
    # a patch fake of real sentence embeddings is far from separable, and does not copy
    assert 0.25 < out["c2st"] <= 0.55 and abs(out["ceiling"] - 0.5) < 0.05
    assert out["dcr"]["memorization_rate"] < 0.1
    r = run("score", files / "heldout.npy", files / "fake.fbin", "--n", 500, "--permutations", 20)
    assert r.exit_code == 0 and "ceiling (real/real)" in r.output and "memorization" not in r.output


@pytest.mark.parametrize("ext", [".npy", ".fvecs", ".h5", ".parquet"])
def test_sample_formats_hold_the_same_rows(files, ext):
    model = files / "random.safetensors"
    if not model.exists():
        assert run("fit", files / "train.npy", "-o", model, "--kind", "random").exit_code == 0
    out = files / f"r{ext}"
    r = run("sample", model, "-n", 5000, "-o", out, "--seed", 4, "--chunk-size", 777, "--force")
    assert r.exit_code == 0, r.output
    from synth.io.artifact import load_model

    np.testing.assert_array_equal(read_vectors(out), load_model(model).sample(5000, random_state=4))


@pytest.mark.slow
def test_fog_fit_reports_its_match(files, tmp_path):
    np.save(tmp_path / "small.npy", np.load(files / "train.npy")[:1500])
    r = run("fit", tmp_path / "small.npy", "-o", tmp_path / "fog.safetensors", "--kind", "fog")
    assert r.exit_code == 0, r.output
    assert "largest statistic mismatch" in r.output


def test_stats_json(files):
    r = run("stats", files / "heldout.npy", "--json", "--n", 1000)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert STAT_KEYS <= set(out) and out["n"] == 1000 and out["n_duplicates"] == 0


def test_bad_input_one_line_error_no_output(tmp_path):
    X = np.random.default_rng(0).standard_normal((100, 8))
    X[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", X)
    out = tmp_path / "m.safetensors"
    proc = subprocess.run([sys.executable, "-m", "synth.cli", "fit", str(tmp_path / "nan.npy"), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stderr.strip() == f"Error: {tmp_path / 'nan.npy'}: row 3 contains NaN or infinite values"
    assert "Traceback" not in proc.stderr and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.npy"]


def test_too_few_points_and_dimension_mismatch(files, tmp_path):
    np.save(tmp_path / "few.npy", load_minilm_wordnet()[:30])
    r = run("fit", tmp_path / "few.npy", "-o", tmp_path / "m.safetensors")
    assert r.exit_code != 0 and "few.npy: 30 vectors are too few" in r.output
    np.save(tmp_path / "d8.npy", np.random.default_rng(0).standard_normal((50, 8)))
    r = run("score", files / "heldout.npy", tmp_path / "d8.npy")
    assert r.exit_code != 0 and "d8.npy: FAKE has dimension 8, REAL has 384" in r.output


def test_existing_output_is_kept_without_force(files, tmp_path):
    out = tmp_path / "keep.npy"
    out.write_bytes(b"precious")
    r = run("sample", files / "random.safetensors", "-n", 10, "-o", out)
    assert r.exit_code != 0 and "use --force" in r.output
    assert out.read_bytes() == b"precious"


def test_unknown_output_format(files, tmp_path):
    r = run("sample", files / "random.safetensors", "-n", 10, "-o", tmp_path / "x.csv")
    assert r.exit_code != 0 and "unknown output format '.csv'" in r.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    r = run("demo", "--out", tmp_path / "demo", "--n", 1000)
    assert r.exit_code == 0, r.output
    result = json.loads((tmp_path / "demo" / "demo.json").read_text())
    rows = result["rows"]
    assert list(rows) == ["real", "patch", "fog", "random"] and result["n"] == 1000
    # judged by the weaker side (a diffuse fake inflates its own side), the patch model beats both baselines
    weak = {m: min(rows[m]["c2st_real"], rows[m]["c2st_fake"]) for m in ("patch", "fog", "random")}
    assert weak["patch"] > weak["fog"] + 0.1 and weak["patch"] > weak["random"] + 0.1, weak
    assert rows["patch"]["c2st"] > max(rows["fog"]["c2st"], rows["random"]["c2st"])
    assert abs(result["ceiling"]["c2st"] - 0.5) < 0.05
    assert (tmp_path / "demo" / "clouds.png").read_bytes()[:4] == b"\x89PNG"
    assert "| patch |" in (tmp_path / "demo" / "demo.md").read_text()
    assert "ceiling (real/real)" in r.output


@pytest.mark.slow
def test_fit_noise_scale_option(files, tmp_path):
    model = tmp_path / "plain.safetensors"
    r = run("fit", files / "train.npy", "-o", model, "--patches", 20, "--noise-scale", "0.5")
    assert r.exit_code == 0 and "noise scale 0.5" in r.output and "calibrated" not in r.output, r.output
    from synth.io.artifact import load_model

    assert load_model(model).noise_scale_ == 0.5
    r = run("fit", files / "train.npy", "-o", tmp_path / "bad.safetensors", "--noise-scale", "loud")
    assert r.exit_code == 2 and "'loud' must be 'auto' or a finite number > 0" in r.output
    assert not (tmp_path / "bad.safetensors").exists()


@pytest.mark.slow
def test_fit_bridge_option(files, tmp_path):
    from synth.io.artifact import read_header

    r = run("fit", files / "train.npy", "-o", tmp_path / "b.safetensors", "--patches", 20, "--rank", 8,
            "--noise-scale", 1, "--bridge", 0.75)
    assert r.exit_code == 0, r.output
    assert read_header(tmp_path / "b.safetensors")["params"]["bridge"] == 0.75
    r = run("fit", files / "train.npy", "-o", tmp_path / "c.safetensors", "--bridge", 2)
    assert r.exit_code == 2 and "--bridge" in r.output and not (tmp_path / "c.safetensors").exists()


def test_fit_patch_count_auto_and_size_cap(files, tmp_path):
    from synth.io.artifact import read_header

    r = run("fit", files / "train.npy", "-o", tmp_path / "a.safetensors", "--rank", 8, "--noise-scale", 1,
            "--max-mb", 0.2)
    assert r.exit_code == 0, r.output
    assert read_header(tmp_path / "a.safetensors")["params"]["n_patches"] == "auto"
    assert (tmp_path / "a.safetensors").stat().st_size <= 200_000
    for bad in (["--patches", "many"], ["--patches", 0], ["--max-mb", 0]):
        r = run("fit", files / "train.npy", "-o", tmp_path / "c.safetensors", *bad)
        assert r.exit_code == 2 and bad[0] in r.output and not (tmp_path / "c.safetensors").exists()


@pytest.mark.slow
def test_fit_reports_a_lowered_auto_patch_count(tmp_path):
    from synth.bundled import load_minilm_wordnet

    np.save(tmp_path / "small.npy", load_minilm_wordnet()[:2500])
    r = run("fit", tmp_path / "small.npy", "-o", tmp_path / "m.safetensors", "--rank", 16, "--min-points", 10,
            "--noise-scale", 0.25)
    assert r.exit_code == 0, r.output
    assert "patch count lowered from 160 to " in r.output and "failed the memorization check on its training rows" in r.output
    r = run("fit", tmp_path / "small.npy", "-o", tmp_path / "k.safetensors", "--patches", 160, "--rank", 16,
            "--min-points", 10, "--noise-scale", 0.25)
    assert r.exit_code == 0 and "patch count lowered" not in r.output
    r = run("fit", tmp_path / "small.npy", "-o", tmp_path / "g.safetensors", "--no-copy-guard", "--rank", 16,
            "--min-points", 10, "--noise-scale", 0.25)
    assert r.exit_code == 0 and "patch count lowered" not in r.output


@pytest.mark.slow
def test_fit_softness_option(files, tmp_path):
    from synth.io.artifact import read_header

    r = run("fit", files / "train.npy", "-o", tmp_path / "s.safetensors", "--patches", 20, "--rank", 8,
            "--noise-scale", 1, "--softness", 0.1)
    assert r.exit_code == 0, r.output
    assert read_header(tmp_path / "s.safetensors")["params"]["softness"] == 0.1
    r = run("fit", files / "train.npy", "-o", tmp_path / "t.safetensors", "--softness", -1)
    assert r.exit_code == 2 and "--softness" in r.output and not (tmp_path / "t.safetensors").exists()


@pytest.mark.slow
def test_fit_recolor_option(files, tmp_path):
    from synth.io.artifact import load_model

    r = run("fit", files / "train.npy", "-o", tmp_path / "r.safetensors", "--patches", 20, "--rank", 8,
            "--noise-scale", 1, "--bridge", 0.75, "--recolor")
    assert r.exit_code == 0, r.output
    model = load_model(tmp_path / "r.safetensors")
    assert model.recolor and model.recolor_map_.shape == (model.dim_, model.dim_)


@pytest.mark.slow  # about 10 s: moved out of the quick suite when the workloads' tests came in (its budget)
def test_named_real_sets_are_inputs_of_every_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("fit", "bundled", "-o", tmp_path / "m.safetensors", "--patches", 20, "--rank", 8, "--noise-scale", 1,
            "-q")
    assert r.exit_code == 0, r.output
    from synth.io.artifact import read_header

    assert read_header(tmp_path / "m.safetensors")["fit_data"]["n"] == 24000
    r = run("stats", "bundled", "--n", 500, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["n"] == 500
    r = run("stats", "bundld")
    assert r.exit_code == 1 and r.output == ("Error: bundld: no such file or folder (named sets: bundled, "
                                             "minilm-word-table, minilm-wordnet-all, minilm-wordnet-lemmas; "
                                             "NAME:train and NAME:heldout are their split)\n")
    (tmp_path / "bundled").write_bytes(b"not vectors")  # a file of that name takes precedence over the set
    r = run("stats", "bundled", "--json")
    assert r.exit_code == 1 and r.output.startswith("Error: bundled: unknown format ''")


@pytest.mark.slow  # moved out of the quick suite (its 3-minute budget, 2026-12-08)
def test_a_named_sets_split_is_an_input_and_the_boards_find_a_model_fitted_on_its_train_part(tmp_path):
    from bench.cli import main as bench_main
    from synth.bundled import load_real

    X = load_real("bundled")
    order = np.random.default_rng(0).permutation(len(X))
    train, heldout = load_real("bundled:train"), load_real("bundled:heldout")
    assert np.array_equal(train, X[order[:10000]]) and np.array_equal(heldout, X[order[10000:]])
    r = run("stats", "bundled:heldout", "--n", 500, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["n"] == 500
    model = tmp_path / "m.safetensors"
    r = run("fit", "bundled:train", "-o", model, "--patches", 20, "--rank", 8, "--noise-scale", 1, "-q")
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(bench_main, ["cost", "bundled", "--model", str(model), "--sizes", "1000", "--queries", "50",
                                        "--index", "faiss-ivf", "--json", "-q", "--out", str(tmp_path / "cost")])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert result["split"]["fit_rows"] == "split" and result["n_fit"] == 10000
    assert result["configs"]["m"]["memorization"]["memorization_rate"] < 0.2
    r = run("stats", "bundled:test")
    assert r.exit_code == 1 and "no such file or folder" in r.output
