"""PatchPCA's shared directions (``shared_rank``, issue 18): directions fitted on every training row, each patch
keeping its own variances along them; the membership attacks read them as they read a patch's own."""

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_one_line_error, save_real_split

from synth.cli import main
from synth.io.artifact import load_model, read_header, save_model
from synth.metrics.privacy import likelihood, membership_attacks, subspace_residual
from synth.models import PatchPCA


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return save_real_split(tmp_path_factory.mktemp("shared"), n_train=3000, n_heldout=3000)


@pytest.fixture(scope="module")
def train(real):
    return np.load(real / "train.npy")


@pytest.fixture(scope="module")
def shared(train):
    return PatchPCA(n_patches=20, rank=3, shared_rank=12, noise_scale=1.0, random_state=0).fit(train)


def test_shared_directions_are_the_pooled_within_patch_leading_directions(train, shared):
    G = shared.shared_components_.astype(np.float64)
    assert G.shape == (12, 384) and shared.shared_variances_.shape == (shared.n_patches_, 12)
    np.testing.assert_allclose(G @ G.T, np.eye(12), atol=1e-5)
    # refit the cells by hand: each row's offset from its own cell mean, pooled; its 12 leading eigenvectors
    X = train / np.linalg.norm(train, axis=1, keepdims=True)
    cells = np.argmax(X @ (shared.means_ / np.linalg.norm(shared.means_, axis=1, keepdims=True)).T, axis=1)
    D = X - np.stack([X[cells == j].mean(axis=0) for j in range(shared.n_patches_)])[cells]
    U = np.linalg.eigh(D.T @ D)[1][:, ::-1][:, :12]
    # the same subspace (cells from the stored means may differ from k-means' last assignment by a few rows)
    assert np.linalg.svd(U.T @ G.T, compute_uv=False).min() > 0.99
    # the local directions lie outside the shared ones
    V = shared.components_.astype(np.float64)
    assert np.abs(np.einsum("krd,sd->krs", V, G)).max() < 2e-3


def test_one_patch_keeps_the_rows_total_variance(train):
    m = PatchPCA(n_patches=1, rank=5, shared_rank=20, noise_scale=1.0, random_state=0).fit(train[:800])
    X = train[:800] / np.linalg.norm(train[:800], axis=1, keepdims=True)
    total = np.trace(np.cov(X.T.astype(np.float64)))
    kept = m.shared_variances_.sum() + m.variances_.sum() + (384 - 25) * m.noise_variance_[0]
    assert kept == pytest.approx(total, rel=1e-4)
    # the shared variances of one patch are the leading eigenvalues of its covariance, largest first
    ev = np.linalg.eigvalsh(np.cov(X.T.astype(np.float64)))[::-1]
    np.testing.assert_allclose(m.shared_variances_[0], ev[:20], rtol=1e-3)


def test_samples_round_trip_through_the_file_and_lie_on_the_sphere(tmp_path, shared):
    save_model(shared, tmp_path / "m.safetensors")
    back = load_model(tmp_path / "m.safetensors")
    assert read_header(tmp_path / "m.safetensors")["params"]["shared_rank"] == 12
    a, b = shared.sample(500, random_state=3), back.sample(500, random_state=3)
    np.testing.assert_array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)


def test_a_file_without_its_shared_arrays_is_refused(tmp_path, shared):
    import json

    from safetensors.numpy import load_file, save_file

    save_model(shared, tmp_path / "m.safetensors")
    with open(tmp_path / "m.safetensors", "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n))["__metadata__"]
    arrays = load_file(tmp_path / "m.safetensors")
    del arrays["shared_components"]
    save_file(arrays, tmp_path / "cut.safetensors", metadata=meta)
    r = CliRunner().invoke(main, ["sample", str(tmp_path / "cut.safetensors"), "-n", "10", "-o",
                                  str(tmp_path / "f.npy")])
    assert r.exit_code != 0 and "Traceback" not in r.output and not (tmp_path / "f.npy").exists()


def test_default_files_keep_their_parameters(tmp_path, train):
    m = PatchPCA(n_patches=10, rank=4, noise_scale=1.0, random_state=0).fit(train[:1000])
    save_model(m, tmp_path / "d.safetensors")
    assert "shared_rank" not in read_header(tmp_path / "d.safetensors")["params"]
    assert m.shared_components_ is None


@pytest.mark.slow  # moved out of the quick suite (its 3-minute budget, 2026-12-08)
def test_shared_directions_hide_the_rows_from_the_subspace_attack(real, train):
    """The same number of directions per patch: fitted to each patch's 150 rows the training rows sit in them;
    fitted to all 3,000 they hardly do."""
    heldout = np.load(real / "heldout.npy")
    local = PatchPCA(n_patches=20, rank=16, noise_scale=1.0, random_state=0).fit(train)
    common = PatchPCA(n_patches=20, rank=0, shared_rank=16, noise_scale=1.0, random_state=0).fit(train)
    a_local = membership_attacks(local, train, heldout, n=1500, n_fakes=3000, n_boot=20)["attacks"]
    a_common = membership_attacks(common, train, heldout, n=1500, n_fakes=3000, n_boot=20)["attacks"]
    assert a_local["subspace_residual"]["auc"] > 0.8
    assert a_common["subspace_residual"]["auc"] < 0.6 and a_common["likelihood"]["auc"] < 0.65
    # both statistics see the shared directions: a row inside them scores as inside
    G = common.shared_components_.astype(np.float64)
    p = np.argmax(common.means_ @ common.means_[0])
    inside = common.means_[p] + 0.05 * G[0] + 0.05 * G[1]
    outside = common.means_[p] + 0.0707 * np.linalg.svd(np.vstack([G, common.means_[p]]))[2][-1]
    rows = np.stack([inside, outside])
    assert subspace_residual(common, rows)[0] > subspace_residual(common, rows)[1]
    assert np.all(np.isfinite(likelihood(common, rows)))


def test_cli_fits_shared_directions_and_refuses_what_it_cannot_fit(real, tmp_path):
    out = tmp_path / "m.safetensors"
    r = CliRunner().invoke(main, ["fit", str(real / "train.npy"), "-o", str(out), "--shared-rank", "8", "--rank",
                                  "2", "--noise-scale", "1", "--patches", "12"])
    assert r.exit_code == 0, r.output
    assert "; 8 shared directions)" in r.output and load_model(out).shared_components_.shape == (8, 384)
    r = CliRunner().invoke(main, ["fit", str(real / "train.npy"), "-o", str(tmp_path / "s.safetensors"),
                                  "--shared-rank", "8", "--softness", "0.1"])
    assert_one_line_error(r, real / "train.npy", "shared_rank is not supported with softness")
    assert not (tmp_path / "s.safetensors").exists()


def test_the_card_says_what_the_file_holds():
    from synth.publish.card import holdings_text

    m = {"kind": "patch", "patches": 50, "params": {"rank": 0, "shared_rank": 64}, "fit_data": {"n": 50000}}
    text = holdings_text(m)
    assert "each of its 50 patches (k-means cells of the training rows, about 1,000 rows each)" in text
    assert "principal directions" not in text and "its variances along 64 shared directions" in text
    assert "the 64 shared directions, fitted on all 50,000 training rows" in text
    plain = holdings_text({"kind": "patch", "patches": 160, "params": {"rank": 40}, "fit_data": {"n": 10000}})
    assert "about 62 rows each) the cell's weight, mean, up to 40 principal directions of its own" in plain
    assert "shared" not in plain
    assert holdings_text({"kind": "fog", "patches": None, "params": {}}) == ""
