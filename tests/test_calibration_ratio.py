"""PatchPCA's ``calibration_ratio`` (issue 18, fidelity past N / 10): the noise calibration tested at n = N / R."""

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_one_line_error

from synth.cli import main
from synth.errors import SynthError
from synth.io.artifact import read_header, save_model
from synth.models import PatchPCA
from synth.models.patch import calibration_split


def unit_rows(n, d=16, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32) + 0.5
    return X / np.linalg.norm(X, axis=1, keepdims=True)


PARAMS = {"n_patches": 8, "rank": 4, "min_points": 20, "n_iter": 5}


@pytest.mark.parametrize("n, ratio, fit_rows, test_rows", [
    (24_000, None, 10_000, 5_000),  # today's rule: as many as CALIBRATION_TEST allows
    (24_000, 5, 10_000, 2_000),     # a fifth of the sub-model's rows
    (24_000, 2, 10_000, 5_000),     # capped by CALIBRATION_TEST
    (8_000, 5, 4_000, 800),
    (3_000, 5, 1_500, 500),         # at least CALIBRATION_MIN_TEST
])
def test_the_calibration_tests_at_a_rth_of_its_sub_model(n, ratio, fit_rows, test_rows):
    sub, B = calibration_split(unit_rows(n), {**PARAMS, "calibration_ratio": ratio}, seed=0)
    assert sub.counts_.sum() == fit_rows and len(B) == test_rows


def test_the_ratio_moves_the_scale_and_is_stored_only_when_set(tmp_path):
    X = unit_rows(6_000)
    plain = PatchPCA(**PARAMS, random_state=0).fit(X)
    fifth = PatchPCA(**PARAMS, calibration_ratio=5, random_state=0).fit(X)
    assert plain.calibration_["n_test"] == 3_000 and fifth.calibration_["n_test"] == 600
    assert plain.noise_scale_ != fifth.noise_scale_  # a smaller test balances elsewhere
    save_model(plain, tmp_path / "a.safetensors")
    save_model(fifth, tmp_path / "b.safetensors")
    assert "calibration_ratio" not in read_header(tmp_path / "a.safetensors")["params"]
    assert read_header(tmp_path / "b.safetensors")["params"]["calibration_ratio"] == 5
    with pytest.raises(SynthError, match="calibration_ratio must be None or an integer >= 1"):
        PatchPCA(calibration_ratio=0).fit(X)


def test_cli_option(tmp_path):
    np.save(tmp_path / "x.npy", unit_rows(3_000))
    r = CliRunner().invoke(main, ["fit", str(tmp_path / "x.npy"), "-o", str(tmp_path / "m.safetensors"),
                                  "--patches", "8", "--rank", "4", "--calibration-ratio", "5"])
    assert r.exit_code == 0, r.output
    assert read_header(tmp_path / "m.safetensors")["params"]["calibration_ratio"] == 5
    r = CliRunner().invoke(main, ["fit", str(tmp_path / "x.npy"), "-o", str(tmp_path / "n.safetensors"),
                                  "--calibration-ratio", "0"])
    assert r.exit_code == 2 and "--calibration-ratio" in r.output and not (tmp_path / "n.safetensors").exists()


def test_recipe_refuses_a_bad_ratio(tmp_path):
    path = tmp_path / "r.yml"
    path.write_text("name: t\nsource:\n  embeddings: bundled\nfit:\n  calibration_ratio: 0\n")
    r = CliRunner().invoke(main, ["recipe", "check", str(path)])
    assert_one_line_error(r, path, "fit.calibration_ratio", ">= 1")
