"""PatchPCA: a mixture of local probabilistic-PCA patches on the unit sphere."""

import concurrent.futures

import faiss
import numpy as np
import scipy.linalg
from tqdm.auto import tqdm

from ..errors import SynthError
from ..io.arrays import check_rows, unit_rows
from ..metric import NORM_QUANTILES, check_metric, draw_norms, norm_table
from ..progress import muted, planned, stage
from .base import Generator, blas_threads, check_array, check_seed, normalize, one_blas_thread


def spherical_kmeans(X, n_clusters, n_iter, seed):
    """Centroids (unit rows) and hard labels of spherical k-means (faiss, seeded, deterministic)."""
    km = faiss.Kmeans(X.shape[1], n_clusters, niter=n_iter, seed=seed % (2**31), spherical=True,
                      max_points_per_centroid=512, min_points_per_centroid=1, verbose=False)
    km.train(X)
    return km.centroids.copy()


def nearest(X, centroids):
    """Index of the nearest centroid by inner product, per row of X."""
    index = faiss.IndexFlatIP(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    return index.search(X, 1)[1][:, 0]


def sign_flip(V):
    """Make the largest-magnitude entry of each row positive (as sklearn's svd_flip), so bases are unique."""
    signs = np.sign(V[np.arange(len(V)), np.argmax(np.abs(V), axis=1)])
    signs[signs == 0] = 1
    return V * signs[:, None]


NOISE_GRID = (0.125, 0.18, 0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0)  # residual-noise scales tried by the calibration
CALIBRATION_FIT = 10_000  # at most this many points fit the calibration's sub-model
CALIBRATION_TEST = 5_000  # at most this many points test it
CALIBRATION_MIN_TEST = 500  # below this the test is too noisy to calibrate: the scale stays 1
BRIDGE_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)  # bridge amounts tried by bridge="auto"
COST_ROWS = 10_000  # bridge="auto": at most this many training rows (and as many fakes) form a search base
COST_QUERIES = 1000  # ... and at most this many other rows (and fakes) query it (500 leave the ratio +-7% noisy)
COST_RECALL = 0.95  # ... at this recall


def calibration_split(X, params, seed):
    """The noise calibration's split of the training rows: a sub-model fitted on part A and part B to test it.

    The sub-model has ``params`` (patch count scaled to the smaller set) and noise scale 1; None when X is
    too small to calibrate. Returns ``(sub, B)``.

    Part A has ``min(N / 2, CALIBRATION_FIT)`` rows. Part B has as many of the other rows as
    :data:`CALIBRATION_TEST` allows, so the test is balanced at n / N of about 1/2; with
    ``params["calibration_ratio"]`` R, at most a R-th of part A (:data:`CALIBRATION_MIN_TEST` at least), which
    balances it at n / N = 1/R. The balance depends on that ratio: on MiniLM-WordNet at N = 50,000 the default
    asked for noise 0.781 and left the sides at 0.417 / 0.446 for n = 10,000 fakes against held-out rows, R = 5
    asked for 0.730 and balanced them (0.432 / 0.432; docs/fidelity/README.md, "Past N/10").
    """
    n = len(X)
    n_fit = min(n // 2, CALIBRATION_FIT)
    n_test = min(n - n_fit, CALIBRATION_TEST)
    ratio = params.get("calibration_ratio")
    if ratio:
        n_test = min(n_test, max(n_fit // ratio, CALIBRATION_MIN_TEST))
    if n_test < CALIBRATION_MIN_TEST or n_fit < 2 * params["min_points"]:
        return None
    order = np.random.default_rng(seed).permutation(n)
    A, B = X[order[:n_fit]], X[order[n_fit:n_fit + n_test]]
    with muted():
        sub = PatchPCA(**{**params, "n_patches": max(1, round(params["n_patches"] * n_fit / n))},
                       noise_scale=1.0, random_state=seed).fit(A)
    return sub, B


def calibrate_noise_scale(X, params, seed, grid=NOISE_GRID, k=10, split=None):
    """Choose the residual-noise scale so that the k-NN two-sample test is balanced, on training data only.

    The training rows are split in two: a patch model with the same parameters (patch count scaled to the
    smaller set) is fitted on part A, and its fakes at scales ``a`` of ``grid`` are tested against part B
    (walking the grid from 1 towards the sign change, so only two or three scales are usually tried). Too little residual noise makes fakes clump (held-out real points find only real neighbours:
    ``c2st_real`` > ``c2st_fake``), too much makes them diffuse (the reverse). The scale where
    ``c2st_real - c2st_fake`` crosses zero, interpolated in log ``a``, balances the two sides; that is
    where the weaker side is highest, since the pooled statistic barely moves with ``a``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), unit rows
    params : dict
        PatchPCA parameters (``n_patches``, ``rank``, ``min_points``, ``n_iter``, ``group_size``, ...).
    seed : int
    grid : sequence of float
    k : int
    split : tuple, optional
        ``(sub, B)`` of :func:`calibration_split`, made here when not given (a bridge calibration shares
        one split between its bridge amounts; the sub-model's ``bridge_`` is the amount tested).

    Returns
    -------
    scale : float
        1.0 when X is too small to calibrate.
    report : dict or None
        ``n_fit``, ``n_test``, ``grid`` (the values tried) and ``gap`` (c2st_real - c2st_fake at each);
        None when not run.
    """
    from ..metrics.twosample import cross_shares

    split = split or calibration_split(X, params, seed)
    if split is None:
        return 1.0, None
    sub, B = split
    n_test = len(B)
    grid = sorted(float(a) for a in grid)
    gaps, test = {}, cross_shares(B, k=k)  # B's neighbours among B are the same at every scale

    def gap(i):  # c2st_real - c2st_fake at grid[i]; it falls as the noise grows
        if i not in gaps:
            sub.noise_scale_, sub._cache = grid[i], None
            shares = test(sub.sample(n_test, random_state=seed))
            gaps[i] = shares["c2st_real"] - shares["c2st_fake"]
        return gaps[i]

    # walk from the grid value nearest 1 towards the sign change, evaluating only what the walk needs
    i = int(np.argmin(np.abs(np.log(grid))))
    step = 1 if gap(i) > 0 else -1
    while 0 <= i + step < len(grid) and (gap(i + step) > 0) == (step > 0):
        i += step
    j = i + step
    if 0 <= j < len(grid):
        lo, hi = min(i, j), max(i, j)
        t = gaps[lo] / (gaps[lo] - gaps[hi])
        scale = float(np.exp(np.log(grid[lo]) + t * (np.log(grid[hi]) - np.log(grid[lo]))))
    else:  # no sign change on the grid: its end nearest balance
        scale = grid[i]
    return scale, {"n_fit": int(sub.counts_.sum()), "n_test": n_test, "grid": [grid[i] for i in sorted(gaps)],
                   "gap": [round(float(gaps[i]), 4) for i in sorted(gaps)]}


BRIDGE_MATCH = ("both", "ivf", "hnsw")  # what bridge="auto" matches: both index families, or one


def match_families(match):
    """The index families ``match`` ("both", "ivf" or "hnsw") covers."""
    return ("ivf", "hnsw") if match == "both" else (match,)


def match_score(ratio, match):
    """How far fakes are from real's search cost for ``match``: the largest ``|log r|`` over its families
    (``ivf``, ``hnsw`` or both); inf where a cost was not reached."""
    return max(abs(float(np.log(ratio[key]))) if ratio[key] else np.inf for key in match_families(match))


def match_signal(ratio, match):
    """Signed distance from a match, rising with the bridge amount: ``log r`` of the family matched, or for
    both the sum of the two logs (zero where the two ratios straddle 1 by equal factors); None where a cost
    was not reached."""
    keys = match_families(match)
    if not all(ratio[key] for key in keys):
        return None
    return float(sum(np.log(ratio[key]) for key in keys))


def first_crossing(ratios, match):
    """The lowest pair of neighbouring amounts of ``ratios`` (amount -> {"ivf": r, "hnsw": r}) between which
    :func:`match_signal` changes sign, as ``(lower amount, signal there, upper amount, signal there)``; None
    when it never does."""
    amounts = sorted(ratios)
    signal = [match_signal(ratios[b], match) for b in amounts]
    for i in range(len(amounts) - 1):
        if signal[i] is not None and signal[i + 1] is not None and (signal[i] < 0) != (signal[i + 1] < 0):
            return amounts[i], signal[i], amounts[i + 1], signal[i + 1]
    return None


def best_amount(ratios, match, upto=None):
    """The amount of ``ratios`` with the smallest :func:`match_score` (the smaller amount on a tie), among
    the amounts up to ``upto``: by default the upper end of :func:`first_crossing`, all amounts when the
    signal never changes sign. Bridging as little as matches: every amount moves fakes off the patch
    Gaussians, which the two-sample test sees, so an amount past the first match buys nothing that match
    did not (on e5 embeddings IVF's ratio falls back to 1.01 at bridge 1 after 1.30 at 0.5, and the fakes
    there are far from real: two-sample weaker side 0.28 at n = 1,000)."""
    if upto is None:
        crossing = first_crossing(ratios, match)
        upto = max(ratios) if crossing is None else crossing[2]
    return min((b for b in sorted(ratios) if b <= upto), key=lambda b: match_score(ratios[b], match))


def refined_amount(ratios, match):
    """The amount to try next: interpolated linearly in :func:`first_crossing`'s pair, where the matched
    signal crosses zero, and rounded to 0.01; None when the signal never changes sign or the point was
    already tried."""
    crossing = first_crossing(ratios, match)
    if crossing is None:
        return None
    lo, s_lo, hi, s_hi = crossing
    b = round(lo + s_lo / (s_lo - s_hi) * (hi - lo), 2)
    return None if b in ratios else b


def bridge_plan(grid=BRIDGE_GRID, **_):
    """The steps of :func:`calibrate_bridge` and their seconds, for the estimate of the time left
    (:mod:`synth.progress`): the training rows' search cost, then each amount and the interpolated one.
    Measured by ``synth fit --bridge auto`` on 10,000 bundled 384-d rows (2 cores, load 4): 4.0 s, then
    6.1, 7.4, 9.9, 12.4 and 12.4 s at amounts 0 to 1 (bridged fakes cost more to search), 12.4 s at 0.72."""
    def seconds(b):
        return 6 + 8 * min(b, 0.8)
    return [("base", 4.0)] + [(b, seconds(b)) for b in sorted(float(v) for v in grid)] + [("refined", seconds(0.75))]


@planned(bridge_plan)
def calibrate_bridge(model, X, params, seed, grid=BRIDGE_GRID, noise_scale="auto", recall=COST_RECALL, k=10,
                     match="both"):
    """Choose the bridge amount whose fakes cost what the training rows cost to search.

    Searching real data costs the same whichever real rows form the base, so the fitted ``model``'s fakes
    are compared with training rows (:mod:`synth.metrics.searchcost`): a base of at most :data:`COST_ROWS` rows
    and :data:`COST_QUERIES` other rows as queries, against as many fakes and fake queries. For each amount
    ``b`` of ``grid`` the noise scale is calibrated first (one shared split, :func:`calibrate_noise_scale`),
    then ``r_ivf`` and ``r_hnsw``, the fake / real distance computations at ``recall``, are measured. Then
    one more amount is tried: where :func:`match_signal` first changes sign between two neighbouring amounts
    of the grid, interpolated linearly and rounded to 0.01. Among the amounts up to the upper end of that
    pair (all of them when the signal never changes sign), the one with the smallest :func:`match_score` is
    chosen (the smaller amount on a tie; :func:`best_amount`):
    ``match="both"`` the smallest ``max(|log r_ivf|, |log r_hnsw|)``, ``"ivf"`` or ``"hnsw"`` that family's
    ``|log r|`` alone (one corpus per index family, when one amount cannot match both).

    Returns
    -------
    bridge : float
    scale : float
        The noise scale calibrated for it (``noise_scale`` itself when that is a number).
    report : dict
        ``grid``, ``noise_scale``, ``ivf`` and ``hnsw`` (ratios, None where a cost was not reached) per
        amount tried, in increasing amount; ``refined`` (the interpolated amount, or None), ``match``,
        ``n_base``, ``n_queries`` and ``recall``.
    """
    from ..metrics.searchcost import cost_ratio, search_cost

    if match not in BRIDGE_MATCH:
        raise SynthError(f"bridge_match must be one of {', '.join(BRIDGE_MATCH)}, got {match!r}")
    n = len(X)
    n_q = min(COST_QUERIES, n // 10)
    n_base = min(COST_ROWS, n - n_q)
    order = np.random.default_rng(seed).permutation(n)
    real = search_cost(X[order[n_q:n_q + n_base]], X[order[:n_q]], k=k, recall=recall)
    split = calibration_split(X, {**params, "bridge": max(grid)}, seed) if noise_scale == "auto" else None
    scales, ratios = {}, {}  # per amount tried: its calibrated noise scale, its fake / real cost ratios

    def measure(b):
        stage(f"patch: calibrating the bridge, amount {b:g}", step=b if b in grid else "refined")
        if noise_scale == "auto":
            if split is not None:
                split[0].bridge_ = b
            scale = calibrate_noise_scale(X, params, seed, split=split)[0]  # 1 when X is too small
        else:
            scale = float(noise_scale)
        model.bridge_, model.noise_scale_, model._cache = b, scale, None
        fakes = model.sample(n_base + n_q, random_state=seed)
        scales[b] = scale
        ratios[b] = cost_ratio(search_cost(fakes[:n_base], fakes[n_base:], k=k, recall=recall), real)

    for b in sorted(float(v) for v in grid):
        measure(b)
    crossing = first_crossing(ratios, match)  # on the grid alone
    refined = refined_amount(ratios, match)
    if refined is not None:
        measure(refined)
    report = {"grid": [], "noise_scale": [], "ivf": [], "hnsw": [], "refined": refined, "match": match,
              "n_base": n_base, "n_queries": n_q, "recall": recall}
    for b in sorted(ratios):
        report["grid"].append(b)
        report["noise_scale"].append(round(scales[b], 4))
        for key in ("ivf", "hnsw"):
            report[key].append(None if ratios[b][key] is None else round(ratios[b][key], 4))
    b = best_amount(ratios, match, upto=max(ratios) if crossing is None else crossing[2])
    return b, scales[b], report


def _finite(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and bool(np.isfinite(v))


def noise_scale_problem(value):
    """What is wrong with a ``noise_scale`` setting, or None: it is ``"auto"`` or a finite number > 0.

    The one rule of the model, the CLI's ``--noise-scale`` and a recipe's ``fit.noise_scale``. Zero is
    refused: it drops the residual noise, so every fake lies on its patch's rank-r plane and, at rank 0,
    on the patch mean itself.
    """
    if value == "auto" or _finite(value) and value > 0:
        return None
    return "must be 'auto' or a finite number > 0"


BRIDGE_NEIGHBORS = 5  # model files without a partner table: bridge towards one of this many nearest patches
PARTNERS_MAX = 32  # bridge > 0: partners kept per patch (most frequent first)
SOFT_TOP = 8  # softness > 0: each training row weighs in the patches of its SOFT_TOP most similar centres
AUTO_MIN_PATCHES = 160  # n_patches="auto": this many up to 10,000 training points ...
AUTO_POINTS_PER_PATCH = 62.5  # ... then one patch per this many points (bench scaling, docs/fidelity/scaling)
HEADER_ALLOWANCE = 65_536  # bytes kept free of patches under max_mb for the file's JSON header
RECOLOR_SAMPLES = 20_000  # recolor=True: fakes drawn at fit time to measure the mixture's mean and covariance
RECOLOR_ITER = 3  # corrections of the map's target for the re-normalisation after it
GRAM_RTOL = 1e-9  # leading_directions: below this share of the top eigenvalue, fall back to the SVD
COPY_CHECK_N = 5000  # fakes (and training rows) the fit-time copy check compares: publish's default audit_n
AUTO_BACKOFF = 0.7  # the auto patch count's factor after a failed copy check
COPY_EARLY_N = 1000  # copy_check: fakes searched before the rest, for an early rejection
COPY_RATE_MARGIN = 0.01  # the fit-time check asks for a memorization rate this far below publish's limit


def copy_check(model, X, seed, n_check=COPY_CHECK_N, reference=None):
    """The publish gate's memorization check (both rules of :func:`synth.publish.hub.check_audit`, with its
    limits), on training data alone, as run at fit time.

    Held-out real points are not available when fitting, so the training rows' own leave-one-out
    nearest-training cosines (to the nearest *other* training row) stand in for held-out's: their median
    matches held-out's closely (0.345/0.348, 0.386/0.388, 0.440/0.440 and 0.517/0.511 on the MiniLM word table
    at 2,500-20,000 training rows, 0.578/0.578 on the bundled sample, 0.835/0.835 on a 64-d anisotropic
    Gaussian), and so does their 95th percentile, the threshold of the memorization rate (0.8778/0.8784).
    Both sides estimate the rate from samples (5,000 fakes; a threshold from a few thousand rows): each
    estimate has a standard deviation of about 0.005 near the limit, so a model whose fit-time rate sits
    just under publish's limit fails the gate about half the time (0.060 at fit, 0.064-0.071 at publish on
    four seeds). The fit therefore asks for a rate :data:`COPY_RATE_MARGIN` below the limit (about two
    standard deviations of the difference); the median rule, whose estimate is far less noisy, is the
    gate's own. Duplicate rows raise the leave-one-out figures (a duplicate's neighbour has cosine 1), which
    makes the check more lenient on data with many duplicates.

    The fakes are checked :data:`COPY_EARLY_N` first: a rate more than four standard deviations above the
    limit on those already fails, and the rest are not searched (the back-off's failing counts cost less).

    Parameters
    ----------
    model : PatchPCA
    X : ndarray of shape (n_samples, n_features), the training rows
    seed : int
    n_check : int
    reference : CopyReference, optional
        Built from X when not given; a fit that checks several models builds it once.

    Returns
    -------
    dict
        ``fake_median``, ``train_loo_median``, ``memorization_rate`` (share of fakes above the 95th
        percentile of the leave-one-out cosines), ``n_fakes`` (fakes searched), ``copies`` (the gate's rules
        fail) and ``check`` (their verdict in words).
    """
    from ..publish.hub import MAX_MEMORIZATION, check_audit

    ref = reference if reference is not None else CopyReference(X, seed, n_check)
    max_rate = round(MAX_MEMORIZATION - COPY_RATE_MARGIN, 4)
    fakes = model.sample(ref.n, random_state=seed)
    if getattr(model, "norm_table_", None) is not None:  # ip / l2: the check compares directions
        fakes = normalize(fakes)
    fake_sim = ref.nearest(fakes[:COPY_EARLY_N])
    # early rejection: a rate this far above the limit on the first fakes is not brought under it by the rest
    early = fake_sim.size < ref.n and (np.mean(fake_sim > ref.threshold)
                                       > max_rate + 4 * np.sqrt(max_rate * (1 - max_rate) / fake_sim.size))
    if not early:
        fake_sim = np.concatenate([fake_sim, ref.nearest(fakes[COPY_EARLY_N:])])
    dcr = {"fake_median": float(np.median(fake_sim)), "heldout_median": float(np.median(ref.loo_sim)),
           "memorization_rate": float(np.mean(fake_sim > ref.threshold))}
    passed, reason = check_audit(dcr, max_rate=max_rate)
    return {"fake_median": round(dcr["fake_median"], 4), "train_loo_median": round(dcr["heldout_median"], 4),
            "memorization_rate": round(dcr["memorization_rate"], 4), "n_fakes": int(fake_sim.size),
            "copies": not passed, "check": reason.replace("held-out", "training leave-one-out")}


class CopyReference:
    """What :func:`copy_check` compares fakes with, computed once per fit: an exact inner-product index of
    the training rows and the leave-one-out nearest cosines of ``n_check`` of them (their 95th percentile
    is the memorization threshold). The patch count's back-off checks several models against it."""

    def __init__(self, X, seed, n_check=COPY_CHECK_N):
        self.n = min(n_check, len(X))
        self.index = faiss.IndexFlatIP(X.shape[1])
        self.index.add(X)
        pick = np.sort(np.random.default_rng(seed).choice(len(X), self.n, replace=False))
        self.loo_sim = self.index.search(X[pick], 2)[0][:, 1]
        self.threshold = np.percentile(self.loo_sim, 95)

    def nearest(self, rows):
        """Cosine of each row to its nearest training row."""
        return self.index.search(np.ascontiguousarray(rows, dtype=np.float32), 1)[0][:, 0]


def leading_directions(A, r):
    """The r leading right singular vectors of A, their squared singular values and A's squared norm.

    Only r directions are kept, so the full SVD of an (m, d) patch is not needed: the eigenvectors of the
    smaller Gram matrix (A A^T when m < d, else A^T A) give them, several times faster at d = 1024 (the
    squared condition number costs nothing for the leading directions). Where the r-th eigenvalue is
    numerically zero (duplicate rows) the directions are not determined by it, and the SVD is used.

    Returns
    -------
    Vt : ndarray of shape (r, d)
    top : ndarray of shape (r,), squared singular values, largest first
    total : float, the sum of all squared singular values (A's squared Frobenius norm)
    """
    m, d = A.shape
    total = float(np.einsum("ij,ij->", A, A))
    if r == 0:
        return np.zeros((0, d)), np.zeros(0), total
    small = m < d
    G = A @ A.T if small else A.T @ A
    ev, U = scipy.linalg.eigh(G, subset_by_index=[len(G) - r, len(G) - 1], driver="evr")  # r largest only
    ev, U = ev[::-1], U[:, ::-1]
    if not ev[-1] > GRAM_RTOL * max(ev[0], 0.0):
        _, S, Vt = np.linalg.svd(A, full_matrices=False)
        return Vt[:r], S[:r] ** 2, total
    Vt = (U.T @ A) / np.sqrt(ev)[:, None] if small else U.T
    return Vt, ev, total


def fit_patch(P, w, rank):
    """One patch's weighted mean, leading directions and variances, and mean residual variance.

    The covariance is weighted with the unbiased (reliability-weights) correction ``1 - sum w^2`` for
    weights ``w`` summing to one; equal weights give ``S^2 / (n - 1)``. The residual variance is the
    remaining variance spread evenly over the ``d - r`` directions not kept (probabilistic PCA).

    Parameters
    ----------
    P : ndarray of shape (m, d), the patch's rows
    w : ndarray of shape (m,), their weights (not normalised)
    rank : int, directions wanted; ``min(rank, m - 1)`` are kept

    Returns
    -------
    mass : float, the sum of ``w``
    mean : ndarray of shape (d,)
    Vt : ndarray of shape (r, d), sign-fixed unit directions
    variances : ndarray of shape (r,)
    noise : float
    """
    P = P.astype(np.float64)
    mass = float(w.sum())
    w = w / mass
    m = w @ P
    bessel = max(1.0 - float(w @ w), 1e-12)
    return (mass, m) + spectrum((P - m) * np.sqrt(w)[:, None], min(rank, len(P) - 1), bessel)


def shared_directions(X, labels, means, s):
    """The ``s`` leading directions of the training rows' offsets from their own patch means (the pooled
    within-patch covariance), shared by every patch; accumulated over blocks of rows. Shape (s, d), float64."""
    d = X.shape[1]
    C = np.zeros((d, d))
    for i in range(0, len(X), 65536):
        D = X[i:i + 65536].astype(np.float64) - means[labels[i:i + 65536]]
        C += D.T @ D
    ev, U = scipy.linalg.eigh(C, subset_by_index=[d - s, d - 1])
    return sign_flip(U[:, ::-1].T)


def fit_patch_shared(P, G, rank):
    """One patch with shared directions ``G`` (s, d): its mean, its variances along ``G``, ``rank`` local
    directions of what ``G`` leaves, their variances, and the mean residual variance of the other
    ``d - s - rank`` directions. Returns ``(mass, mean, Vt, variances, noise, shared_variances)``."""
    P = P.astype(np.float64)
    n, d = P.shape
    m = P.mean(axis=0)
    A = P - m
    S = A @ G.T
    dof = max(n - 1, 1)
    R = A - S @ G
    r = min(rank, n - 1)
    Vt, top, total = leading_directions(R, r)
    rest = d - len(G) - r
    noise = max(total - top.sum(), 0.0) / dof / rest if rest > 0 else 0.0
    return float(n), m, sign_flip(Vt), top / dof, noise, (S ** 2).sum(axis=0) / dof


def spectrum(A, r, divisor):
    """The covariance ``A^T A / divisor`` as probabilistic PCA keeps it: its ``r`` leading directions
    (sign-fixed), their variances, and the remaining variance spread evenly over the other ``d - r``
    directions. Returns ``(Vt, variances, noise)``."""
    d = A.shape[1]
    Vt, top, total = leading_directions(A, r)
    noise = max(total - top.sum(), 0.0) / divisor / (d - r) if d > r else 0.0
    return sign_flip(Vt), top / divisor, noise


def fit_patch_groups(P, rank, group_size, min_points, n_iter, seed):
    """:func:`fit_patch` with group centres (``PatchPCA(group_size=...)``, hard patches: equal weights).

    The rows are cut into groups (:func:`patch_groups`); the directions, variances and residual variance
    are those of the within-group scatter, rows minus their group mean over ``n - groups`` degrees of
    freedom. Returns :func:`fit_patch`'s five values and ``(group means float32, group counts)``.
    """
    labels, counts = patch_groups(np.ascontiguousarray(P, dtype=np.float32), group_size, min_points, n_iter, seed)
    P = P.astype(np.float64)
    g_means = np.zeros((len(counts), P.shape[1]))
    np.add.at(g_means, labels, P)
    g_means /= counts[:, None]
    dof = len(P) - len(counts)
    return ((float(len(P)), P.mean(axis=0)) + spectrum((P - g_means[labels]) / np.sqrt(dof), min(rank, dof), 1.0)
            + ((g_means.astype(np.float32), counts),))


def patch_map(fn, n):
    """``fn(0), ..., fn(n - 1)`` in order, on as many threads as BLAS would use, each with one BLAS thread.

    A patch's matrices are small (a Gram matrix of at most d x d, r eigenpairs): threaded BLAS mostly
    synchronises on them, and on a busy machine a symmetric eigensolver on two threads ran up to 80 times
    slower than on one (1024 x 1024, 40 eigenpairs: 8.4 s against 0.1 s at load 5). One BLAS thread per
    patch and patches side by side keep the cores busy instead, and each patch's bytes no longer depend on
    the thread count.
    """
    threads = min(blas_threads(), n)
    with one_blas_thread():
        if threads <= 1:
            yield from map(fn, range(n))
            return
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            yield from pool.map(fn, range(n))


def patch_bytes(d, rank, bridge=False, norms=False, shared=0):
    """Bytes one patch takes in a model file: float32 mean, float16 directions, float32 variances, noise
    variance and an int64 count; with ``bridge``, also its row of the partner table (at most
    :data:`PARTNERS_MAX` int32 indices and float32 weights, and an int64 row pointer); with ``norms``
    (metric ip / l2), its float32 norm table; with ``shared`` directions, its float32 variances along them."""
    return (4 * d + 2 * rank * d + 4 * rank + 4 + 8 + (8 * PARTNERS_MAX + 8 if bridge else 0)
            + (4 * NORM_QUANTILES if norms else 0) + 4 * shared)


def group_bytes(n_groups, d):
    """Bytes ``n_groups`` group centres take in a model file (``group_size``): a float32 mean, an int64
    count and an int64 patch index each."""
    return n_groups * (4 * d + 8 + 8)


def patch_groups(P, group_size, min_points, n_iter, seed):
    """Cut one patch's rows into groups of about ``group_size`` rows, none with fewer than ``min_points``.

    Spherical k-means makes ``max(1, n // group_size)`` groups; while the smallest has fewer than
    ``min_points`` rows (and more than one group remains) its centroid is dropped and the rows are
    reassigned to the nearest remaining one, so every group mean summarises at least ``min_points`` rows.

    Parameters
    ----------
    P : ndarray of shape (n, n_features), float32, unit rows of one patch
    group_size, min_points, n_iter, seed : int

    Returns
    -------
    labels : ndarray of shape (n,), int64
        Each row's group.
    counts : ndarray of shape (n_groups,), int64
    """
    g = max(1, len(P) // group_size)
    centroids = spherical_kmeans(P, g, n_iter, seed) if g > 1 else None
    while True:
        labels = nearest(P, centroids).astype(np.int64) if g > 1 else np.zeros(len(P), np.int64)
        counts = np.bincount(labels, minlength=g)
        if g == 1 or counts.min() >= min_points:
            return labels, counts.astype(np.int64)
        centroids = np.delete(centroids, np.argmin(counts), axis=0)
        g -= 1


def partner_table(X, means, max_partners=PARTNERS_MAX):
    """Which patches each patch bridges towards, and how often: the training rows' second-nearest patches.

    Each training row votes for the pair of its two most similar patch centres (normalised means); a pair's
    count is symmetric (rows of either patch near the other). Row ``i`` of the table keeps patch ``i``'s
    ``max_partners`` most frequent partners with weights proportional to their counts. Where no row has
    patch ``i`` among its two nearest centres with another, the patch bridges to itself (no move).

    The counts are where the real data crosses from one patch to another: a partner that no training row
    sits between is never bridged to, and a busy border gets more fakes. Each row of the table is a
    histogram over the rows near that patch, as the patch's mean is an average over them.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), unit rows
    means : ndarray of shape (n_patches, n_features)
    max_partners : int

    Returns
    -------
    ptr : ndarray of shape (n_patches + 1,), int64
        Patch i's partners are ``idx[ptr[i]:ptr[i + 1]]``.
    idx : ndarray of int32
    w : ndarray of float32
        Weights, summing to one over each patch's partners.
    """
    K = len(means)
    if K < 2:
        return np.array([0, 1], np.int64), np.zeros(1, np.int32), np.ones(1, np.float32)
    C = np.ascontiguousarray(means / np.linalg.norm(means, axis=1, keepdims=True), dtype=np.float32)
    index = faiss.IndexFlatIP(C.shape[1])
    index.add(C)
    top = index.search(np.ascontiguousarray(X, dtype=np.float32), 2)[1]
    pair = np.minimum(top[:, 0], top[:, 1]) * K + np.maximum(top[:, 0], top[:, 1])
    keys, counts = np.unique(pair, return_counts=True)
    a, b = keys // K, keys % K
    rows = np.concatenate([a, b])
    cols = np.concatenate([b, a])
    cnt = np.concatenate([counts, counts]).astype(np.float64)
    order = np.lexsort((cols, -cnt, rows))  # per patch: most frequent first, ties by index
    rows, cols, cnt = rows[order], cols[order], cnt[order]
    start = np.searchsorted(rows, np.arange(K))
    rank = np.arange(len(rows)) - start[rows]
    keep = rank < max_partners
    rows, cols, cnt = rows[keep], cols[keep], cnt[keep]
    lonely = np.setdiff1d(np.arange(K), rows)  # no partner: bridge to itself
    rows = np.concatenate([rows, lonely])
    cols = np.concatenate([cols, lonely])
    cnt = np.concatenate([cnt, np.ones(len(lonely))])
    order = np.argsort(rows, kind="stable")
    rows, cols, cnt = rows[order], cols[order], cnt[order]
    ptr = np.searchsorted(rows, np.arange(K + 1)).astype(np.int64)
    total = np.add.reduceat(cnt, ptr[:-1])
    w = cnt / np.repeat(total, np.diff(ptr))
    return ptr, cols.astype(np.int32), w.astype(np.float32)


def recolor_bytes(d):
    """Bytes of the recolouring map in a model file: a float16 d x d matrix and two float32 means."""
    return 2 * d * d + 8 * d


def psd_sqrt(C):
    """Square root and inverse square root of a symmetric positive semi-definite matrix (eigenvalues
    floored at 1e-12 relative to the largest)."""
    w, U = np.linalg.eigh(C)
    w = np.maximum(w, 1e-12 * max(w.max(), 1e-300))
    return (U * np.sqrt(w)) @ U.T, (U / np.sqrt(w)) @ U.T


def gaussian_transport(C_from, C_to):
    """The optimal-transport (Monge) map between centred Gaussians: the symmetric matrix
    ``T = C_to^1/2 (C_to^1/2 C_from C_to^1/2)^-1/2 C_to^1/2`` with ``T C_from T = C_to``, the linear map
    that moves points least (in mean squared distance) among all that turn one covariance into the other
    (Knott & Smith 1984; Peyre & Cuturi 2019, Remark 2.31)."""
    half, _ = psd_sqrt(C_to)
    _, inv_half = psd_sqrt(half @ C_from @ half)
    return half @ inv_half @ half


def auto_patches(n, d, rank, max_mb, reserve=0, bridge=False, norms=False, shared=0):
    """The patch count of ``n_patches="auto"``: ``max(160, n / 62.5)``, capped so that the file stays
    within ``max_mb`` megabytes (10^6 bytes); at least 1.

    Measured with ``bench scaling`` on 117,033 MiniLM-WordNet embeddings (docs/fidelity/scaling): at a
    fixed patch count the test at n = 10,000 stops improving with more training points (160 patches:
    0.30 at N = 10,000, 0.40 at N = 100,000), while one patch per 62.5 points reaches 0.45-0.48 at
    N = 100,000 without copying.
    """
    k = max(AUTO_MIN_PATCHES, round(n / AUTO_POINTS_PER_PATCH))
    if max_mb is not None:
        k = min(k, int((max_mb * 1e6 - HEADER_ALLOWANCE - reserve)
                       // patch_bytes(d, min(rank, d), bridge, norms, shared)))
    return max(1, k)


def soft_weights(X, means, labels, softness, top=SOFT_TOP):
    """Tempered responsibilities of each row for its ``top`` most similar patch centres.

    ``w_ij = exp((cos(x_i, c_j) - cos(x_i, c_(1))) / (softness * r2))``, normalised to sum to one per row,
    where ``c_(1)`` is the row's most similar centre and ``r2`` the mean squared distance of the rows to
    the mean of their own (hard) patch: the temperature is a share of the patches' own spread, so one
    value serves embedding models whose cosines live on different scales.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), unit rows
    means : ndarray of shape (n_patches, n_features)
        Mean of each hard patch; the centres are these, normalised.
    labels : ndarray of shape (n_samples,)
        Each row's hard patch.
    softness : float > 0
    top : int

    Returns
    -------
    cols : ndarray of shape (n_samples, t), int64
        Patches of each row, t = min(top, n_patches).
    w : ndarray of shape (n_samples, t), float64
        Their weights; each row sums to one.
    """
    C = np.ascontiguousarray(means / np.linalg.norm(means, axis=1, keepdims=True), dtype=np.float32)
    r2 = float(np.mean(np.sum((X - means[labels]) ** 2, axis=1)))
    index = faiss.IndexFlatIP(C.shape[1])
    index.add(C)
    sims, cols = index.search(X, min(top, len(C)))
    w = np.exp((sims.astype(np.float64) - sims[:, :1]) / (softness * max(r2, 1e-12)))
    return cols.astype(np.int64), w / w.sum(axis=1, keepdims=True)


def patch_rows(X, labels, counts, softness):
    """The training rows each patch is fitted on, with their weights, grouped by patch.

    Hard patches (``softness=0``) take the rows of their k-means cell, each with weight 1; soft patches
    take every row that has them among its :data:`SOFT_TOP` nearest centres, weighted by
    :func:`soft_weights`.

    Returns
    -------
    rows : ndarray of int64
        Row indices, grouped by patch.
    weights : ndarray of float64
    bounds : ndarray of shape (n_patches + 1,)
        Patch j's rows are ``rows[bounds[j]:bounds[j + 1]]``.
    """
    K = len(counts)
    if softness > 0 and K > 1:
        sums = np.zeros((K, X.shape[1]))
        np.add.at(sums, labels, X)
        cols, w = soft_weights(X, sums / counts[:, None], labels, softness)  # counts >= min_points > 0
        keep = w > 1e-6  # negligible weights only cost time
        rows = np.broadcast_to(np.arange(len(X))[:, None], cols.shape)[keep]
        cols, w = cols[keep], w[keep]
    else:
        rows, cols, w = np.arange(len(X)), labels, np.ones(len(X))
    order = np.argsort(cols, kind="stable")
    bounds = np.searchsorted(cols[order], np.arange(K + 1))
    return rows[order], w[order], bounds


class PatchPCA(Generator):
    """A mixture of local PCA patches, sampled on the unit sphere.

    Spherical k-means cuts the data into patches; each patch keeps its weight, its mean ``m``, its top
    principal directions ``V`` with variances ``l`` and the mean variance ``s2`` of the remaining directions,
    as in probabilistic PCA (Tipping & Bishop 1999). A sample picks a patch by weight and returns
    ``normalize(m + V sqrt(l - s2) z + a sqrt(s2) e)`` with ``z``, ``e`` standard normal. With ``a = 1``
    the patch covariance is reproduced exactly in the kept directions and on average in the rest; but a
    covariance estimated from a few dozen points spreads the rest evenly over hundreds of directions where
    real data is thinner, so ``a`` is calibrated at fit time (:func:`calibrate_noise_scale`) by the k-NN
    two-sample test itself, on a split of the training data.

    Parameters
    ----------
    n_patches : int or "auto", default="auto"
        Number of k-means patches before small ones are dropped. "auto" (:func:`auto_patches`): 160 up to
        10,000 training points, then one per 62.5 points, capped by ``max_mb``; then, while the fitted model
        fails the memorization check on its training data (:func:`copy_check`), 0.7 times as many.
    rank : int, default=40
        Principal directions kept per patch (fewer where a patch has fewer points).
    min_points : int, default=20
        No patch summarises fewer points: smaller patches are dropped and their points reassigned to the
        nearest remaining patch. Never below 10 (privacy bound).
    n_iter : int, default=25
        k-means iterations.
    noise_scale : float or "auto", default="auto"
        ``a``, the scale of the residual noise; "auto" calibrates it on the training data.
    bridge : float in [0, 1] or "auto", default=0
        When > 0, each sample's mean moves from its patch mean ``m_i`` towards the mean ``m_j`` of a partner
        patch: ``(1 - t) m_i + t m_j`` with ``t ~ U(0, bridge)``. The partner is drawn from the patch's
        partner table (:func:`partner_table`): how often training rows have ``i`` and ``j`` as their two
        nearest patch centres. So the fakes fill the borders that real data crosses, in proportion to how
        busy each border is, and never a gap between two patches that no training row sits between.
        Hard k-means patches leave the fakes far more central in their patches than new real points are
        (the gap between a point's two nearest centres: median 0.136 for the default's fakes, 0.068 for
        held-out rows on MiniLM-WordNet, 0.079 at bridge 0.5), which makes IVF and graph search on the
        fakes much cheaper than on real data; see docs/cost/README.md for the measured cost ratios and
        their price in the two-sample test and the spectrum. Every bridged mean is made of patch means of
        at least ``min_points`` points. 0 samples exactly as before the option existed; model files
        written before the partner table bridge towards one of the :data:`BRIDGE_NEIGHBORS` nearest
        patches, as they did. "auto" chooses the amount among :data:`BRIDGE_GRID` at fit time, by search
        cost: the amount whose fakes cost what the training rows cost to search with IVF and HNSW
        (:func:`calibrate_bridge`; about 35 s more at 10,000 x 384).
    bridge_match : {"both", "ivf", "hnsw"}, default="both"
        With ``bridge="auto"``, whose search cost the amount matches. "both": the amount whose worse
        fake / real ratio (IVF or HNSW) is nearest 1. "ivf" or "hnsw": that family's ratio alone. One amount
        often cannot match both (graph search grows dearer with the bridge faster than IVF on some corpora,
        slower on others; docs/cost.md), so an index developer fits one model per family. Ignored otherwise.
    softness : float >= 0, default=0
        Tempered (soft) patches. 0 cuts the training rows into disjoint k-means cells and fits each patch on
        its own cell. Above 0 each row also weighs in the patches of neighbouring centres, with weight
        ``exp((cos(x, c_j) - cos(x, c_1)) / (softness * r2))`` (``c_1`` its nearest centre, ``r2`` the
        rows' mean squared distance to their own patch mean, so the value does not depend on how spread a
        model's embeddings are), and each patch's mean, directions and variances are weighted estimates.
        Hard cells cut a continuum at arbitrary borders, so patches fitted on them are too compact along
        the directions to their neighbours: samples rarely fall between patches, a query's nearest
        neighbours sit in its own cell, and IVF and HNSW search the fakes far more cheaply than real data.
        Responsibilities that sum to one per row keep the mixture's total covariance equal to the data's
        (law of total covariance), so the global statistics stay put (see :func:`soft_weights` and
        docs/cost/README.md).
    recolor : bool, default=False
        After fitting, draw :data:`RECOLOR_SAMPLES` fakes and store the Gaussian optimal-transport map
        (:func:`gaussian_transport`) from their mean and covariance to the training rows'; every sample is
        then ``normalize(mu_real + T (y - mu_fake))``. Bridging and soft patches concentrate the spectrum
        (anisotropy up, IsoScore and participation ratio down); the map restores real's first two moments,
        and with them those statistics, while moving each point as little as any such linear map can. It
        costs a d x d float16 matrix in the model file (0.3 MB at 384-d, 2.1 MB at 1024-d, taken from
        ``max_mb``) and a d x d product per sample.
    group_size : int or None, default=None
        Group centres. None: each sample is centred on its patch mean, as before the option existed (same
        samples). An integer G >= ``min_points``: each patch's ``n_a`` rows are also cut by spherical k-means
        into ``max(1, n_a // G)`` groups (:func:`patch_groups`; a group under ``min_points`` rows is dropped
        and its rows reassigned, so every group mean summarises at least ``min_points`` rows, the privacy
        bound of the patches). The patch's directions, variances and residual noise are fitted on the
        within-group residuals ``x - c_g`` (divided by ``n_a - groups``), and a sample picks a group with
        probability proportional to its row count and is centred on the group mean ``c_g`` (with ``bridge``,
        ``(1 - t) c_g + t m_j``, ``m_j`` the partner patch's mean). The patches give the local shape, the
        groups the locations. Measured on MiniLM-WordNet (k-NN two-sample test at n = 10,000 against held-out
        rows, pooled (real side / fake side); docs/cost/scratch/fine_centres.py, at the default's patch
        count and a fixed noise scale): N = 100,000 training rows, default 0.453 (0.459 / 0.447), groups of
        20 at noise 0.7 0.460 (0.454 / 0.466), with bridge 0.25 at noise 0.6 0.455 (0.457 / 0.454);
        N = 50,000, default 0.432 (0.415 / 0.449), groups of 20 at noise 0.6 and 0.7 both 0.437
        (0.447 / 0.427 and 0.424 / 0.449); the copy check's memorization rate 0.000 in every case. The group
        means cost ``n // G`` rows of d float32 (plus two int64) at most, which ``n_patches="auto"`` takes
        from ``max_mb`` before choosing the patch count (:func:`group_bytes`): under the same cap fewer
        patches are fitted than in those measurements, which costs the gain (``bench fidelity``, N = 50,000,
        n = 10,000, calibrated noise: default 491 patches 0.435 (0.417 / 0.452); groups of 20 under the
        default 16 MB 371 patches 0.428 (0.413 / 0.444); with ``max_mb=19.9``, 491 patches, 0.437
        (0.421 / 0.454), and 0.437 (0.434 / 0.440) at noise 0.7; docs/fidelity/groups-50k and
        groups-50k-491). Not available with ``softness`` > 0.
    max_mb : float or None, default=16
        With ``n_patches="auto"``, the largest model file in megabytes (10^6 bytes): 16 MB holds 184
        patches at 1024-d and 491 at 384-d (rank 40). None: no cap. An integer ``n_patches`` is not capped.
    copy_guard : bool, default=True
        With ``n_patches="auto"``, lower the patch count while the fit fails the copying rule on its training
        data (see ``n_patches``). False skips the check: faster, and the fakes may sit closer to the training
        rows than new real points would.
    metric : {"cosine", "ip", "l2"}, default="cosine"
        The distance the corpus is searched by. "cosine": rows are normalized and samples are unit rows.
        "ip" and "l2": the directions are modelled as for cosine, on the normalized rows, and each patch also
        stores a table of its training rows' norms (:func:`synth.metric.norm_table`, 33 smoothed quantiles,
        each a mean of ``min_points`` norms); a sample is its direction times a norm drawn by inverse-CDF
        interpolation in its patch's table, from the row's own generator (after every direction draw, so
        row r still depends only on (seed, r)).
    calibration_ratio : int or None, default=None
        With ``noise_scale="auto"``, the test size of the calibration (:func:`calibration_split`): None tests its
        sub-model (fitted on ``min(N / 2, 10,000)`` rows) on up to 5,000 other rows, which balances the two-sample
        test at n of about N / 2; ``R`` on at most a R-th as many, which balances it at n = N / R. Measured on
        MiniLM at N = 50,000, n = 10,000 (docs/fidelity/README.md, "Past N/10"): with ``rank=24`` (778 patches
        under the 16 MB cap instead of 491) and ``R = 5`` the weaker side is 0.442-0.447 on MiniLM-WordNet over
        9 seed pairs (0.419-0.430 with None, 0.412-0.432 at rank 40), 0.441 on Python docstrings and 0.451 on
        Debian package descriptions. None keeps every earlier fit's bytes.
    shared_rank : int, default=0
        Directions shared by every patch. 0: each patch has only its own ``rank`` directions, as before the option
        existed (same bytes, same samples). ``s`` > 0: the ``s`` leading directions ``G`` of the pooled within-patch
        covariance (every training row's offset from its own patch mean, :func:`shared_directions`) are stored
        once; each patch keeps its variances along them, then ``rank`` directions of its own fitted on what ``G``
        leaves, and spreads the rest over the other ``d - s - rank`` directions (:func:`fit_patch_shared`). A
        sample is ``normalize(m + G^T sqrt(g - s2) z' + V sqrt(l - s2) z + a sqrt(s2) e)``. Directions fitted to a
        patch's few dozen rows contain those rows (the membership attacks of :mod:`synth.metrics.privacy` find
        them at AUC 0.97-1.00); directions fitted to all N rows hardly do. With ``rank=0`` this moves the model
        along the privacy / fidelity frontier measured in docs/privacy.md. Not with ``softness`` > 0 or
        ``group_size``.
    random_state : int or None
        Seed of k-means.
    verbose : int, default=0
        Show a progress bar over patches.

    Attributes
    ----------
    weights_ : ndarray of shape (n_patches_,)
    counts_ : ndarray of shape (n_patches_,)
        Training points summarised by each patch.
    means_ : ndarray of shape (n_patches_, n_features), float32
    components_ : ndarray of shape (n_patches_, rank, n_features), float16
        Unit principal directions, zero rows beyond a patch's rank.
    variances_ : ndarray of shape (n_patches_, rank), float32
    noise_variance_ : ndarray of shape (n_patches_,), float32
    noise_scale_ : float
        The residual-noise scale used when sampling.
    calibration_ : dict or None
        What the calibration measured (see :func:`calibrate_noise_scale`); None when not run.
    bridge_ : float
        The bridge amount used when sampling: ``bridge``, or the amount ``bridge="auto"`` chose.
    bridge_calibration_ : dict or None
        With ``bridge="auto"``, what :func:`calibrate_bridge` measured; None otherwise.
    copy_check_ : list of dict or None
        With ``n_patches="auto"`` and ``copy_guard``, each patch count tried and its :func:`copy_check`;
        None otherwise.
    group_means_ : ndarray of shape (n_groups_, n_features), float32, or None
        With ``group_size``, each group's mean (grouped by patch); None otherwise.
    group_counts_ : ndarray of shape (n_groups_,), int64, or None
        Training rows summarised by each group (at least ``min_points``).
    group_patch_ : ndarray of shape (n_groups_,), int64, or None
        Each group's patch.
    norm_table_ : ndarray of shape (n_patches_, 33), float32, or None
        With ``metric`` "ip" or "l2", each patch's norm table; None for cosine.
    shared_components_ : ndarray of shape (shared_rank, n_features), float32, or None
        With ``shared_rank``, the shared unit directions; None otherwise.
    shared_variances_ : ndarray of shape (n_patches_, shared_rank), float32, or None
        Each patch's variances along them.
    """

    kind = "patch"

    def _fit_plan(self, X=None, **_):
        """The steps of :meth:`fit` and their seconds, for the estimate of the time left
        (:mod:`synth.progress`), measured by ``synth fit`` on 10,000 bundled 384-d rows (2 cores, load 4):
        grown with n x d, the calibration (on a split of at most 10,000 rows) with d only beyond 20,000
        rows; on 100,000 x 1024 rows that puts k-means at twice the calibration, as ``bench fit-speed``
        measured. The copy guard's back-off is not foreseen: its refits drop the estimate."""
        n, d = np.shape(X) if X is not None and np.ndim(X) == 2 else (10_000, 384)
        r = n / 10_000 * d / 384
        guard = self.n_patches == "auto" and self.copy_guard
        steps = [("reference", 0.8 * r)] if guard else []
        steps.append(("k-means", 1.6 * r))
        if self.bridge == "auto":
            steps.append(("calibrate", sum(w for _, w in bridge_plan()) * min(n, 20_000) / 10_000 * d / 384))
        elif self.noise_scale == "auto":
            steps.append(("calibrate", 4.0 * min(n, 20_000) / 10_000 * d / 384))
        if self.recolor:
            steps.append(("recolor", 24.6 * d / 384))
        return steps + ([("check", 0.7 * r)] if guard else [])

    def __init__(self, n_patches="auto", rank=40, min_points=20, n_iter=25, noise_scale="auto", bridge=0.0,
                 softness=0.0, recolor=False, max_mb=16.0, copy_guard=True, group_size=None, bridge_match="both",
                 metric="cosine", shared_rank=0, calibration_ratio=None, random_state=None, verbose=0):
        self.n_patches = n_patches
        self.shared_rank = shared_rank
        self.calibration_ratio = calibration_ratio
        self.metric = metric
        self.bridge_match = bridge_match
        self.group_size = group_size
        self.recolor = recolor
        self.softness = softness
        self.max_mb = max_mb
        self.copy_guard = copy_guard
        self.bridge = bridge
        self.rank = rank
        self.min_points = min_points
        self.n_iter = n_iter
        self.noise_scale = noise_scale
        self.random_state = random_state
        self.verbose = verbose

    @planned(_fit_plan)
    def fit(self, X, y=None):
        """Fit patches to the directions of X (and, for metric ip / l2, each patch's norms).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows are L2-normalized here if they are not already; with metric "ip" or "l2" their norms are
            kept for the norm tables first.

        Returns
        -------
        self
        """
        if self.min_points < 10:
            raise SynthError(f"min_points={self.min_points}: no patch may summarise fewer than 10 points")
        if not (self.n_patches == "auto" or isinstance(self.n_patches, (int, np.integer)) and self.n_patches >= 1):
            raise SynthError(f"n_patches must be 'auto' or an integer >= 1, got {self.n_patches!r}")
        if self.rank < 0:
            raise SynthError(f"rank must be >= 0, got {self.rank!r}")
        if self.max_mb is not None and not (_finite(self.max_mb) and self.max_mb > 0):
            raise SynthError(f"max_mb must be a finite number > 0 or None, got {self.max_mb!r}")
        if not (self.bridge == "auto" or _finite(self.bridge) and 0 <= self.bridge <= 1):
            raise SynthError(f"bridge must be 'auto' or between 0 and 1, got {self.bridge!r}")
        if self.bridge_match not in BRIDGE_MATCH:
            raise SynthError(f"bridge_match must be one of {', '.join(BRIDGE_MATCH)}, got {self.bridge_match!r}")
        if not (_finite(self.softness) and self.softness >= 0):
            raise SynthError(f"softness must be a finite number >= 0, got {self.softness!r}")
        problem = noise_scale_problem(self.noise_scale)
        if problem:
            raise SynthError(f"noise_scale {problem}, got {self.noise_scale!r}")
        if self.group_size is not None:
            if not (isinstance(self.group_size, (int, np.integer)) and not isinstance(self.group_size, bool)
                    and self.group_size >= self.min_points):
                raise SynthError(f"group_size must be None or an integer >= min_points ({self.min_points}), "
                                 f"got {self.group_size!r}")
            if self.softness > 0:
                raise SynthError("group_size is not supported with softness > 0 (soft patches have no disjoint "
                                 "rows to cut into groups)")
        if not (isinstance(self.shared_rank, (int, np.integer)) and not isinstance(self.shared_rank, bool)
                and self.shared_rank >= 0):
            raise SynthError(f"shared_rank must be an integer >= 0, got {self.shared_rank!r}")
        if self.shared_rank and (self.softness > 0 or self.group_size is not None):
            raise SynthError("shared_rank is not supported with softness > 0 or group_size (shared directions are "
                             "fitted on each row's offset from its own patch mean)")
        if self.calibration_ratio is not None and not (
                isinstance(self.calibration_ratio, (int, np.integer)) and not isinstance(self.calibration_ratio, bool)
                and self.calibration_ratio >= 1):
            raise SynthError(f"calibration_ratio must be None or an integer >= 1, got {self.calibration_ratio!r}")
        if self.shared_rank and self.shared_rank + self.rank >= np.shape(X)[1]:
            raise SynthError(f"shared_rank + rank must be below the dimension {np.shape(X)[1]}, got "
                             f"{self.shared_rank} + {self.rank}")
        auto = self.noise_scale == "auto"
        check_metric(self.metric)
        self.norm_table_ = None  # the fit and its checks sample directions; the norms come last
        norms = None
        if self.metric != "cosine":
            raw = check_rows(X, min_rows=2 * self.min_points)
            X = unit_rows(raw, min_rows=2 * self.min_points)  # validates: finite, non-zero rows
            norms = np.concatenate([np.linalg.norm(np.asarray(raw[i:i + 65536], dtype=np.float64), axis=1)
                                    for i in range(0, len(raw), 65536)])
        else:
            X = unit_rows(X, min_rows=2 * self.min_points)
        self._fit_body(X, auto)
        if norms is not None:
            self._fit_norms(norms)
        self._train_labels = None
        return self

    def _fit_norms(self, norms):
        """Each patch's norm table, from the norms of the training rows of its (hard) cell."""
        labels, K = self._train_labels, len(self.weights_)
        order = np.argsort(labels, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=K))])
        self.norm_table_ = np.stack([norm_table(norms[order[bounds[j]:bounds[j + 1]]], self.min_points)
                                     for j in range(K)])

    def _fit_body(self, X, auto):
        n, d = X.shape
        seed = check_seed(self.random_state)
        reserve = recolor_bytes(d) if self.recolor else 0  # the map's bytes come out of max_mb
        if self.group_size is not None:  # so do the group means' (an upper bound: sum of n_a // G <= n // G)
            reserve += group_bytes(n // self.group_size, d)
        reserve += 4 * self.shared_rank * d  # the shared directions, float32
        if self.n_patches != "auto" or not self.copy_guard:
            n_patches = (int(self.n_patches) if self.n_patches != "auto"
                         else auto_patches(n, d, self.rank, self.max_mb, reserve, self._bridging(),
                                           self.metric != "cosine", self.shared_rank))
            self._fit_patches(X, n_patches, seed, auto)
            self.copy_check_ = None
            return
        # the auto patch count backs off (x 0.7) while the fit fails the publish gate's memorization check,
        # with the training rows' leave-one-out cosines standing in for held-out's
        # While backing off, the noise scale calibrated at the first count is reused; the count that passes
        # then gets its own calibration and is checked again (a failure there backs off further).
        n_patches, tried = min(auto_patches(n, d, self.rank, self.max_mb, reserve, self._bridging(),
                                            self.metric != "cosine", self.shared_rank),
                                max(1, n // self.min_points)), []
        reference, scale = CopyReference(X, seed), None
        while True:
            self._fit_patches(X, n_patches, seed, auto, scale)
            stage(f"patch: memorization check at {n_patches} patches", step="check")
            check = copy_check(self, X, seed, reference=reference)
            if scale is not None and (not check["copies"] or n_patches == 1):
                self._set_noise(X, n_patches, seed, auto)
                check = copy_check(self, X, seed, reference=reference)
            tried.append({"n_patches": n_patches, **check})
            if not check["copies"] or n_patches == 1:
                break
            scale = self.noise_scale_ if auto or self.bridge == "auto" else None  # and bridge_ is kept
            n_patches = max(1, int(n_patches * AUTO_BACKOFF))
        self.copy_check_ = tried

    def _fit_patches(self, X, n_patches, seed, auto_noise, scale=None):
        """Cut X into at most ``n_patches`` patches, fit each, then set (or calibrate) the noise scale;
        ``scale``, when given, is used instead of a calibration."""
        n, d = X.shape
        k = int(min(n_patches, n // self.min_points))
        stage(f"patch: k-means and local PCA, {k} patches", step="k-means")
        centroids = spherical_kmeans(X, k, self.n_iter, seed)
        labels = nearest(X, centroids)
        counts = np.bincount(labels, minlength=k)
        keep = counts >= self.min_points
        if not keep.all():  # reassigning only adds points to kept patches, so one pass suffices
            centroids = centroids[keep]
            labels = nearest(X, centroids)
            counts = np.bincount(labels, minlength=len(centroids))
        rank = int(min(self.rank, d))
        K = len(counts)
        rows, weights, bounds = patch_rows(X, labels, counts, self.softness)
        means = np.zeros((K, d), np.float32)
        comps = np.zeros((K, rank, d), np.float16)
        variances = np.zeros((K, rank), np.float32)
        noise = np.zeros(K, np.float32)
        mass = np.zeros(K)

        G = shared_var = None
        if self.shared_rank:
            stage(f"patch: {self.shared_rank} shared directions", step="k-means")
            cell_means = np.stack([X[rows[bounds[j]:bounds[j + 1]]].astype(np.float64).mean(axis=0) for j in range(K)])
            G = shared_directions(X, labels, cell_means, self.shared_rank)
            shared_var = np.zeros((K, self.shared_rank), np.float32)

        def one(j):
            P, w = X[rows[bounds[j]:bounds[j + 1]]], weights[bounds[j]:bounds[j + 1]]
            if G is not None:
                *out, sv = fit_patch_shared(P, G, rank)
                shared_var[j] = sv
                return tuple(out) + (None,)
            if self.group_size is None:
                return fit_patch(P, w, rank) + (None,)
            return fit_patch_groups(P, rank, self.group_size, self.min_points, self.n_iter, seed)

        groups = []  # with group_size: per patch (group means, group counts)
        fitted = tqdm(patch_map(one, K), total=K, desc="patches", disable=not self.verbose, leave=False)
        for j, (w_sum, m, Vt, var, s2, grouped) in enumerate(fitted):
            mass[j], means[j], noise[j] = w_sum, m, s2
            comps[j, :len(Vt)], variances[j, :len(var)] = Vt, var
            if grouped is not None:
                groups.append(grouped)
        # canonical patch order: most points first, ties broken by the mean's coordinates
        perm = np.lexsort(means.T[::-1].tolist() + [-counts]) if K > 1 else np.arange(K)
        self.counts_ = counts[perm].astype(np.int64)
        self._train_labels = np.argsort(perm)[labels]  # each training row's hard cell, in the canonical order
        self.mass_ = mass[perm]
        self.weights_ = self.mass_ / self.mass_.sum()
        self.means_, self.components_ = means[perm], comps[perm]
        self.variances_, self.noise_variance_ = variances[perm], noise[perm]
        self.shared_components_ = None if G is None else G.astype(np.float32)
        self.shared_variances_ = None if G is None else shared_var[perm]
        self.group_means_ = self.group_counts_ = self.group_patch_ = None
        if groups:  # grouped in the canonical patch order
            self.group_means_ = np.concatenate([groups[j][0] for j in perm])
            self.group_counts_ = np.concatenate([groups[j][1] for j in perm])
            self.group_patch_ = np.repeat(np.arange(K, dtype=np.int64), [len(groups[j][1]) for j in perm])
        self.dim_ = d
        self._cache = self._nbrs = self._partner_cdf = None
        self.partners_ = partner_table(X, self.means_) if self._bridging() else None
        if self.bridge != "auto":
            self.bridge_, self.bridge_calibration_ = float(self.bridge), None
        self._set_noise(X, n_patches, seed, auto_noise, scale)

    def _set_noise(self, X, n_patches, seed, auto_noise, scale=None):
        """Calibrate (or set) the noise scale of the fitted patches, then fit the recolouring map if asked."""
        self._cache = None
        self._recolor = self.recolor_map_ = None  # no map yet: the calibrations and _fit_recolor sample without one
        if scale is not None:  # a back-off step: the last calibration's scale (and bridge amount) are kept
            self.noise_scale_, self.calibration_ = float(scale), None
        elif self.bridge == "auto":
            params = {k: getattr(self, k) for k in ("rank", "min_points", "n_iter", "softness", "group_size",
                                                    "shared_rank", "calibration_ratio")}
            params["n_patches"] = n_patches
            stage("patch: calibrating the bridge amount (IVF and HNSW search cost of the training rows)",
                  step="calibrate")
            self.bridge_, self.noise_scale_, self.bridge_calibration_ = calibrate_bridge(
                self, X, params, seed, noise_scale="auto" if auto_noise else self.noise_scale,
                match=self.bridge_match)
            self.calibration_ = None
        elif auto_noise:
            # the noise is calibrated before recolouring (the map depends on the noise scale)
            params = {k: getattr(self, k) for k in ("rank", "min_points", "n_iter", "bridge", "softness",
                                                    "group_size", "shared_rank", "calibration_ratio")}
            params["n_patches"] = n_patches
            stage("patch: calibrating the noise scale (two-sample test on a split)", step="calibrate")
            self.noise_scale_, self.calibration_ = calibrate_noise_scale(X, params, seed)
        else:
            self.noise_scale_, self.calibration_ = float(self.noise_scale), None
        if self.recolor:
            stage(f"patch: recolouring map from {RECOLOR_SAMPLES:,} fakes", step="recolor")
            self._fit_recolor(X, seed)

    def _fit_recolor(self, X, seed, n_iter=RECOLOR_ITER):
        """Measure the fitted mixture's mean and covariance on fakes and store the transport map to X's.

        Re-normalising after the map moves the moments a little, so the map's target is corrected
        ``n_iter`` times by what the re-normalised fakes still miss (a fixed-point iteration on the target).
        """
        fake = self.sample(RECOLOR_SAMPLES, random_state=seed).astype(np.float64)
        X64 = X.astype(np.float64)
        mean_real, cov_real = X64.mean(axis=0), np.cov(X64, rowvar=False)
        mean_fake, cov_fake = fake.mean(axis=0), np.cov(fake, rowvar=False)
        mean_to, cov_to = mean_real.copy(), cov_real.copy()
        T = gaussian_transport(cov_fake, cov_to)
        for _ in range(n_iter):  # aim past what the last map's re-normalised output missed
            out = (fake - mean_fake) @ T + mean_to
            out /= np.linalg.norm(out, axis=1, keepdims=True)
            mean_to += mean_real - out.mean(axis=0)
            cov_to += cov_real - np.cov(out, rowvar=False)
            T = gaussian_transport(cov_fake, cov_to)
        self.recolor_map_ = (T - np.eye(len(T))).astype(np.float16)
        self.recolor_means_ = np.stack([mean_to, mean_fake]).astype(np.float32)
        self._recolor = None

    def _recolor_block(self, Y):
        """Apply the stored transport map to unit rows (in place where possible) and re-normalise."""
        if getattr(self, "_recolor", None) is None:
            self._recolor = self.recolor_map_.astype(np.float32)
        Y -= self.recolor_means_[1]
        Y += Y @ self._recolor  # T y = y + (T - I) y
        Y += self.recolor_means_[0]
        return normalize(Y)

    def _bridging(self):
        return self.bridge == "auto" or self.bridge > 0

    @property
    def n_patches_(self):
        return len(self.weights_)

    @property
    def n_groups_(self):
        """Group centres (``group_size``), or 0 without them."""
        return 0 if getattr(self, "group_means_", None) is None else len(self.group_means_)

    def _neighbors(self):
        """Per patch the indices of the :data:`BRIDGE_NEIGHBORS` patches with the closest means (cosine)."""
        if getattr(self, "_nbrs", None) is None or len(self._nbrs) != len(self.means_):
            sims = self.means_ @ self.means_.T
            np.fill_diagonal(sims, -np.inf)
            k = min(BRIDGE_NEIGHBORS, len(sims) - 1)
            if k < 1:  # one patch: nothing to bridge to
                self._nbrs = np.zeros((len(sims), BRIDGE_NEIGHBORS), np.int64)
            else:
                nb = np.argsort(-sims, axis=1, kind="stable")[:, :k]
                self._nbrs = nb[:, np.arange(BRIDGE_NEIGHBORS) % k]
        return self._nbrs

    def _partner(self, labels, u):
        """Each label's partner patch, drawn by the partner table's weights from uniforms ``u`` in [0, 1)."""
        ptr, idx, w = self.partners_
        if getattr(self, "_partner_cdf", None) is None or len(self._partner_cdf) != len(w):
            # row i's cumulative weights, shifted by i: one increasing array serves every patch
            cdf = np.cumsum(w.astype(np.float64))
            cdf -= np.repeat(np.concatenate([[0.0], cdf[ptr[1:-1] - 1]]), np.diff(ptr))
            cdf /= np.repeat(cdf[ptr[1:] - 1], np.diff(ptr))
            cdf += np.repeat(np.arange(len(ptr) - 1, dtype=np.float64), np.diff(ptr))
            cdf[ptr[1:] - 1] = np.arange(1, len(ptr))  # each row ends exactly at i + 1
            self._partner_cdf = cdf
        pos = np.searchsorted(self._partner_cdf, labels + u, side="right")
        return idx[np.minimum(pos, ptr[labels + 1] - 1)]

    def _factors(self):
        """Per patch the (rank, d) float32 matrix V^T sqrt(l - s2), computed once per fitted state."""
        if getattr(self, "_cache", None) is None:
            scale = np.sqrt(np.maximum(self.variances_ - self.noise_variance_[:, None], 0.0))
            with np.errstate(over="ignore"):  # an overflow here makes non-finite rows, which sample_block refuses
                factors = self.components_.astype(np.float32) * scale[:, :, None]
                if getattr(self, "shared_components_", None) is not None:  # shared directions first
                    shared = np.sqrt(np.maximum(self.shared_variances_ - self.noise_variance_[:, None], 0.0))
                    factors = np.concatenate([self.shared_components_[None] * shared[:, :, None], factors], axis=1)
                self._cache = (factors.astype(np.float32),
                               (self.noise_scale_ * np.sqrt(self.noise_variance_)).astype(np.float32))
        return self._cache

    def _sample_block(self, m, rng):
        factors, sigma = self._factors()
        if getattr(self, "group_means_", None) is None:
            labels = rng.choice(len(self.weights_), size=m, p=self.weights_)
            centres = self.means_[labels]
        else:  # a group by its row count; its patch gives the shape, its mean the centre
            counts = self.group_counts_.astype(np.float64)
            g = rng.choice(len(counts), size=m, p=counts / counts.sum())
            labels, centres = self.group_patch_[g], self.group_means_[g]
        Y = rng.standard_normal((m, self.dim_), dtype=np.float32)
        Y *= sigma[labels, None]
        bridge = self.bridge_
        if bridge > 0:  # extra draws only when bridging: bridge = 0 keeps the stream of earlier versions
            if getattr(self, "partners_", None) is not None:
                j = self._partner(labels, rng.random(m))
            else:  # a file from before the partner table: one of the nearest patches, uniformly
                j = self._neighbors()[labels, rng.integers(0, BRIDGE_NEIGHBORS, size=m)]
            t = rng.uniform(0, bridge, size=m).astype(np.float32)[:, None]
            Y += (1 - t) * centres + t * self.means_[j]
        else:
            Y += centres
        order = np.argsort(labels, kind="stable")
        counts = np.bincount(labels, minlength=len(self.weights_))
        pos = 0
        for j in np.flatnonzero(counts):
            rows = order[pos:pos + counts[j]]
            pos += counts[j]
            z = rng.standard_normal((len(rows), factors.shape[1]), dtype=np.float32)
            Y[rows] += z @ factors[j]
        Y = normalize(Y)
        if getattr(self, "recolor_map_", None) is not None:
            Y = self._recolor_block(Y)
        if getattr(self, "norm_table_", None) is not None:  # drawn last: the directions' stream is cosine's
            Y *= draw_norms(self.norm_table_, labels, rng.random(m))[:, None]
        return Y

    def _arrays(self):
        return {"counts": self.counts_, "mass": self.mass_, "means": self.means_, "components": self.components_,
                "variances": self.variances_, "noise_variance": self.noise_variance_,
                "noise_scale": np.array([self.noise_scale_], np.float64),
                **({"recolor_map": self.recolor_map_, "recolor_means": self.recolor_means_} if self.recolor else {}),
                **({"bridge": np.array([self.bridge_], np.float64)} if self.bridge == "auto" else {}),
                **({"group_means": self.group_means_, "group_counts": self.group_counts_,
                    "group_patch": self.group_patch_} if self.group_size is not None else {}),
                **(dict(zip(("partner_ptr", "partner_idx", "partner_w"), self.partners_))
                   if getattr(self, "partners_", None) is not None else {}),
                **({"norm_table": self.norm_table_} if self.metric != "cosine" else {}),
                **({"shared_components": self.shared_components_, "shared_variances": self.shared_variances_}
                   if getattr(self, "shared_rank", 0) else {})}

    def _set_arrays(self, a):
        K, d = check_array(a, "means", (None, None)).shape
        if K < 1 or d < 2:
            raise ValueError(f"array 'means' has shape {(K, d)}: no patch or fewer than 2 dimensions")
        r = check_array(a, "components", (K, None, d)).shape[1]
        check_array(a, "variances", (K, r), minimum=0)
        check_array(a, "noise_variance", (K,), minimum=0)
        check_array(a, "counts", (K,), minimum=1)
        if "mass" in a and not check_array(a, "mass", (K,), minimum=0).sum() > 0:
            raise ValueError("array 'mass' sums to 0")
        if "noise_scale" in a:
            check_array(a, "noise_scale", (1,), minimum=0)
        if self.bridge == "auto":
            if "bridge" not in a:
                raise ValueError("parameter bridge is 'auto' but the file has no fitted 'bridge' array")
            if not 0 <= float(check_array(a, "bridge", (1,), minimum=0)[0]) <= 1:
                raise ValueError("array 'bridge' must lie between 0 and 1")
        check_metric(self.metric)
        if self.metric != "cosine":
            if "norm_table" not in a:
                raise ValueError(f"parameter metric is {self.metric!r} but the file has no 'norm_table' array")
            t = check_array(a, "norm_table", (K, None), minimum=0)
            if t.shape[1] < 2 or np.any(np.diff(t.astype(np.float64), axis=1) < 0):
                raise ValueError("array 'norm_table' needs at least 2 non-decreasing levels per patch")
        if self.recolor:
            check_array(a, "recolor_map", (d, d))
            check_array(a, "recolor_means", (2, d))
        if self.group_size is not None:
            if "group_means" not in a:
                raise ValueError(f"parameter group_size is {self.group_size!r} but the file has no 'group_means' array")
            n_groups = check_array(a, "group_means", (None, d)).shape[0]
            if n_groups < 1:
                raise ValueError("array 'group_means' has no group")
            check_array(a, "group_counts", (n_groups,), minimum=1)
            if check_array(a, "group_patch", (n_groups,), minimum=0).max() >= K:
                raise ValueError(f"array 'group_patch' names patch {int(a['group_patch'].max())} of {K}")
        self.counts_ = a["counts"].astype(np.int64)
        self.mass_ = a["mass"].astype(np.float64) if "mass" in a else self.counts_.astype(np.float64)  # older files
        self.weights_ = self.mass_ / self.mass_.sum()
        self.means_, self.components_ = a["means"], a["components"]
        self.variances_, self.noise_variance_ = a["variances"], a["noise_variance"]
        self.noise_scale_ = float(a["noise_scale"][0]) if "noise_scale" in a else 1.0  # files before the scale
        self.calibration_ = self.bridge_calibration_ = None
        self.bridge_ = float(a["bridge"][0]) if self.bridge == "auto" else float(self.bridge)
        if self.recolor:
            self.recolor_map_, self.recolor_means_ = a["recolor_map"], a["recolor_means"]
        self._recolor = None
        self.group_means_ = self.group_counts_ = self.group_patch_ = None
        if self.group_size is not None:
            self.group_means_ = a["group_means"].astype(np.float32)
            self.group_counts_, self.group_patch_ = a["group_counts"].astype(np.int64), a["group_patch"].astype(np.int64)
        self.partners_ = None
        if "partner_ptr" in a:  # files from before the partner table bridge to the nearest patches
            ptr = check_array(a, "partner_ptr", (K + 1,), minimum=0).astype(np.int64)
            if ptr[0] != 0 or np.any(np.diff(ptr) < 1):
                raise ValueError("array 'partner_ptr' must start at 0 and grow by at least 1 per patch")
            idx = check_array(a, "partner_idx", (int(ptr[-1]),), minimum=0)
            w = check_array(a, "partner_w", (int(ptr[-1]),), minimum=0)
            if idx.max() >= K:
                raise ValueError(f"array 'partner_idx' names patch {int(idx.max())} of {K}")
            if not np.all(np.add.reduceat(w.astype(np.float64), ptr[:-1]) > 0):
                raise ValueError("array 'partner_w' has a patch whose weights sum to 0")
            self.partners_ = (ptr, idx.astype(np.int32), w.astype(np.float32))
        self.norm_table_ = a["norm_table"].astype(np.float32) if self.metric != "cosine" else None
        self.shared_components_ = self.shared_variances_ = None
        s = getattr(self, "shared_rank", 0)
        if s:
            if "shared_components" not in a:
                raise ValueError(f"parameter shared_rank is {s} but the file has no 'shared_components' array")
            self.shared_components_ = check_array(a, "shared_components", (s, d)).astype(np.float32)
            self.shared_variances_ = check_array(a, "shared_variances", (K, s), minimum=0).astype(np.float32)
        self.dim_ = self.means_.shape[1]
        self._cache = self._nbrs = self._partner_cdf = None
