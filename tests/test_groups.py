"""PatchPCA's group centres (``group_size``): groups of at least min_points rows inside each patch."""

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_one_line_error

from synth.cli import main
from synth.errors import SynthError
from synth.io.artifact import load_model, read_header, save_model
from synth.models import BLOCK_ROWS, PatchPCA
from synth.models.patch import auto_patches, group_bytes


def nested_blobs(n=3000, d=24, clusters=4, sub=12, seed=0):
    """Unit vectors in a few clusters, each made of tight sub-clusters: structure finer than a patch."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((clusters, d)) * 3 + 1.0
    S = C[:, None, :] + rng.standard_normal((clusters, sub, d))
    pick = rng.integers(clusters * sub, size=n)
    X = S.reshape(-1, d)[pick] + 0.15 * rng.standard_normal((n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    return nested_blobs()


@pytest.fixture(scope="module")
def grouped(data):
    return PatchPCA(n_patches=4, rank=6, noise_scale=0.5, group_size=40, random_state=0).fit(data)


def test_every_group_summarises_at_least_min_points_rows(data, grouped):
    assert grouped.n_groups_ > grouped.n_patches_
    assert grouped.group_counts_.min() >= grouped.min_points
    # the groups split each patch's rows: their counts add up to the patch's
    np.testing.assert_array_equal(np.bincount(grouped.group_patch_, weights=grouped.group_counts_,
                                              minlength=grouped.n_patches_), grouped.counts_)
    assert (np.diff(grouped.group_patch_) >= 0).all()  # grouped by patch, in the canonical patch order
    # at most n_a // G groups per patch
    assert (np.bincount(grouped.group_patch_) <= grouped.counts_ // grouped.group_size).all()
    assert grouped.group_means_.dtype == np.float32 and grouped.group_means_.shape == (grouped.n_groups_, 24)
    # a larger min_points merges more groups away, and no group falls below it
    strict = PatchPCA(n_patches=4, rank=6, noise_scale=0.5, min_points=35, group_size=40, random_state=0).fit(data)
    assert strict.group_counts_.min() >= 35


def test_group_size_none_is_the_default_model(data):
    default = PatchPCA(n_patches=6, rank=6, random_state=0, bridge=0.5).fit(data)
    explicit = PatchPCA(n_patches=6, rank=6, random_state=0, bridge=0.5, group_size=None).fit(data)
    assert explicit.group_means_ is None and explicit.n_groups_ == 0
    assert default._arrays().keys() == explicit._arrays().keys()
    assert not [k for k in default._arrays() if k.startswith("group")]
    for name, a in default._arrays().items():
        assert np.array_equal(a, explicit._arrays()[name]), name
    np.testing.assert_array_equal(default.sample(BLOCK_ROWS + 50, random_state=3),
                                  explicit.sample(BLOCK_ROWS + 50, random_state=3))


def test_patch_means_stay_the_patch_means_and_fakes_sit_on_group_means(data, grouped):
    plain = PatchPCA(n_patches=4, rank=6, noise_scale=0.5, random_state=0).fit(data)
    np.testing.assert_array_equal(grouped.counts_, plain.counts_)
    np.testing.assert_allclose(grouped.means_, plain.means_, atol=1e-6)
    # rank 0 and almost no noise: every fake is (nearly) a normalised group mean, not a patch mean
    tight = PatchPCA(n_patches=4, rank=0, noise_scale=1e-3, group_size=40, random_state=0).fit(data)
    Y = tight.sample(2000, random_state=1)
    G = tight.group_means_ / np.linalg.norm(tight.group_means_, axis=1, keepdims=True)
    P = tight.means_ / np.linalg.norm(tight.means_, axis=1, keepdims=True)
    assert (Y @ G.T).max(axis=1).min() > 0.999
    assert np.median((Y @ P.T).max(axis=1)) < 0.99
    # groups are drawn by their row counts
    nearest_group = np.argmax(Y @ G.T, axis=1)
    share = np.bincount(nearest_group, minlength=tight.n_groups_) / len(Y)
    np.testing.assert_allclose(share, tight.group_counts_ / tight.group_counts_.sum(), atol=0.02)


def test_within_group_variance_is_below_the_patch_variance(data, grouped):
    plain = PatchPCA(n_patches=4, rank=6, noise_scale=0.5, random_state=0).fit(data)
    d = data.shape[1]

    def total(m):  # each patch's fitted total variance: kept directions plus the residual
        return m.variances_.sum(axis=1) + (d - m.variances_.shape[1]) * m.noise_variance_

    # sub-clusters 1 apart with spread 0.15: most of a patch's scatter is between its groups
    assert (total(grouped) < 0.5 * total(plain)).all(), (total(grouped), total(plain))
    # the directions stay unit and sign-fixed
    V = grouped.components_.astype(np.float32)
    np.testing.assert_allclose(np.linalg.norm(V, axis=2), 1, atol=1e-3)


def test_refit_round_trip_and_stream_are_identical(tmp_path, data):
    model = PatchPCA(n_patches=4, rank=6, noise_scale=0.5, bridge=0.25, group_size=40, random_state=0).fit(data)
    again = PatchPCA(n_patches=4, rank=6, noise_scale=0.5, bridge=0.25, group_size=40, random_state=0).fit(data)
    for name, a in model._arrays().items():
        assert np.array_equal(a, again._arrays()[name]), name
    save_model(model, tmp_path / "g.safetensors")
    back = load_model(tmp_path / "g.safetensors")
    assert back.group_size == 40 and back.group_means_.dtype == np.float32
    for name in ("group_means", "group_counts", "group_patch"):
        np.testing.assert_array_equal(back._arrays()[name], model._arrays()[name])
    n = 2 * BLOCK_ROWS + 321
    whole = model.sample(n, random_state=4)
    np.testing.assert_array_equal(back.sample(n, random_state=4), whole)
    np.testing.assert_array_equal(model.sample(500, random_state=4), whole[:500])
    start = BLOCK_ROWS + 7
    for chunk_size in (1000, 3 * BLOCK_ROWS):
        np.testing.assert_array_equal(np.concatenate(list(back.iter_samples(n, 4, start=start,
                                                                            chunk_size=chunk_size))), whole[start:])
    assert not np.array_equal(model.sample(500, random_state=5), whole[:500])


def test_bad_group_files_are_refused_in_one_line(tmp_path, grouped):
    arrays = grouped._arrays()
    for name, value, words in (
            ("group_patch", np.full_like(arrays["group_patch"], grouped.n_patches_), "names patch"),
            ("group_counts", arrays["group_counts"][:-1], "shape"),
            ("group_means", arrays["group_means"][:, :-1], "shape"),
            ("group_counts", np.zeros_like(arrays["group_counts"]), "below 1")):
        bad = {**arrays, name: value}
        with pytest.raises(ValueError, match=words) as e:
            PatchPCA(group_size=40)._set_arrays(bad)
        assert "\n" not in str(e.value)
    missing = {k: v for k, v in arrays.items() if not k.startswith("group")}
    with pytest.raises(ValueError, match="no 'group_means' array"):
        PatchPCA(group_size=40)._set_arrays(missing)
    PatchPCA()._set_arrays(missing)  # a file without groups, as before the option


@pytest.mark.parametrize("bad, words", [(5, "integer >= min_points"), (19, "integer >= min_points"),
                                        (20.0, "integer >= min_points"), ("20", "integer >= min_points"),
                                        (True, "integer >= min_points")])
def test_bad_group_size_is_refused(data, bad, words):
    with pytest.raises(SynthError, match=words) as e:
        PatchPCA(n_patches=4, group_size=bad).fit(data)
    assert "\n" not in str(e.value)
    with pytest.raises(SynthError, match="not supported with softness"):
        PatchPCA(n_patches=4, group_size=40, softness=0.1).fit(data)


def test_group_means_are_taken_from_the_file_budget(tmp_path, data):
    d, n, G = 384, 100_000, 20
    reserve = group_bytes(n // G, d)
    assert reserve == (n // G) * (4 * d + 16)
    assert auto_patches(n, d, 40, 16, reserve) < auto_patches(n, d, 40, 16)
    # a real fit under a tight cap stays within it, group means included: 0.0865 MB leaves 49 patches of
    # 420 bytes at 24-d, rank 6, without groups, 9 once the 150 group means (16,800 bytes) are reserved
    max_mb = 0.0865
    model = PatchPCA(rank=6, noise_scale=0.5, max_mb=max_mb, group_size=20, copy_guard=False,
                     random_state=0).fit(data)
    size = save_model(model, tmp_path / "cap.safetensors")
    assert size <= max_mb * 1e6, size
    assert auto_patches(len(data), 24, 6, max_mb, group_bytes(len(data) // 20, 24)) == 9
    assert auto_patches(len(data), 24, 6, max_mb) == 49
    assert model.n_patches_ <= 9


def test_cli_fit_group_size(tmp_path, data):
    np.save(tmp_path / "real.npy", data)
    out = tmp_path / "g.safetensors"
    r = CliRunner().invoke(main, ["fit", str(tmp_path / "real.npy"), "-o", str(out), "--patches", "4", "--rank", "6",
                                  "--noise-scale", "0.5", "--group-size", "40"])
    assert r.exit_code == 0, r.output
    assert "group centres (>= " in r.output
    assert read_header(out)["params"]["group_size"] == 40
    assert load_model(out).n_groups_ > 4
    r = CliRunner().invoke(main, ["fit", str(tmp_path / "real.npy"), "-o", str(tmp_path / "h.safetensors"),
                                  "--patches", "4", "--group-size", "15"])
    assert_one_line_error(r, tmp_path / "real.npy", "group_size", "min_points (20)")
    assert not (tmp_path / "h.safetensors").exists()


def test_bench_configs_and_recipes_pass_group_size():
    from bench.fidelity import parse_config
    from synth.publish.recipe import SCHEMA

    assert parse_config("groups20=patch:group_size=20") == ("groups20", "patch", {"group_size": 20})
    assert SCHEMA["fit"]["group_size"][1] is None
