import numpy as np
import pytest
from sklearn.base import clone

from synth.bundled import load_minilm_wordnet
from synth.errors import SynthError
from synth.metrics.statistics import geometry_stats
from synth.models import BLOCK_ROWS, MODELS, Fog, PatchPCA, RandomSphere
from synth.models.patch import (
    AUTO_BACKOFF,
    COPY_EARLY_N,
    CopyReference,
    auto_patches,
    copy_check,
    leading_directions,
    patch_bytes,
    sign_flip,
)


def blobs(n=3000, d=24, centers=6, seed=0):
    """Unit vectors in a few anisotropic clusters: a small stand-in for embeddings."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((centers, d)) * 2
    scales = np.linspace(1.0, 0.1, d)
    X = C[rng.integers(centers, size=n)] + rng.standard_normal((n, d)) * scales + 1.0
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    return blobs()


@pytest.fixture(scope="module")
def patch(data):
    return PatchPCA(n_patches=12, rank=6, random_state=0).fit(data)


@pytest.mark.slow
def test_every_registered_model_fits_and_samples(data):
    for kind, cls in MODELS.items():
        params = {"n_fit": 600, "n_rounds": 1} if cls is Fog else {}
        model = cls(**params).fit(data)
        assert model.kind == kind
        Y = model.sample(50, random_state=1)
        assert Y.shape == (50, data.shape[1]) and Y.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(Y, axis=1), 1, atol=1e-5)


def test_init_only_stores_parameters():
    model = PatchPCA(n_patches=7, rank=3, min_points=15, random_state=4)
    assert model.get_params()["n_patches"] == 7
    assert not [a for a in vars(model) if a.endswith("_")]
    assert clone(model).get_params() == model.get_params()


def test_patch_refit_gives_identical_arrays(data, patch):
    again = PatchPCA(n_patches=12, rank=6, random_state=0).fit(data)
    for name, a in patch._arrays().items():
        assert np.array_equal(a, again._arrays()[name]), name


@pytest.mark.parametrize("softness", [0.0, 0.5])
def test_patches_fitted_side_by_side_give_the_bytes_of_one_at_a_time(data, softness):
    from threadpoolctl import threadpool_limits

    fits = []
    for threads in (1, 3):  # patch_map runs as many patches at once as BLAS has threads
        with threadpool_limits(limits=threads, user_api="blas"):
            fits.append(PatchPCA(n_patches=12, rank=6, softness=softness, random_state=0).fit(data)._arrays())
    assert fits[0].keys() == fits[1].keys()
    for name, a in fits[0].items():
        assert np.array_equal(a, fits[1][name]), name


def test_patch_canonical_order_and_min_points(data, patch):
    assert (np.diff(patch.counts_) <= 0).all()  # most points first
    assert patch.counts_.sum() == len(data)
    assert patch.counts_.min() >= 20
    np.testing.assert_allclose(patch.weights_.sum(), 1)
    assert patch.components_.dtype == np.float16 and patch.components_.shape == (patch.n_patches_, 6, 24)
    # directions are orthonormal (up to float16 storage) and sign-fixed
    V = patch.components_[0].astype(np.float64)
    np.testing.assert_allclose(V @ V.T, np.eye(6), atol=2e-3)
    assert (V[np.arange(6), np.abs(V).argmax(axis=1)] > 0).all()


def test_small_patches_are_merged_away():
    X = blobs(n=400, centers=3, seed=1)
    model = PatchPCA(n_patches=40, min_points=30, random_state=0).fit(X)
    assert model.n_patches_ <= 400 // 30
    assert model.counts_.min() >= 30 and model.counts_.sum() == 400


def test_patch_reproduces_a_single_gaussian_covariance():
    rng = np.random.default_rng(3)
    d = 10
    # a cap small enough that the sphere is nearly flat under it, so one linear patch describes it
    X = rng.standard_normal((20000, d)) * np.linspace(0.1, 0.01, d) + np.eye(d)[0]
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    model = PatchPCA(n_patches=1, rank=4, noise_scale=1.0, random_state=0).fit(X)
    Y = model.sample(20000, random_state=0)
    np.testing.assert_allclose(Y.mean(axis=0), X.mean(axis=0), atol=2e-3)
    np.testing.assert_allclose(np.cov(Y.T)[:4, :4], np.cov(X.T)[:4, :4], rtol=0.05, atol=1e-4)
    # beyond the kept rank only the average variance is kept
    np.testing.assert_allclose(np.trace(np.cov(Y.T)), np.trace(np.cov(X.T)), rtol=0.05)


def cap(spectrum, n=4000, seed=0):
    """Unit vectors in a cap around e_0 with the given per-axis standard deviations."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, len(spectrum))) * spectrum + np.eye(len(spectrum))[0]
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def test_noise_scale_calibration_known_answers():
    d = 32
    # residual isotropic beyond rank 4: probabilistic PCA is the exact model, so the test balances at a ~ 1
    exact = PatchPCA(n_patches=1, rank=4, random_state=0).fit(cap(np.r_[np.linspace(0.1, 0.05, 4), [0.01] * 28]))
    assert 0.9 < exact.noise_scale_ < 1.1
    gap = exact.calibration_["gap"]
    assert gap[0] > 0 > gap[-1]  # too little noise clumps (real side higher), too much diffuses
    # a decaying residual spectrum: isotropic noise of the average variance is too diffuse, so a < 1
    decaying = PatchPCA(n_patches=1, rank=4, random_state=0).fit(
        cap(np.r_[np.linspace(0.1, 0.05, 4), np.geomspace(0.03, 0.001, d - 4)]))
    assert 0.6 < decaying.noise_scale_ < 0.9


@pytest.mark.slow
def test_calibrated_scale_balances_the_test_on_unseen_real_data():
    from synth.metrics.twosample import knn_two_sample

    X = load_minilm_wordnet()
    train, heldout = X[:4000], X[4000:6000]
    model = PatchPCA(n_patches=60, rank=24, random_state=0).fit(train)
    calibrated, gaps = model.noise_scale_, {}
    for a in (0.25, calibrated, 2.0):
        model.noise_scale_, model._cache = a, None
        t = knn_two_sample(heldout, model.sample(2000, random_state=1), n_permutations=0)
        gaps[a] = abs(t["c2st_real"] - t["c2st_fake"])
    assert gaps[calibrated] < min(gaps[0.25], gaps[2.0]) / 3, gaps


def test_fixed_noise_scale_and_bad_values():
    X = cap(np.r_[np.linspace(0.1, 0.05, 4), [0.01] * 12], n=1000)
    model = PatchPCA(n_patches=1, rank=4, noise_scale=0.5).fit(X)
    assert model.noise_scale_ == 0.5 and model.calibration_ is None
    tiny = PatchPCA(n_patches=2, rank=4).fit(X[:600])  # too few rows to calibrate: plain PPCA
    assert tiny.noise_scale_ == 1.0 and tiny.calibration_ is None
    for bad in ("big", -1.0):
        with pytest.raises(SynthError, match="noise_scale"):
            PatchPCA(noise_scale=bad).fit(X)


def test_sample_is_deterministic_and_prefix_stable(patch):
    a = patch.sample(BLOCK_ROWS + 100, random_state=5)
    np.testing.assert_array_equal(a, patch.sample(BLOCK_ROWS + 100, random_state=5))
    np.testing.assert_array_equal(a[:300], patch.sample(300, random_state=5))
    assert not np.array_equal(a[:300], patch.sample(300, random_state=6))


@pytest.mark.parametrize("chunk_size", [1000, BLOCK_ROWS, 3 * BLOCK_ROWS])
def test_stream_equals_whole_for_any_chunk_and_start(patch, chunk_size):
    n = 2 * BLOCK_ROWS + 777
    whole = patch.sample(n, random_state=9)
    np.testing.assert_array_equal(np.concatenate(list(patch.iter_samples(n, 9, chunk_size=chunk_size))), whole)
    start = BLOCK_ROWS + 5
    np.testing.assert_array_equal(np.concatenate(list(patch.iter_samples(n, 9, start=start,
                                                                         chunk_size=chunk_size))), whole[start:])


def test_bad_parameters_and_data_are_refused(data):
    with pytest.raises(SynthError, match="fewer than 10"):
        PatchPCA(min_points=5).fit(data)
    with pytest.raises(SynthError, match="too few"):
        PatchPCA(min_points=20).fit(data[:30])
    with pytest.raises(SynthError, match="NaN"):
        PatchPCA().fit(np.full((100, 4), np.nan))
    with pytest.raises(SynthError, match="not fitted"):
        PatchPCA().sample(3)


def test_random_sphere_is_uniform():
    model = RandomSphere().fit(np.ones((2, 64)))
    Y = model.sample(20000, random_state=0)
    assert np.abs(Y.mean(axis=0)).max() < 0.03
    np.testing.assert_allclose(np.cov(Y.T).diagonal(), 1 / 64, rtol=0.1)


@pytest.mark.slow
def test_fog_matches_the_five_statistics():
    data = load_minilm_wordnet()[:3000]
    fog = Fog(n_fit=1500, n_rounds=2, random_state=0).fit(data)
    assert fog.match_error_ < 0.10, (fog.target_stats_, fog.fog_stats_)
    # and fresh samples agree with real at the same n, not just the tuning draw
    real = geometry_stats(data, n=1500, random_state=1)
    fake = geometry_stats(fog.sample(1500, random_state=2))
    for key in ("twonn_id", "isoscore", "participation_ratio", "anisotropy", "nn_cosine"):
        assert abs(fake[key] - real[key]) <= 0.15 * abs(real[key]), key


def test_fog_fixed_knobs_are_kept(data):
    fog = Fog(n_clusters=7, spread=0.25, offset=0.5, n_fit=500, random_state=0).fit(data)
    assert fog.knobs_ == {"n_clusters": 7, "spread": 0.25, "offset": 0.5}
    assert fog.centers_.shape == (7, data.shape[1])


def test_bridge_fills_the_gap_between_patches_by_the_stated_fraction(tmp_path):
    from synth.io.artifact import load_model, save_model

    # two tight clusters around orthogonal directions u and v
    rng = np.random.default_rng(0)
    d = 32
    u, v = np.eye(d)[0], np.eye(d)[1]
    X = np.r_[u + 0.02 * rng.standard_normal((300, d)), v + 0.02 * rng.standard_normal((300, d))]
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)

    def between(model):  # share of samples well away from both clusters: cosine to each above 0.3
        Y = model.sample(4000, random_state=1)
        return float(np.mean(np.minimum(Y @ u, Y @ v) > 0.3))

    plain = PatchPCA(n_patches=2, rank=2, noise_scale=1.0).fit(X)
    full = PatchPCA(n_patches=2, rank=2, noise_scale=1.0, bridge=1.0).fit(X)
    part = PatchPCA(n_patches=2, rank=2, noise_scale=1.0, bridge=0.3).fit(X)
    assert between(plain) == 0.0
    # both cosines of the normalized (1-t) u + t v exceed 0.3 for t in (0.239, 0.761): with t ~ U(0, 1) that
    # is 52% of the samples, with t ~ U(0, 0.3) it is (0.3 - 0.239) / 0.3 = 20%
    assert 0.45 < between(full) < 0.60
    assert 0.13 < between(part) < 0.27
    Y = part.sample(4000, random_state=1)
    assert np.all(np.maximum(Y @ u, Y @ v) > np.minimum(Y @ u, Y @ v) - 0.1)  # never past the midpoint
    save_model(full, tmp_path / "m.safetensors")
    back = load_model(tmp_path / "m.safetensors")
    assert back.bridge == 1.0
    np.testing.assert_array_equal(back.sample(500, random_state=3), full.sample(500, random_state=3))
    with pytest.raises(SynthError, match="bridge"):
        PatchPCA(bridge=1.5).fit(X)


def test_auto_patch_count_grows_with_the_data_within_the_size_cap():
    # 160 up to 10,000 points, then one per 62.5 points ...
    assert auto_patches(5_000, 384, 40, None) == 160 and auto_patches(10_000, 384, 40, None) == 160
    assert auto_patches(25_000, 384, 40, None) == 400 and auto_patches(100_000, 384, 40, None) == 1600
    # ... capped so that the file holds within max_mb (10^6 bytes), header included
    for d, cap in [(384, 491), (1024, 184)]:
        assert auto_patches(100_000, d, 40, 16) == cap
        assert cap * patch_bytes(d, 40) <= 16e6 - 65_536 < (cap + 1) * patch_bytes(d, 40)
    assert auto_patches(10_000, 100_000, 40, 1) == 1  # a cap below one patch still keeps one


@pytest.mark.slow
def test_auto_patch_count_and_cap_on_a_real_fit():
    from synth.io.artifact import model_bytes

    X = load_minilm_wordnet()[:4000]
    model = PatchPCA(rank=16, noise_scale=1.0, max_mb=0.4, random_state=0).fit(X)
    size = len(model_bytes(model))
    assert model.n_patches_ == auto_patches(4000, 384, 16, 0.4) == 24 and size <= 400_000
    uncapped = PatchPCA(rank=16, noise_scale=1.0, max_mb=None, random_state=0).fit(X)
    assert uncapped.n_patches_ > 3 * model.n_patches_ and len(model_bytes(uncapped)) > 3 * size
    for bad in [{"n_patches": "many"}, {"n_patches": 0}, {"max_mb": 0}, {"rank": -1}]:
        with pytest.raises(SynthError, match=next(iter(bad))):
            PatchPCA(**bad).fit(X)


class _Replay:
    """A stand-in generator that returns given rows: a model that copies its training data outright."""

    def __init__(self, rows):
        self.rows = rows

    def sample(self, n, random_state=None):
        return self.rows[:n]


@pytest.mark.slow  # moved out of the quick suite (its 3-minute budget, 2026-12-08)
def test_copy_check_known_answers():
    X = load_minilm_wordnet()
    train, heldout = X[:6000], X[6000:12000]
    copier = copy_check(_Replay(train[::-1].copy()), train, seed=0)
    assert copier["copies"] and copier["fake_median"] > 0.999
    assert copier["n_fakes"] == COPY_EARLY_N  # rejected on the first fakes, the rest not searched
    # new real points are what a non-copying generator should look like: they pass
    honest = copy_check(_Replay(heldout), train, seed=0)
    assert not honest["copies"] and honest["n_fakes"] == 5000
    # one reference serves several checks (the back-off's) with the same answers
    reference = CopyReference(train, seed=0)
    assert copy_check(_Replay(heldout), train, seed=0, reference=reference) == honest
    # the training rows' leave-one-out median stands in for held-out's median nearest-training cosine
    assert abs(honest["train_loo_median"] - honest["fake_median"]) < 0.01


@pytest.mark.slow
def test_auto_patch_count_backs_off_until_it_stops_copying():
    X = load_minilm_wordnet()[:2500]
    model = PatchPCA(rank=16, min_points=10, noise_scale=0.25, random_state=0).fit(X)
    tried = model.copy_check_
    assert len(tried) > 1 and all(t["copies"] for t in tried[:-1])
    assert not tried[-1]["copies"] or tried[-1]["n_patches"] == 1
    assert [t["n_patches"] for t in tried[1:]] == [max(1, int(t["n_patches"] * AUTO_BACKOFF)) for t in tried[:-1]]
    assert model.n_patches_ <= tried[-1]["n_patches"]
    # the count kept has its own noise calibration, not the first count's scale reused while backing off
    auto = PatchPCA(rank=16, min_points=10, random_state=0).fit(X[:1200])
    assert len(auto.copy_check_) > 1 and auto.calibration_ is not None
    # without the guard the first count is kept
    unguarded = PatchPCA(rank=16, min_points=10, noise_scale=0.25, copy_guard=False, random_state=0).fit(X)
    assert unguarded.copy_check_ is None and unguarded.n_patches_ > model.n_patches_
    # an explicit patch count is kept as given, and not checked
    fixed = PatchPCA(n_patches=160, rank=16, min_points=10, noise_scale=0.25, random_state=0).fit(X)
    assert fixed.copy_check_ is None and fixed.n_patches_ > model.n_patches_


def mixture_covariance(model):
    """Total covariance of the model's Gaussian mixture before projection to the sphere (law of total
    covariance), from the fitted arrays: sum_j w_j (C_j + m_j m_j^T) - m m^T."""
    d = model.dim_
    total, mean = np.zeros((d, d)), np.zeros(d)
    for w, m, V, lam, s2 in zip(model.weights_, model.means_, model.components_, model.variances_,
                                model.noise_variance_):
        V = V.astype(np.float64)
        C = V.T @ np.diag(lam - s2) @ V + s2 * np.eye(d)
        total += w * (C + np.outer(m, m))
        mean += w * m
    return total - np.outer(mean, mean)


@pytest.mark.parametrize("softness", [0.0, 0.1, 0.5])
def test_soft_patches_keep_the_data_covariance(data, softness):
    # responsibilities that sum to one per row split the data covariance exactly into within- and
    # between-patch parts, so soft patches change where variance sits, not how much there is
    model = PatchPCA(n_patches=12, rank=data.shape[1], noise_scale=1.0, softness=softness, random_state=0).fit(data)
    C = np.cov(data.astype(np.float64), rowvar=False)
    err = np.linalg.norm(mixture_covariance(model) - C) / np.linalg.norm(C)
    assert err < 0.02, err
    assert model.weights_.sum() == pytest.approx(1.0)


def test_soft_patches_overlap_across_cell_borders():
    # a continuum cut into arcs: points spread evenly on a circle in R^8. Hard patches are fitted on their
    # own arc only, so a sample stays inside its arc; soft patches also weigh the neighbouring arcs, so
    # their along-arc spread grows with the softness and samples cross into the neighbouring cells
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * np.pi, 4000)
    X = np.zeros((4000, 8), np.float32)
    X[:, 0], X[:, 1] = np.cos(t), np.sin(t)
    X[:, 2:] = 0.01 * rng.standard_normal((4000, 6))
    X /= np.linalg.norm(X, axis=1, keepdims=True)

    def spread_and_crossing(softness):
        m = PatchPCA(n_patches=16, rank=2, noise_scale=1.0, softness=softness, random_state=0).fit(X)
        Y = m.sample(8000, random_state=1)
        # a sample crosses when its nearest patch mean is not the one it was drawn around: draw patch by patch
        crossing = []
        for j in range(m.n_patches_):
            one = PatchPCA(**m.get_params())
            one.__dict__.update({k: v for k, v in m.__dict__.items() if k.endswith("_")})
            w = np.zeros(m.n_patches_)
            w[j] = 1.0
            one.weights_ = w
            Z = one.sample(300, random_state=j)
            crossing.append(np.mean(np.argmax(Z @ m.means_.T, axis=1) != j))
        return float(m.variances_[:, 0].mean()), float(np.mean(crossing)), Y

    hard_var, hard_cross, _ = spread_and_crossing(0.0)
    soft_var, soft_cross, Y = spread_and_crossing(1.0)
    assert soft_var > 1.3 * hard_var  # measured 0.0196 against 0.0135
    assert soft_cross > 1.6 * hard_cross  # measured 0.179 against 0.083
    assert np.allclose(np.linalg.norm(Y, axis=1), 1.0, atol=1e-5)


def test_soft_patches_round_trip_and_bad_values(tmp_path, data):
    from synth.io.artifact import load_model, save_model

    model = PatchPCA(n_patches=12, rank=6, softness=0.1, random_state=0).fit(data)
    # the soft mass, not the hard counts, weighs the patches; the counts still bound each patch from below
    assert not np.allclose(model.weights_, model.counts_ / model.counts_.sum())
    assert model.counts_.min() >= model.min_points
    save_model(model, tmp_path / "m.safetensors")
    back = load_model(tmp_path / "m.safetensors")
    assert back.softness == 0.1
    np.testing.assert_array_equal(back.weights_, model.weights_)
    np.testing.assert_array_equal(back.sample(500, random_state=3), model.sample(500, random_state=3))
    for bad in (-0.1, "soft"):
        with pytest.raises(SynthError, match="softness"):
            PatchPCA(softness=bad).fit(data)


def test_gaussian_transport_is_the_symmetric_map_between_covariances():
    from synth.models.patch import gaussian_transport

    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((6, 6)), rng.standard_normal((6, 6))
    C_from, C_to = A @ A.T + 0.1 * np.eye(6), B @ B.T + 0.1 * np.eye(6)
    T = gaussian_transport(C_from, C_to)
    np.testing.assert_allclose(T, T.T, atol=1e-8)
    np.testing.assert_allclose(T @ C_from @ T, C_to, rtol=1e-6, atol=1e-8)
    assert np.linalg.eigvalsh(T).min() > 0
    np.testing.assert_allclose(gaussian_transport(C_to, C_to), np.eye(6), atol=1e-6)


def test_recolor_restores_the_training_moments_that_bridging_moves(tmp_path, data):
    from synth.io.artifact import load_model, save_model

    def moment_error(model):
        Y = model.sample(20000, random_state=7).astype(np.float64)
        C, Cy = np.cov(data.astype(np.float64), rowvar=False), np.cov(Y, rowvar=False)
        return (np.linalg.norm(Cy - C) / np.linalg.norm(C),
                np.linalg.norm(Y.mean(0) - data.mean(0)) / np.linalg.norm(data.mean(0)))

    plain = PatchPCA(n_patches=12, rank=6, noise_scale=0.5, bridge=1.0, random_state=0).fit(data)
    fixed = PatchPCA(n_patches=12, rank=6, noise_scale=0.5, bridge=1.0, recolor=True, random_state=0).fit(data)
    cov_plain, mean_plain = moment_error(plain)
    cov_fixed, mean_fixed = moment_error(fixed)
    # measured 0.29 without the map, 0.14 with one map, about 0.06 after three corrections of its target (24-d)
    assert cov_fixed < 0.3 * cov_plain, (cov_plain, cov_fixed)
    assert mean_fixed < 0.02, (mean_plain, mean_fixed)
    Y = fixed.sample(1000, random_state=1)
    assert np.allclose(np.linalg.norm(Y, axis=1), 1.0, atol=1e-5)
    # the stream stays prefix-stable and the map survives the model file
    np.testing.assert_array_equal(fixed.sample(300, random_state=2), fixed.sample(1000, random_state=2)[:300])
    save_model(fixed, tmp_path / "m.safetensors")
    back = load_model(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(back.sample(500, random_state=3), fixed.sample(500, random_state=3))


def test_recolor_map_is_taken_from_the_file_budget():
    from synth.models.patch import recolor_bytes

    assert auto_patches(10**6, 1024, 40, 16, recolor_bytes(1024)) < auto_patches(10**6, 1024, 40, 16)
    assert recolor_bytes(1024) == 2 * 1024 * 1024 + 8 * 1024


@pytest.mark.parametrize("shape", [(60, 384), (500, 64), (30, 30)])
def test_leading_directions_match_the_svd(shape):
    rng = np.random.default_rng(0)
    A = rng.standard_normal(shape) * np.geomspace(1, 0.01, shape[1])
    r = min(20, shape[0] - 1)
    Vt, top, total = leading_directions(A, r)
    _, S, Vt_svd = np.linalg.svd(A, full_matrices=False)
    np.testing.assert_allclose(sign_flip(Vt), sign_flip(Vt_svd[:r]), atol=1e-9)
    np.testing.assert_allclose(top, S[:r] ** 2, rtol=1e-10)
    assert total == pytest.approx((S ** 2).sum(), rel=1e-12)
    # duplicate rows leave the trailing directions undetermined: the SVD answers instead
    D = np.repeat(A[:3], 10, axis=0)
    Vt, top, _ = leading_directions(D - D.mean(axis=0), 5)
    assert np.all(np.isfinite(Vt)) and top[2:].max() < 1e-20 * top[0] + 1e-12


def test_partner_table_counts_the_rows_between_two_patches():
    from synth.models.patch import partner_table

    E = np.eye(8, dtype=np.float32)[:5]

    def rows(a, b, n):
        R = np.tile(E[a] + 0.5 * E[b], (n, 1))
        return R / np.linalg.norm(R, axis=1, keepdims=True)

    X = np.r_[rows(0, 1, 30), rows(1, 2, 10), rows(3, 0, 5)]  # patch 4: no row near it
    ptr, idx, w = partner_table(X, E)
    got = {i: dict(zip(idx[ptr[i]:ptr[i + 1]].tolist(), [round(float(x), 4) for x in w[ptr[i]:ptr[i + 1]]]))
           for i in range(5)}
    assert got == {0: {1: round(30 / 35, 4), 3: round(5 / 35, 4)}, 1: {0: 0.75, 2: 0.25}, 2: {1: 1.0},
                   3: {0: 1.0}, 4: {4: 1.0}}
    ptr, idx, w = partner_table(X, E, max_partners=1)  # the most frequent partner only
    assert idx[ptr[0]:ptr[1]].tolist() == [1] and w[ptr[0]] == 1.0
    assert partner_table(X, E[:1])[1].tolist() == [0]  # one patch: bridges to itself


def test_bridge_goes_only_where_training_rows_cross_between_patches(tmp_path):
    from synth.io.artifact import load_model, save_model

    # three tight clusters near orthogonal u, v, w; rows lean u <-> v and w -> v, none lean between u and w
    rng = np.random.default_rng(0)
    d = 32
    u, v, w = np.eye(d)[:3]
    X = np.r_[u + 0.2 * v + 0.02 * rng.standard_normal((300, d)), v + 0.2 * u + 0.02 * rng.standard_normal((300, d)),
              w + 0.3 * v + 0.02 * rng.standard_normal((300, d))]
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    model = PatchPCA(n_patches=3, rank=2, noise_scale=1.0, bridge=1.0, random_state=0).fit(X)

    def between(m, a, b):  # share of samples well away from both clusters a and b
        Y = m.sample(6000, random_state=1)
        return float(np.mean(np.minimum(Y @ a, Y @ b) > 0.3))

    assert between(model, u, v) > 0.2 and between(model, v, w) > 0.1
    assert between(model, u, w) == 0.0
    nearest_rule = clone(model).set_params(bridge=1.0)
    nearest_rule.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_")}, partners_=None)
    assert between(nearest_rule, u, w) > 0.1  # the rule of files without a table bridges across the gap
    save_model(model, tmp_path / "m.safetensors")
    back = load_model(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(back.sample(500, random_state=3), model.sample(500, random_state=3))
