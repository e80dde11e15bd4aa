"""Cone axis, centering, Cayley-Menger volumes, Matryoshka truncation and the band sweep (no torch needed)."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from synth.cli import main
from synth.errors import SynthError
from synth.geometry.cone import center, centering_effect, compare_axes, cone_axis, cone_report, extreme_rows
from synth.geometry.simplex import cm_sweep, pca_project
from synth.metrics.statistics import anisotropy, cm_volume_cv, simplex_volumes, truncate_dims


def unit(X):
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def cone_data(n=800, d=32, offset=3.0, seed=0):
    """Unit rows around the direction e_0 (a narrow cone when offset is large)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[:, 0] += offset
    return unit(X)


def cayley_menger_volume(P):
    """4-simplex volume from the bordered squared-distance determinant: V^2 = -det(CM) / (2^4 (4!)^2)."""
    D = np.square(np.linalg.norm(P[:, None] - P[None], axis=-1))
    CM = np.ones((6, 6))
    CM[0, 0] = 0
    CM[1:, 1:] = D
    return math.sqrt(max(-np.linalg.det(CM) / (2**4 * math.factorial(4) ** 2), 0.0))


def test_simplex_volume_matches_cayley_menger_determinant():
    rng = np.random.default_rng(0)
    P = rng.standard_normal((6, 5, 7))
    ours = simplex_volumes(P)
    ref = [cayley_menger_volume(p) for p in P]
    np.testing.assert_allclose(ours, ref, rtol=1e-8)
    # the unit cube corner simplex 0, e1..e4 has volume 1/4!
    corner = np.vstack([np.zeros(4), np.eye(4)])[None]
    assert simplex_volumes(corner)[0] == pytest.approx(1 / 24)


def test_cm_volume_cv_known_answers():
    rng = np.random.default_rng(1)
    # five points: every draw is the same simplex, so the volumes do not vary
    assert cm_volume_cv(rng.standard_normal((5, 10)), n_simplices=50) == pytest.approx(0.0, abs=1e-9)
    # points on a 3-dimensional great sphere: every 4-simplex is flat
    flat = np.zeros((100, 10))
    flat[:, :3] = rng.standard_normal((100, 3))
    assert math.isnan(cm_volume_cv(flat, n_simplices=100))
    # concentration of measure: the CV falls with dimension; a patchy set sits above random
    cv8 = cm_volume_cv(rng.standard_normal((2000, 8)), random_state=0)
    cv128 = cm_volume_cv(rng.standard_normal((2000, 128)), random_state=0)
    assert cv128 < cv8 / 2
    centers = rng.standard_normal((10, 128))
    patchy = centers[rng.integers(10, size=2000)] + 0.2 * rng.standard_normal((2000, 128))
    assert cm_volume_cv(patchy, random_state=0) > 2 * cv128
    # seeded
    X = rng.standard_normal((300, 16))
    assert cm_volume_cv(X, random_state=3) == cm_volume_cv(X, random_state=3)
    with pytest.raises(SynthError):
        cm_volume_cv(rng.standard_normal((10, 3)))


def test_truncate_dims():
    X = np.random.default_rng(2).standard_normal((50, 20))
    T = truncate_dims(X, 8)
    assert T.shape == (50, 8) and T.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(T, axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(T, unit(X[:, :8]), atol=1e-6)
    for bad in (1, 21):
        with pytest.raises(SynthError):
            truncate_dims(X, bad)


def test_cone_axis_finds_the_common_direction():
    X = cone_data()
    axis, info = cone_axis(X)
    assert axis[0] > 0.99  # e_0, signed towards the mean
    assert info["mean_cosine"] > 0.99
    axis_neg, _ = cone_axis(-X)
    assert axis_neg[0] < -0.99
    # isotropic data: no direction carries much more than 1/d
    _, iso = cone_axis(unit(np.random.default_rng(3).standard_normal((4000, 32))))
    assert iso["axis_share"] < 2 / 32 < info["axis_share"]


def test_extreme_rows_are_sorted_projections():
    X = cone_data(n=100)
    axis, _ = cone_axis(X)
    top, bottom = extreme_rows(X, axis, k=3)
    proj = X @ axis
    assert [i for i, _ in top] == list(np.argsort(-proj)[:3])
    assert [i for i, _ in bottom] == list(np.argsort(proj)[:3])


def test_centering_removes_the_cone_and_changes_neighbours():
    X = cone_data(offset=10.0)
    assert anisotropy(X) > 0.7
    assert abs(anisotropy(center(X))) < 0.01
    eff = centering_effect(X, n_queries=100, k=10)
    assert eff["anisotropy_before"] > 0.7 and abs(eff["anisotropy_after"]) < 0.01
    assert eff["n_queries"] == 100 and eff["n_base"] == len(X) - 100
    iso = centering_effect(unit(np.random.default_rng(4).standard_normal((800, 32))), n_queries=100)
    # removing a near-zero mean barely changes a ranking; removing a large one changes it more
    assert iso["overlap_at_k"] > 0.9
    assert 0 <= eff["overlap_at_k"] < iso["overlap_at_k"]


def test_compare_axes():
    X = cone_data(n=300)
    R, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((32, 32)))
    same = compare_axes(X, X)
    assert same["axis_cosine"] == pytest.approx(1.0) and same["projection_correlation"] == pytest.approx(1.0)
    rotated = compare_axes(X, X @ R)
    assert rotated["projection_correlation"] == pytest.approx(1.0, abs=1e-5)  # the same texts, other coordinates
    assert abs(rotated["axis_cosine"]) < 0.9
    other = compare_axes(X, X[:, :16])
    assert other["axis_cosine"] is None
    assert compare_axes(X, X[:200])["projection_correlation"] is None


def test_cone_report_names_rows_with_texts():
    X = cone_data(n=200)
    texts = [f"text {i}" for i in range(200)]
    r = cone_report({"a": X}, texts=texts, n_extremes=2, n_queries=20)
    row = r["sets"]["a"]["highest"][0]
    assert row["text"] == texts[row["row"]]
    assert "comparison" not in r
    with pytest.raises(SynthError):
        cone_report({})


def test_cm_sweep_band_and_real():
    X = cone_data(n=600, d=32)
    r = cm_sweep(X, dims=[4, 8, 32], n=400, repeats=3, n_simplices=500)
    assert [row["dims"] for row in r["rows"]] == [4, 8, 32]
    for row in r["rows"]:
        assert row["random_min"] <= row["random_mean"] <= row["random_max"]
    assert r["rows"][0]["random_mean"] > r["rows"][-1]["random_mean"]
    # at full dimension the PCA basis is a rotation and truncation keeps everything: the same points
    assert r["rows"][-1]["real_pca"] == pytest.approx(r["rows"][-1]["real_truncated"], rel=1e-4)
    assert cm_sweep(X, n=100, repeats=1, n_simplices=50)["rows"][-1]["dims"] == 32
    with pytest.raises(SynthError):
        cm_sweep(X, dims=[3])


def test_pca_project_keeps_pairwise_cosines_at_full_rank():
    X = cone_data(n=200, d=16)
    P = pca_project(X, 16)
    np.testing.assert_allclose(P @ P.T, X @ X.T, atol=1e-5)


def test_cli_stats_dims_cm_sweep_and_cone(tmp_path):
    X = cone_data(n=400, d=32)
    np.save(tmp_path / "x.npy", X)
    runner = CliRunner()
    r = runner.invoke(main, ["stats", str(tmp_path / "x.npy"), "--dims", "8", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["dims"] == 8 and out["n"] == 400
    r = runner.invoke(main, ["stats", str(tmp_path / "x.npy"), "--dims", "64"])
    assert r.exit_code == 1 and r.output.startswith("Error:") and "Traceback" not in r.output
    r = runner.invoke(main, ["cm-sweep", str(tmp_path / "x.npy"), "--dims", "4,32", "--n", "200", "--repeats",
                             "2", "--simplices", "200", "--json", "--plot", str(tmp_path / "cm.png")])
    assert r.exit_code == 0, r.output
    assert [row["dims"] for row in json.loads(r.stdout)["rows"]] == [4, 32]
    assert (tmp_path / "cm.png").stat().st_size > 0
    r = runner.invoke(main, ["cm-sweep", str(tmp_path / "x.npy"), "--dims", "4,x"])
    assert r.exit_code == 1 and "Error:" in r.output
    np.save(tmp_path / "y.npy", X[:, :16])
    (tmp_path / "t.txt").write_text("".join(f"sentence {i}\n" for i in range(400)))
    r = runner.invoke(main, ["cone", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--texts",
                             str(tmp_path / "t.txt"), "--json", "--queries", "20"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["comparison"]["axis_cosine"] is None  # 32-d vs 16-d
    assert out["sets"][str(tmp_path / "x.npy")]["highest"][0]["text"].startswith("sentence ")
    r = runner.invoke(main, ["cone", str(tmp_path / "x.npy"), "--queries", "20"])
    assert r.exit_code == 0 and "overlap@10" in r.output and "row " in r.output
