"""Membership inference (issue 18): the attacks score what they claim, have teeth on a model that leaks,
and see nothing where there is nothing to see."""
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import save_real_split
from sklearn.metrics import roc_auc_score

from synth.cli import main
from synth.metrics.privacy import (
    check_membership,
    membership_attacks,
    roc_figures,
    shadow_lira,
    shadow_models,
    subspace_residual,
)
from synth.models import PatchPCA, RandomSphere
from synth.models.fitting import fit_model


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return save_real_split(tmp_path_factory.mktemp("privacy"), n_train=3000, n_heldout=3000)


def test_roc_figures_agree_with_sklearn_and_count_the_true_positives_at_1pct():
    rng = np.random.default_rng(0)
    members, others = rng.normal(0.5, 1, 700), rng.normal(0, 1, 900)
    auc, _ = roc_figures(members, others)
    assert auc == pytest.approx(roc_auc_score(np.r_[np.ones(700), np.zeros(900)], np.r_[members, others]))
    # 1% of 1,000 non-members may pass: the threshold sits above the 11th highest non-member score (10.5)
    others = np.arange(1000, dtype=float)[::-1] / 100  # 9.99, 9.98, ...
    members = np.r_[np.full(30, 9.895), np.full(70, 0.0)]
    assert roc_figures(members, others)[1] == 0.3
    assert roc_figures(np.full(10, 100.0), others)[1] == 1.0
    assert roc_figures(np.full(10, -1.0), others) == (0.0, 0.0)


def test_the_attack_has_teeth_on_a_patch_model(real):
    train, heldout = np.load(real / "train.npy"), np.load(real / "heldout.npy")
    model = PatchPCA(n_patches=40, rank=16, noise_scale=1.0, random_state=0).fit(train)
    result = membership_attacks(model, train, heldout, n=1000, n_fakes=5000, n_boot=50)
    a = result["attacks"]["subspace_residual"]
    # 75 rows per patch, 16 directions fitted to them: training rows sit in their patch's subspace
    assert a["auc"] > 0.9 and a["auc_ci"][0] <= a["auc"] <= a["auc_ci"][1] and a["tpr_at_1pct_fpr"] > 0.3
    assert not result["passed"] and result["check"].startswith("failed: ") and result["worst"] in result["attacks"]
    # the score is minus the residual share outside the nearest patch's directions: in (-1, 0], members higher
    s_train, s_held = subspace_residual(model, train[:500]), subspace_residual(model, heldout[:500])
    assert np.all(s_train <= 0) and np.all(s_train > -1) and np.median(s_train) > np.median(s_held)


@pytest.mark.slow
def test_the_shadow_attack_finds_members_and_nothing_among_non_members(real, tmp_path):
    """Offline LiRA with shadow models fitted on held-out rows that are not scored: members of a leaking model
    stand out; two sets of non-members do not (the control: the same scores, no membership to find)."""
    train, heldout = np.load(real / "train.npy"), np.load(real / "heldout.npy")
    model = PatchPCA(n_patches=40, rank=16, noise_scale=1.0, random_state=0).fit(train)
    result = membership_attacks(model, train, heldout, n=1000, n_fakes=3000, n_boot=50, shadows=3)
    assert result["shadow"] == {"ran": True, "shadows": 3, "rows": 2000, "pool": 2000, "n_patches": 27}
    a = result["attacks"]["shadow_lira"]
    assert a["auc"] > 0.9 and a["tpr_at_1pct_fpr"] > 0.2
    pool, a_rows, b_rows = heldout[:1800], heldout[1800:2400], heldout[2400:]
    shadows = shadow_models(model, pool, 3, 1500, random_state=1)
    assert all(m.n_patches_ == 20 and m.noise_scale_ == model.noise_scale_ for m in shadows)
    first, second = shadow_lira(model, shadows, a_rows, b_rows)
    auc = roc_figures(first, second)[0]
    assert 0.42 < auc < 0.58
    # too few held-out rows left for the shadows: said, not run
    small = membership_attacks(model, train, heldout[:1500], n=1000, n_fakes=2000, n_boot=20, shadows=2)
    assert not small["shadow"]["ran"] and "500 held-out rows are left" in small["shadow"]["why"]
    assert "shadow_lira" not in small["attacks"]
    fit_model(real / "train.npy", tmp_path / "m.safetensors", params=dict(n_patches=40, rank=16, noise_scale=1.0))
    r = run("audit", tmp_path / "m.safetensors", "--train", real / "train.npy", "--heldout", real / "heldout.npy",
            "--n", 500, "--fakes", 2000, "--shadows", 2)
    assert r.exit_code == 0 and "| shadow_lira |" in r.output
    assert "2 shadow models of 33 patches, each fitted on 2,500 of 2,500 held-out rows" in r.output


def test_a_model_that_knows_nothing_leaks_nothing(real):
    train, heldout = np.load(real / "train.npy"), np.load(real / "heldout.npy")
    model = RandomSphere().fit(train)
    result = membership_attacks(model, train, heldout, n=2000, n_fakes=5000, n_boot=100)
    assert set(result["attacks"]) == {"nearest_fake"}
    a = result["attacks"]["nearest_fake"]
    assert 0.45 < a["auc"] < 0.55 and a["auc_ci"][0] < 0.5 < a["auc_ci"][1] and a["tpr_at_1pct_fpr"] < 0.03


def test_check_membership_names_each_attack_over_the_bar():
    ok = {"a": {"auc": 0.52, "tpr_at_1pct_fpr": 0.012}}
    assert check_membership(ok) == (True, "passed")
    bad = {"a": {"auc": 0.52, "tpr_at_1pct_fpr": 0.03}, "b": {"auc": 0.7, "tpr_at_1pct_fpr": 0.01}}
    passed, why = check_membership(bad)
    assert not passed and why == "failed: b AUC 0.700 > 0.55; a TPR at 1% FPR 0.030 > 0.02"


def test_audit_command_prints_every_attack_and_the_verdict(real, tmp_path):
    fit_model(real / "train.npy", tmp_path / "m.safetensors", params=dict(n_patches=40, rank=16, noise_scale=1.0))
    r = run("audit", tmp_path / "m.safetensors", "--train", real / "train.npy", "--heldout", real / "heldout.npy",
            "--n", 500, "--fakes", 2000, "--json")
    assert r.exit_code == 0, r.output
    import json

    result = json.loads(r.output)
    assert result["n"] == 500 and result["n_fakes"] == 2000 and not result["passed"]
    r = run("audit", tmp_path / "m.safetensors", "--train", real / "train.npy", "--heldout", real / "heldout.npy",
            "--n", 500, "--fakes", 2000)
    assert r.exit_code == 0 and "| subspace_residual |" in r.output and "Check (every attack" in r.output


def test_audit_command_refuses_bad_inputs_in_one_line(real, tmp_path):
    fit_model(real / "train.npy", tmp_path / "m.safetensors", params=dict(n_patches=40, rank=16, noise_scale=1.0))
    r = run("audit", tmp_path / "m.safetensors", "--train", real / "train.npy", "--heldout", real / "train.npy")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert "shares 3000 rows with --train" in r.output and "train.npy" in r.output
    np.save(tmp_path / "small.npy", np.random.default_rng(0).standard_normal((100, 16)).astype(np.float32))
    r = run("audit", tmp_path / "m.safetensors", "--train", real / "train.npy", "--heldout", tmp_path / "small.npy")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert "small.npy: has dimension 16, the model 384" in r.output
    r = run("audit", tmp_path / "missing.safetensors", "--train", real / "train.npy", "--heldout",
            real / "heldout.npy")
    assert r.exit_code != 0 and "Traceback" not in r.output
