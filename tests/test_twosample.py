import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from synth.errors import SynthError
from synth.metrics.twosample import cross_shares, knn_two_sample, memorization, score

B = 200
KEYS = {"n", "k", "c2st", "c2st_real", "c2st_fake", "p_value", "ceiling", "ceiling_real",
        "ceiling_fake", "ceiling_n", "stats"}


def unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def gaussian(rng, n, d=32):
    """An anisotropic Gaussian off the origin: fixed scales, so two calls sample one distribution."""
    return rng.standard_normal((n, d)) * np.linspace(0.2, 2.0, d) + 1.0


def test_fixed_real_side_gives_the_pooled_statistics():
    rng = np.random.default_rng(0)
    real = gaussian(rng, 400)
    real[200:210] = real[0]  # ten duplicates: ties inside the real side
    test = cross_shares(real, k=7)
    for shift, n2 in ((0.0, 400), (0.3, 250), (3.0, 600)):
        fake = gaussian(rng, n2) + shift
        pooled = knn_two_sample(real, fake, k=7, n_permutations=0)
        got = test(fake)
        for key in ("c2st", "c2st_real", "c2st_fake", "null_mean", "n_real", "n_fake", "k"):
            assert got[key] == pooled[key], (shift, key)
    with pytest.raises(SynthError, match="k \\+ 1"):
        test(fake[:7])


def test_statistic_matches_brute_force():
    rng = np.random.default_rng(0)
    real, fake = gaussian(rng, 150, 8), gaussian(rng, 90, 8) + 0.3
    pooled = unit(np.vstack([real, fake]))
    labels = np.r_[np.zeros(150), np.ones(90)]
    nbrs = NearestNeighbors(n_neighbors=6, metric="cosine").fit(pooled)
    ids = nbrs.kneighbors(pooled, return_distance=False)[:, 1:]  # no duplicates: self comes first
    cross = (labels[ids] != labels[:, None]).mean(axis=1)
    res = knn_two_sample(real, fake, k=5, n_permutations=0)
    assert res["c2st"] == pytest.approx(cross.mean())
    assert res["c2st_real"] == pytest.approx(cross[:150].mean())
    assert res["c2st_fake"] == pytest.approx(cross[150:].mean())
    assert res["p_value"] is None


def test_same_distribution_is_near_half_and_not_significant():
    rng = np.random.default_rng(0)
    res = knn_two_sample(gaussian(rng, 1000), gaussian(rng, 1000), n_permutations=B, random_state=0)
    assert res["null_mean"] == pytest.approx(1000 / 1999)
    # the statistic's null standard deviation here is about 0.005
    for key in ("c2st", "c2st_real", "c2st_fake"):
        assert abs(res[key] - 0.5) < 0.02
    assert res["p_value"] > 0.05


def test_unequal_sizes_null_mean():
    rng = np.random.default_rng(0)
    res = knn_two_sample(gaussian(rng, 200), gaussian(rng, 600), n_permutations=B, random_state=0)
    assert res["null_mean"] == pytest.approx(2 * 200 * 600 / (800 * 799))
    assert res["c2st"] == pytest.approx(res["null_mean"], abs=0.03)
    # a real point's neighbour is fake with probability n_fake / (N - 1) under the null
    assert res["c2st_real"] == pytest.approx(600 / 799, abs=0.04)
    assert res["c2st_fake"] == pytest.approx(200 / 799, abs=0.04)
    assert res["p_value"] > 0.05


def test_disjoint_clusters_are_separable():
    rng = np.random.default_rng(0)
    a = np.eye(32)[0] + 0.05 * rng.standard_normal((500, 32))
    b = np.eye(32)[1] + 0.05 * rng.standard_normal((500, 32))
    res = knn_two_sample(a, b, n_permutations=B, random_state=0)
    assert res["c2st"] == res["c2st_real"] == res["c2st_fake"] == 0.0
    assert res["p_value"] == pytest.approx(1 / (B + 1))


def test_diffuse_fake_fools_only_its_own_side():
    rng = np.random.default_rng(0)
    centers = unit(rng.standard_normal((20, 32)))
    real = centers[rng.integers(20, size=1000)] + 0.05 * rng.standard_normal((1000, 32))
    fake = rng.standard_normal((1000, 32))  # uniform directions: a fog around the clusters
    res = knn_two_sample(real, fake, n_permutations=B, random_state=0)
    assert res["c2st_real"] < 0.02
    assert res["c2st_fake"] > res["c2st_real"] + 0.15
    assert res["c2st"] == pytest.approx((res["c2st_real"] + res["c2st_fake"]) / 2)


def test_permutation_p_value_is_seeded():
    rng = np.random.default_rng(0)
    real, fake = gaussian(rng, 300), gaussian(rng, 300)
    a = knn_two_sample(real, fake, n_permutations=50, random_state=3)
    assert a == knn_two_sample(real, fake, n_permutations=50, random_state=3)
    assert 1 / 51 <= a["p_value"] <= 1


def test_memorization_copy_vs_fresh():
    rng = np.random.default_rng(0)
    train, heldout, fresh = (gaussian(rng, 2000) for _ in range(3))
    copied = memorization(train, train, heldout)
    assert copied["memorization_rate"] == 1.0
    assert copied["fake_median"] == pytest.approx(1.0, abs=1e-6)
    honest = memorization(train, fresh, heldout)
    assert 0.02 < honest["memorization_rate"] < 0.09
    assert honest["fake_median"] == pytest.approx(honest["heldout_median"], abs=0.02)
    assert honest["threshold"] > honest["heldout_median"]


def test_score_keys_and_ceiling_from_halves():
    rng = np.random.default_rng(0)
    real, fake = gaussian(rng, 500), gaussian(rng, 400)
    res = score(real, fake, n=200, n_permutations=50)
    assert set(res) == KEYS
    assert res["n"] == res["ceiling_n"] == 200 and res["k"] == 10
    assert res["stats"]["real"]["n"] == res["stats"]["fake"]["n"] == 200
    assert abs(res["ceiling"] - 0.5) < 0.05 and abs(res["c2st"] - 0.5) < 0.05
    assert res == score(real, fake, n=200, n_permutations=50)
    # n is capped by the smaller set
    assert score(real, fake[:150], n=200, n_permutations=0)["n"] == 150


def test_score_ceiling_shrinks_when_real_is_small():
    rng = np.random.default_rng(0)
    real, fake = gaussian(rng, 300), gaussian(rng, 400)
    with pytest.warns(UserWarning, match="ceiling uses 150"):
        res = score(real, fake, n=250, n_permutations=0)
    assert res["n"] == 250 and res["ceiling_n"] == 150


def test_score_with_train_adds_dcr():
    rng = np.random.default_rng(0)
    train, real = gaussian(rng, 600), gaussian(rng, 300)
    res = score(real, train[:300], train=train, n=200, n_permutations=50)
    assert set(res) == KEYS | {"dcr"}
    assert res["ceiling_n"] == 200
    assert res["dcr"]["memorization_rate"] == 1.0  # the "generator" returned training points
    fresh = score(real, gaussian(rng, 300), train=train, n=200, n_permutations=0)
    assert fresh["dcr"]["memorization_rate"] < 0.15
    with pytest.warns(UserWarning, match="ceiling uses 100"):
        assert score(real, gaussian(rng, 300), train=train[:100], n=200,
                     n_permutations=0)["ceiling_n"] == 100


def test_bad_inputs_raise():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((50, 8)), rng.standard_normal((50, 9))
    with pytest.raises(SynthError, match="dimension"):
        knn_two_sample(a, b)
    with pytest.raises(SynthError, match="dimension"):
        score(a, b)
    with pytest.raises(SynthError, match="dimension"):
        score(a, a, train=b)
    with pytest.raises(SynthError, match="dimension"):
        memorization(a, a, b)
    with pytest.raises(SynthError, match="k \\+ 1"):
        knn_two_sample(a[:10], a, k=10)
    with pytest.raises(SynthError, match="k \\+ 1"):
        score(a, a[:5], k=10)
    with pytest.raises(SynthError):
        knn_two_sample(a[0], a)
