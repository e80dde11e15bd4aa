"""Fidelity and privacy scores: the k-NN two-sample test ("c2st") and distance to closest record."""

import warnings

import numpy as np

from synth.errors import SynthError
from synth.metrics.neighbors import knn
from synth.metrics.statistics import _as_unit, geometry_stats
from synth.progress import planned, stage


def _check_pair(a, b, names):
    a, b = np.asarray(a), np.asarray(b)
    for X, name in zip((a, b), names):
        if X.ndim != 2:
            raise SynthError(f"{name} must be a 2-D array (n_samples, n_features), got shape {X.shape}")
    if a.shape[1] != b.shape[1]:
        raise SynthError(f"{names[0]} has dimension {a.shape[1]} but {names[1]} has {b.shape[1]}")
    return a, b


def _pooled_graph(real, fake, k, metric):
    """Each pooled row's k neighbours (self excluded): cosine on unit rows, or on the raw rows by the
    largest inner product (ip) or the smallest Euclidean distance (l2)."""
    from synth.metric import check_metric

    if check_metric(metric) == "cosine":
        return knn(np.vstack([_as_unit(real), _as_unit(fake)]), k=k, exclude_self=True)[1]
    pooled = np.vstack([np.asarray(real, dtype=np.float32), np.asarray(fake, dtype=np.float32)])
    if not np.isfinite(pooled).all():
        raise SynthError("rows hold NaN or infinite values")
    return knn(pooled, k=k, exclude_self=True, metric="l2" if metric == "l2" else "ip")[1]


def knn_two_sample(real, fake, k=10, n_permutations=200, random_state=None, metric="cosine"):
    """k-nearest-neighbour two-sample test (Schilling 1986; Henze 1988) on cosine similarity.

    With ``metric="l2"`` the neighbours are by Euclidean distance on the rows as given (norms count),
    with ``"ip"`` by the largest inner product (self excluded when it is among them).

    Pool the N = n1 + n2 rows, find each one's k nearest neighbours (self excluded) once, and let
    c_i be the share of point i's neighbours that come from the other sample::

        c2st = mean_i c_i,   c2st_real = mean_{i real} c_i,   c2st_fake = mean_{i fake} c_i.

    Under random labelling every neighbour pair is mixed with probability 2 n1 n2 / (N (N - 1)),
    which is the exact null mean of ``c2st`` (n / (2n - 1) for equal sizes; the sides' null means
    are n2 / (N - 1) and n1 / (N - 1)). Near 0.5 means indistinguishable, near 0 separable.
    The p-value keeps the graph and permutes the labels B times: p = (1 + #{s_b <= s}) / (B + 1).
    A diffuse fake can fool the pooled number; judge by the smaller side.

    Parameters
    ----------
    real : array-like of shape (n1, n_features)
    fake : array-like of shape (n2, n_features)
        Rows of both are normalized to unit length. Each sample needs at least k + 1 rows.
    k : int, default=10
    n_permutations : int, default=200
        B; 0 skips the permutation test (``p_value`` is then None).
    random_state : int, numpy.random.Generator or None
        Seed for the label permutations.

    Returns
    -------
    dict
        ``c2st``, ``c2st_real``, ``c2st_fake``, ``p_value``, ``null_mean``, ``n_real``,
        ``n_fake``, ``k``, ``n_permutations``.

    References
    ----------
    M. F. Schilling, "Multivariate two-sample tests based on nearest neighbors", JASA 81 (1986).
    N. Henze, "A multivariate two-sample test based on the number of nearest neighbor type
    coincidences", Ann. Statist. 16 (1988).
    """
    real, fake = _check_pair(real, fake, ("real", "fake"))
    for X, name in ((real, "real"), (fake, "fake")):
        if len(X) < k + 1:
            raise SynthError(f"{name} has {len(X)} points; the test needs at least k + 1 = {k + 1}")
    n1, n2 = len(real), len(fake)
    N = n1 + n2
    labels = np.repeat(np.array([0, 1], dtype=np.int8), [n1, n2])
    ids = _pooled_graph(real, fake, k, metric)

    cross = (labels[ids] != labels[:, None]).mean(axis=1)
    stat = float(cross.mean())

    p_value = None
    if n_permutations > 0:
        rng = np.random.default_rng(random_state)
        null = np.empty(n_permutations)
        # Chunk the permutations so the (chunk, N, k) gather stays near 64 MB.
        chunk = max(1, 2**26 // (N * k))
        for s in range(0, n_permutations, chunk):
            perm = rng.permuted(np.tile(labels, (min(chunk, n_permutations - s), 1)), axis=1)
            null[s : s + len(perm)] = (perm[:, ids] != perm[:, :, None]).mean(axis=(1, 2))
        p_value = float((1 + np.count_nonzero(null <= stat)) / (n_permutations + 1))

    return {
        "c2st": stat,
        "c2st_real": float(cross[:n1].mean()),
        "c2st_fake": float(cross[n1:].mean()),
        "p_value": p_value,
        "null_mean": 2 * n1 * n2 / (N * (N - 1)),
        "n_real": n1,
        "n_fake": n2,
        "k": k,
        "n_permutations": n_permutations,
    }


def cross_shares(real, k=10):
    """The per-side statistics of :func:`knn_two_sample` (``n_permutations=0``) against one fixed real
    sample, for many fake samples: real's neighbours among real are searched once, here.

    The pooled k nearest neighbours of a point are the k nearest of its nearest in each sample, so each
    test searches only the blocks that involve the fake: real against fake, fake against real and fake
    against itself (three quarters of the pooled search at equal sizes). The neighbour lists merge on
    cosine (real first on an exact tie), which gives the pooled search's lists up to the order of exact
    ties across the two samples.

    Parameters
    ----------
    real : array-like of shape (n1, n_features)
    k : int, default=10

    Returns
    -------
    test : callable
        ``test(fake)`` returns ``c2st``, ``c2st_real``, ``c2st_fake``, ``null_mean``, ``n_real``,
        ``n_fake`` and ``k`` as :func:`knn_two_sample` does.
    """
    real = _as_unit(real)
    if len(real) < k + 1:
        raise SynthError(f"real has {len(real)} points; the test needs at least k + 1 = {k + 1}")
    real_real = knn(real, k=k, exclude_self=True)[0]

    def other_share(same, other):  # share of the k best of [same | other] (best first in each) from other
        merged = np.argsort(-np.hstack([same, other]), axis=1, kind="stable")[:, :k]
        return (merged >= same.shape[1]).mean(axis=1)

    def test(fake):
        fake = _check_pair(real, fake, ("real", "fake"))[1]
        if len(fake) < k + 1:
            raise SynthError(f"fake has {len(fake)} points; the test needs at least k + 1 = {k + 1}")
        fake = _as_unit(fake)
        n1, n2 = len(real), len(fake)
        c_real = other_share(real_real, knn(fake, real, k=k)[0])
        c_fake = other_share(knn(fake, k=k, exclude_self=True)[0], knn(real, fake, k=k)[0])
        return {"c2st": float(np.concatenate([c_real, c_fake]).mean()), "c2st_real": float(c_real.mean()),
                "c2st_fake": float(c_fake.mean()), "null_mean": 2 * n1 * n2 / ((n1 + n2) * (n1 + n2 - 1)),
                "n_real": n1, "n_fake": n2, "k": k}

    return test


SAME_ROW_TOL = 1e-5  # nearest-training cosine above 1 - this: the held-out row is a training row


def memorization(train, fake, heldout):
    """Distance-to-closest-record check: does the generator copy its training points?

    For every fake and every held-out real point, take the cosine to its nearest training point.
    The threshold is the 95th percentile of the held-out values; the memorization rate is the
    share of fake points above it -- about 0.05 for a generator that does not copy, 1 for one that
    returns its training set.

    Parameters
    ----------
    train : array-like of shape (n_train, n_features)
        The points the generator was fitted on.
    fake : array-like of shape (n_fake, n_features)
    heldout : array-like of shape (n_heldout, n_features)
        Real points the generator never saw. All rows are normalized to unit length.

    Returns
    -------
    dict
        ``fake_median`` and ``heldout_median`` (median nearest-training cosine), ``threshold``,
        ``memorization_rate`` and ``heldout_in_train`` (held-out rows whose nearest-training cosine is
        1 up to float rounding: training rows, which a held-out set must not hold).
    """
    train, fake = _check_pair(train, fake, ("train", "fake"))
    train, heldout = _check_pair(train, heldout, ("train", "heldout"))
    base = _as_unit(train)
    fake_sim = knn(base, _as_unit(fake), k=1)[0][:, 0]
    held_sim = knn(base, _as_unit(heldout), k=1)[0][:, 0]
    threshold = float(np.percentile(held_sim, 95))
    return {
        "fake_median": float(np.median(fake_sim)),
        "heldout_median": float(np.median(held_sim)),
        "memorization_rate": float(np.mean(fake_sim > threshold)),
        "threshold": threshold,
        # held-out rows that repeat a training row (up to float rounding) make the check meaningless
        "heldout_in_train": int(np.sum(held_sim >= 1 - SAME_ROW_TOL)),
    }


def score_plan(n=5000, train=None, standard=False, **_):
    """The steps of :func:`score` and their seconds, for the estimate of the time left (:mod:`synth.progress`).

    Measured by ``synth score`` with k = 10, 200 permutations and 10,000 training rows on the bundled 384-d
    rows (2 cores, load 5), at n = 5,000 and 10,000: the test and the ceiling grow as n^2 (1.6 and 1.4 s,
    then 6.4 and 5.2 s), the statistics as n^1.5, the memorization check as n, the standard measures
    hardly (26 s, then 30 s).
    """
    r = n / 5000
    steps = [("test", 1.6 * r**2), ("ceiling", 1.4 * r**2), ("statistics", 1.5 * r**1.5)]
    if train is not None:
        steps.append(("memorization", 1.2 * r))
    if standard:
        from synth.metrics.standard_measures import standard_measures_plan

        steps.append(("standard", sum(w for _, w in standard_measures_plan(train=train))))
    return steps


def norm_comparison(real, fake):
    """Row norms of two samples: quantiles (5, 25, 50, 75, 95 %) and the two-sample Kolmogorov-Smirnov
    statistic (0 = same distribution of norms, 1 = disjoint)."""
    from scipy.stats import ks_2samp

    a = np.linalg.norm(np.asarray(real, dtype=np.float64), axis=1)
    b = np.linalg.norm(np.asarray(fake, dtype=np.float64), axis=1)
    q = [5, 25, 50, 75, 95]
    return {"quantiles": q, "real": np.percentile(a, q).round(5).tolist(), "fake": np.percentile(b, q).round(5).tolist(),
            "ks": float(ks_2samp(a, b).statistic)}


@planned(score_plan)
def score(real, fake, train=None, n=5000, k=10, n_permutations=200, random_state=0, standard=False,
          metric="cosine"):
    """Score a synthetic set against real data: two-sample test, its ceiling, geometry, privacy.

    ``n`` real and ``n`` fake rows (``n = min(n, len(real), len(fake))``) go into
    :func:`knn_two_sample`. The ceiling is the same statistic for two disjoint *real* samples of
    the same size -- TRAIN vs REAL when ``train`` is given, else two disjoint halves of REAL --
    since the statistic drifts with n and a perfect generator can only reach it. When REAL has
    fewer than 2n rows the halves have ``len(real) // 2`` rows (``ceiling_n``; a warning says so).

    Parameters
    ----------
    real : array-like of shape (n_real, n_features)
        Real points *not* used to fit the generator.
    fake : array-like of shape (n_fake, n_features)
    train : array-like of shape (n_train, n_features), optional
        The generator's training points: enables the TRAIN-vs-REAL ceiling and the
        memorization check (against all of ``train``).
    n : int, default=5000
    k : int, default=10
    n_permutations : int, default=200
    random_state : int, numpy.random.Generator or None, default=0
        One generator drives every subsample and permutation.
    standard : bool, default=False
        Also run the field's standard measures (:func:`synth.metrics.standard_measures.standard_measures`: SDMetrics'
        detection score, and with ``train`` Meehan et al.'s data-copying test, alpha-precision, beta-recall
        and authenticity, SDMetrics' DCR overfitting protection), seeded by the same generator.
    metric : {"cosine", "ip", "l2"}, default="cosine"
        The two-sample test and its ceiling use it on the rows as given (:func:`knn_two_sample`). The
        geometry statistics, the memorization check and the standard measures are defined on unit rows:
        with ip / l2 they are computed on the directions (rows normalized explicitly), and ``norms``
        (:func:`norm_comparison`) compares the norms the directions leave out.

    Returns
    -------
    dict
        ``n``, ``k``, ``c2st``, ``c2st_real``, ``c2st_fake``, ``p_value``, ``ceiling``,
        ``ceiling_real``, ``ceiling_fake``, ``ceiling_n``, ``stats`` ({``real``, ``fake``}:
        :func:`synth.metrics.statistics.geometry_stats` on the tested rows) and, with ``train``, ``dcr``
        (:func:`memorization` on the tested fake and real rows); with ``standard``, ``standard``.
    """
    real, fake = _check_pair(real, fake, ("real", "fake"))
    if train is not None:
        real, train = _check_pair(real, train, ("real", "train"))
    n = min(n, len(real), len(fake))
    if n < k + 1:
        raise SynthError(f"only {n} points per sample; the test needs at least k + 1 = {k + 1}")

    rng = np.random.default_rng(random_state)
    real_order = rng.permutation(len(real))
    real_n = real[real_order[:n]]
    fake_n = fake[rng.choice(len(fake), size=n, replace=False)]

    stage(f"two-sample test, n = {n:,}, k = {k}, {n_permutations} permutations", step="test")
    test = knn_two_sample(real_n, fake_n, k=k, n_permutations=n_permutations, random_state=rng, metric=metric)

    if train is not None:
        n_c = min(n, len(train))
        ceil_real, ceil_other = real_n[:n_c], train[rng.choice(len(train), size=n_c, replace=False)]
    else:
        n_c = min(n, len(real) // 2)
        ceil_real, ceil_other = real[real_order[:n_c]], real[real_order[n_c : 2 * n_c]]
    if n_c < n:
        warnings.warn(
            f"ceiling uses {n_c} points per side, not n={n}: "
            f"{'train' if train is not None else 'real (split in halves)'} is too small",
            stacklevel=2,
        )
    stage(f"ceiling (real vs real), n = {n_c:,}", step="ceiling")
    ceiling = knn_two_sample(ceil_real, ceil_other, k=k, n_permutations=0, metric=metric)

    stage("geometry statistics", step="statistics")
    result = {
        "n": n,
        "k": k,
        "c2st": test["c2st"],
        "c2st_real": test["c2st_real"],
        "c2st_fake": test["c2st_fake"],
        "p_value": test["p_value"],
        "ceiling": ceiling["c2st"],
        "ceiling_real": ceiling["c2st_real"],
        "ceiling_fake": ceiling["c2st_fake"],
        "ceiling_n": n_c,
        "stats": {"real": geometry_stats(real_n), "fake": geometry_stats(fake_n)},
    }
    if metric != "cosine":
        result["metric"] = metric
        result["norms"] = norm_comparison(real_n, fake_n)
    if train is not None:
        stage("memorization check", step="memorization")
        result["dcr"] = memorization(train, fake_n, real_n)
    if standard:
        from synth.metrics.standard_measures import standard_measures

        stage("standard measures: detection" + (", data-copying test, alpha-precision, DCR overfitting protection"
                                                if train is not None else ""), step="standard")
        result["standard"] = standard_measures(real, fake, train=train, n=n, random_state=rng)
    return result
