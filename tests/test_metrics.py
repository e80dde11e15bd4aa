import numpy as np
import pytest
from scipy.stats import skew

from synth.errors import SynthError
from synth.metrics.neighbors import knn
from synth.metrics.statistics import (
    anisotropy,
    geometry_stats,
    hubness,
    isoscore,
    nn_cosine,
    participation_ratio,
    twonn_dimension,
)


def unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def embed(Z, d_out, rng):
    """Place Z in a random d_out-dimensional orthonormal frame (an isometry: distances kept)."""
    Q, _ = np.linalg.qr(rng.standard_normal((d_out, Z.shape[1])))
    return Z @ Q.T


# --- neighbors -------------------------------------------------------------------------------


def test_knn_matches_brute_force():
    rng = np.random.default_rng(0)
    base, queries = unit(rng.standard_normal((300, 16))), unit(rng.standard_normal((40, 16)))
    sims, ids = knn(base, queries, k=5)
    expected = np.argsort(-(queries @ base.T), axis=1)[:, :5]
    assert sims.dtype == np.float32 and ids.dtype == np.int64
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(sims, np.take_along_axis(queries @ base.T, expected, 1), atol=1e-5)


def test_knn_exclude_self_with_duplicates():
    rng = np.random.default_rng(0)
    X = unit(rng.standard_normal((200, 8)))
    X[10:15] = X[10]  # five identical rows: self can fall out of the top k + 1
    sims, ids = knn(X, k=3, exclude_self=True)
    assert ids.shape == (200, 3)
    assert not (ids == np.arange(200)[:, None]).any()
    # each copy's three neighbours are other copies, at cosine 1
    np.testing.assert_allclose(sims[10:15], 1.0, atol=1e-6)
    assert np.isin(ids[10:15], np.arange(10, 15)).all()
    # away from the duplicates the result is the brute-force list without self
    G = X @ X.T
    np.fill_diagonal(G, -np.inf)
    np.testing.assert_array_equal(ids[:10], np.argsort(-G[:10], axis=1)[:, :3])


def test_knn_rejects_too_few_points_and_bad_shapes():
    X = np.eye(4, dtype=np.float32)
    with pytest.raises(SynthError):
        knn(X, k=4, exclude_self=True)
    with pytest.raises(SynthError):
        knn(X, np.ones((2, 3)), k=1)
    with pytest.raises(SynthError):
        knn(np.ones(4), k=1)


# --- TwoNN -----------------------------------------------------------------------------------


def test_twonn_recovers_dimension_of_embedded_manifolds():
    rng = np.random.default_rng(0)
    sphere = unit(rng.standard_normal((3000, 6)))  # the 5-sphere: no boundary, dimension 5
    assert twonn_dimension(embed(sphere, 64, rng)) == pytest.approx(5, rel=0.05)
    cube = rng.uniform(size=(3000, 6))  # the cube's boundary biases TwoNN low, by about 10%
    assert twonn_dimension(embed(cube, 64, rng)) == pytest.approx(6, rel=0.12)


@pytest.mark.parametrize("d_in, d_out", [(5, 40), (8, 12)])  # both skdim branches: d > 25 and d <= 25
def test_twonn_equals_skdim(d_in, d_out):
    skdim = pytest.importorskip("skdim")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1500, d_in)) @ rng.standard_normal((d_in, d_out))
    expected = skdim.id.TwoNN(discard_fraction=0.1).fit(X).dimension_
    assert twonn_dimension(X, discard_fraction=0.1) == pytest.approx(expected, abs=1e-6)


def test_twonn_drops_duplicates():
    rng = np.random.default_rng(0)
    X = unit(rng.standard_normal((1000, 10)))
    with_dups = np.vstack([X, X[:100], X[:20]])
    d = twonn_dimension(with_dups)
    assert np.isfinite(d)
    assert d == twonn_dimension(X)


@pytest.mark.slow  # moved out of the quick suite (its 3-minute budget, 2026-12-08)
def test_twonn_random_unit_vectors_reference_value():
    # REFERENCE.md sanity: 8,000 random unit vectors in 1024-d give about 230.
    rng = np.random.default_rng(0)
    X = unit(rng.standard_normal((8000, 1024), dtype=np.float32))
    assert twonn_dimension(X) == pytest.approx(230, rel=0.05)


# --- covariance spectrum ---------------------------------------------------------------------


@pytest.mark.parametrize("n, d", [(500, 20), (15, 40)])  # n < d takes the Gram-matrix path
def test_isoscore_participation_ratio_identity(n, d):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)) * rng.uniform(0.1, 3, size=d) + 5
    eig = np.linalg.eigvalsh(np.cov(X, rowvar=False))
    assert participation_ratio(X) == pytest.approx(eig.sum() ** 2 / (eig @ eig), rel=1e-9)
    assert isoscore(X) == pytest.approx((participation_ratio(X) - 1) / (d - 1), rel=1e-9)


def test_isoscore_extremes():
    rng = np.random.default_rng(0)
    assert isoscore(rng.standard_normal((4000, 16))) > 0.95
    line = rng.standard_normal((4000, 1)) * rng.standard_normal(16)
    assert isoscore(line + 1e-3 * rng.standard_normal((4000, 16))) < 0.01


# --- cosine statistics -----------------------------------------------------------------------


def test_anisotropy_equals_brute_force():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 12)) + 1.5  # a common offset makes the mean cosine clearly > 0
    C = unit(X) @ unit(X).T
    brute = (C.sum() - np.trace(C)) / (400 * 399)
    assert brute > 0.3
    assert anisotropy(X) == pytest.approx(brute, abs=1e-6)


def test_nn_cosine_equals_brute_force():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 12))
    X[7] = 2 * X[3]  # same direction: cosine 1
    C = unit(X) @ unit(X).T
    np.fill_diagonal(C, -np.inf)
    assert C[7].max() == pytest.approx(1.0)
    assert nn_cosine(X) == pytest.approx(C.max(axis=1).mean(), abs=1e-6)


def test_hubness_equals_brute_force_and_grows_with_dimension():
    rng = np.random.default_rng(0)
    # Offset Gaussians: directions near the mean direction become hubs in high dimension.
    X = rng.standard_normal((600, 50)) + 1
    C = unit(X) @ unit(X).T
    np.fill_diagonal(C, -np.inf)
    counts = np.bincount(np.argsort(-C, axis=1)[:, :10].ravel(), minlength=600)
    assert hubness(X, k=10) == pytest.approx(skew(counts), abs=1e-9)
    assert hubness(X) > 1.5
    assert hubness(rng.standard_normal((600, 3)) + 1) < 0.5


# --- summary ---------------------------------------------------------------------------------


def test_geometry_stats_subsample_and_consistency():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 24)) + 0.5
    stats = geometry_stats(X, n=800, random_state=1)
    assert list(stats) == ["n", "twonn_id", "isoscore", "participation_ratio", "anisotropy", "nn_cosine"]
    assert stats["n"] == 800
    assert all(type(v) is float for k, v in stats.items() if k != "n")
    assert stats == geometry_stats(X, n=800, random_state=1)
    assert stats != geometry_stats(X, n=800, random_state=2)

    sub = unit(X[np.random.default_rng(1).choice(2000, size=800, replace=False)]).astype(np.float32)
    assert stats["twonn_id"] == pytest.approx(twonn_dimension(sub), rel=1e-9)
    assert stats["nn_cosine"] == pytest.approx(nn_cosine(sub), rel=1e-6)
    assert stats["isoscore"] == pytest.approx(isoscore(sub), rel=1e-9)
    assert stats["anisotropy"] == pytest.approx(anisotropy(sub), rel=1e-6)
    assert geometry_stats(X, n=5000)["n"] == 2000


def test_geometry_stats_with_duplicates_matches_twonn():
    rng = np.random.default_rng(0)
    X = unit(rng.standard_normal((500, 16))).astype(np.float32)
    X = np.vstack([X, X[:50]])
    stats = geometry_stats(X)
    assert stats["twonn_id"] == pytest.approx(twonn_dimension(X), rel=1e-12)
    assert stats["nn_cosine"] > nn_cosine(X[:500])


def test_bad_input_raises():
    with pytest.raises(SynthError):
        geometry_stats(np.zeros((10, 4)))  # zero rows cannot be normalized
    X = np.ones((10, 4))
    X[2, 1] = np.nan
    with pytest.raises(SynthError):
        anisotropy(X)
    with pytest.raises(SynthError):
        twonn_dimension(np.ones((10, 4)))  # one distinct row
