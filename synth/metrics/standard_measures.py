"""The field's standard measures of synthetic-data privacy and fidelity, computed as their reference
implementations compute them.

- :func:`data_copying_test`: the three-sample data-copying test of Meehan, Chaudhuri and Dasgupta (AISTATS
  2020), the statistic C_T: per k-means cell of the training set, a Mann-Whitney U test of the generated
  rows' distances to the training rows against held-out real rows' distances, Z-scored, averaged over the
  cells with enough generated rows, weighted by the held-out rows' share of each cell. 0 = no copying,
  << 0 = copying, >> 0 = underfitting. Reference: github.com/casey-meehan/data-copying
  (``data_copying_tests.py``, functions ``Zu``, ``Zu_cells``, ``C_T``).
- :func:`alpha_precision`: alpha-precision, beta-recall and authenticity (Alaa, van Breugel, Saveliev and
  van der Schaar, ICML 2022) as synthcity's ``AlphaPrecision`` computes its "naive" variant (min-max scaled
  columns, a ball around the real rows' mean, nearest-neighbour radii), and the same on the unit rows
  without the scaling, which near-constant embedding coordinates break: 1 = faithful; authenticity is
  about 0.5 for a generator independent of its training rows and near 0 for one that copies them.
- :func:`detection_score`: SDMetrics' ``LogisticDetection``: 1 - mean over 3 shuffled stratified folds of
  (2 max(AUC, 0.5) - 1), AUC of a logistic regression (robust-scaled columns) telling real rows from
  synthetic ones. 1 = indistinguishable, 0 = separable.
- :func:`dcr_overfitting_protection`: SDMetrics' ``DCROverfittingProtection``: the share p of synthetic
  rows closer to the training set than to a held-out set, scored min(2 (1 - p), 1). 1 = no sign of
  copying, 0 = every synthetic row sits nearer a training row.

:func:`standard_measures` runs every measure the given sets allow (detection needs real and synthetic
rows; the other three also need the training rows) and is what ``synth score`` and the dataset card report.
Where the embedding setting forces a choice that the references leave open or define for tables, the
function's docstring says so.
"""

import warnings

import faiss
import numpy as np

from synth.errors import SynthError
from synth.io.arrays import check_rows, unit_rows
from synth.progress import planned, stage

N_CELLS = 50          # k-means cells of the data-copying test (the paper's MNIST experiments use 50)
MIN_FAKES_PER_CELL = 20  # the paper's threshold tau = 20 / m: a cell counts with more than 20 generated rows
ROWS_PER_CELL = 80    # standard_measures' cells below n = 50 x 80: one per 80 held-out and generated rows
N_ALPHAS = 30         # synthcity's grid of alpha and beta levels
DETECTION_FOLDS = 3   # SDMetrics' stratified folds
MAX_ROWS = 20_000     # rows of a reference set beyond which standard_measures subsamples (k-means, alpha, DCR)
_CANDIDATES = 4       # extra float32 neighbour candidates re-ranked in float64
_BRUTE_PAIRS = 2**22  # query-base pairs below which distances are computed directly in float64


def _seed(random_state):
    """An int seed (or None) for scikit-learn from an int, a numpy Generator or None."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    return random_state


def _rows64(X, name, min_rows=1):
    X = check_rows(X, min_rows)
    if not np.isfinite(X).all():
        raise SynthError(f"{name} contains NaN or infinite values")
    return np.asarray(X, dtype=np.float64)


def _same_dim(*named):
    dims = {name: X.shape[1] for name, X in named}
    if len(set(dims.values())) > 1:
        raise SynthError("dimensions differ: " + ", ".join(f"{n} {d}" for n, d in dims.items()))


def nearest_distances(base, queries, exclude_self=False):
    """Euclidean distance of each query to its nearest row of ``base``, exact in float64.

    faiss proposes a few float32 candidates per query; their distances are recomputed in float64 and the
    smallest is kept, so float32 rounding cannot pick a farther row. Below ``_BRUTE_PAIRS`` query-row pairs
    every distance is computed in float64 instead.

    Parameters
    ----------
    base : ndarray of shape (n_base, n_features)
    queries : ndarray of shape (n_queries, n_features), or None to search ``base`` against itself
    exclude_self : bool, default=False
        With ``queries=None``: each row's nearest *other* row (an exact duplicate counts, at distance 0).

    Returns
    -------
    dist : ndarray of shape (n_queries,), float64
    idx : ndarray of shape (n_queries,), int64
        Row of ``base``.
    """
    base = np.asarray(base, dtype=np.float64)
    queries = base if queries is None else np.asarray(queries, dtype=np.float64)
    need = 2 if exclude_self else 1
    if len(base) < need:
        raise SynthError(f"need at least {need} reference rows, got {len(base)}")
    if len(queries) * len(base) <= _BRUTE_PAIRS:  # small: every distance in float64, no faiss thread start-up
        idx = np.empty(len(queries), dtype=np.int64)
        sq = np.einsum("ij,ij->i", base, base)
        step = max(1, _BRUTE_PAIRS // (8 * len(base)))
        for s in range(0, len(queries), step):
            q = queries[s:s + step]
            d2 = np.maximum(np.einsum("ij,ij->i", q, q)[:, None] + sq[None, :] - 2 * q @ base.T, 0)
            if exclude_self:
                d2[np.arange(len(q)), np.arange(s, s + len(q))] = np.inf
            idx[s:s + step] = np.argmin(d2, axis=1)
        diff = queries - base[idx]
        return np.sqrt(np.einsum("ij,ij->i", diff, diff)), idx
    c = min(len(base), need + _CANDIDATES)
    _, ids = faiss.knn(np.ascontiguousarray(queries, dtype=np.float32), np.ascontiguousarray(base, dtype=np.float32),
                       c, metric=faiss.METRIC_L2)
    dist = np.empty(len(queries))
    idx = np.empty(len(queries), dtype=np.int64)
    step = max(1, 2**22 // (c * base.shape[1]))
    for s in range(0, len(queries), step):
        cand = ids[s:s + step]
        diff = queries[s:s + step, None, :] - base[cand]
        d = np.sqrt(np.einsum("qcd,qcd->qc", diff, diff))
        if exclude_self:
            d[cand == np.arange(s, s + len(cand))[:, None]] = np.inf
        d[cand < 0] = np.inf
        best = np.argmin(d, axis=1)
        dist[s:s + step] = d[np.arange(len(cand)), best]
        idx[s:s + step] = cand[np.arange(len(cand)), best]
    return dist, idx


def u_statistic(a, b):
    """Mann-Whitney U of sample ``a`` against ``b``: #{(i, j): a_i > b_j} + #{(i, j): a_i = b_j} / 2.

    The same number as ``scipy.stats.mannwhitneyu(a, b).statistic`` (U of the first sample), in
    O((m + n) log n).
    """
    b = np.sort(np.asarray(b, dtype=np.float64))
    a = np.asarray(a, dtype=np.float64)
    below = np.searchsorted(b, a, side="left")
    not_above = np.searchsorted(b, a, side="right")
    return float(below.sum() + 0.5 * (not_above - below).sum())


def z_u(fake_dist, heldout_dist):
    """Meehan et al.'s Z-scored U of generated distances against held-out distances.

    With m generated and n held-out distances to the training set and U = :func:`u_statistic` (generated
    against held-out)::

        Z_U = (U - (m n / 2 - 1/2)) / sqrt(m n (m + n + 1) / 12)

    the null mean and variance of U for exchangeable samples; the reference code subtracts its continuity
    correction of 1/2 from the mean as written here, and applies no tie correction. Z_U << 0: generated
    rows are closer to the training rows than new real rows are (data-copying).
    """
    m, n = len(fake_dist), len(heldout_dist)
    u = u_statistic(fake_dist, heldout_dist)
    return (u - (m * n / 2 - 0.5)) / np.sqrt(m * n * (m + n + 1) / 12)


def data_copying_test(train, heldout, fake, n_cells=N_CELLS, tau=None, random_state=0, max_kmeans_rows=None):
    """The three-sample data-copying test C_T of Meehan, Chaudhuri and Dasgupta (AISTATS 2020).

    The instance space is cut into cells pi by k-means on the training set T (``n_cells`` clusters). In
    each cell, L(P) are the Euclidean distances of the held-out rows P_n in the cell to their nearest
    training row *of the same cell*, L(Q) those of the generated rows Q_m, and Z_U(pi) = :func:`z_u` of
    L(Q) against L(P). With Pi_tau the cells holding more than a share ``tau`` of Q_m::

        C_T = sum_{pi in Pi_tau} P_n(pi) Z_U(pi) / sum_{pi in Pi_tau} P_n(pi)

    where P_n(pi) is the held-out share of the cell. C_T is about 0 when the generator neither copies nor
    underfits, << 0 when generated rows sit closer to training rows than new real rows do, >> 0 when they
    sit farther (underfitting). The paper calls C_T << 0 (e.g. below -3) data-copying.

    As in the reference code (``Zu_cells``, ``C_T``): distances go to the training rows of the same cell,
    tau = 20 / m (a cell counts with more than 20 generated rows) and the inequality is strict. Where the
    reference stops with an error (a cell without held-out rows), that cell is left out here: its weight
    P_n(pi) is 0, so C_T is unchanged wherever the reference gives a number. k-means is scikit-learn's
    (k-means++, one initialisation), fitted on at most ``max_kmeans_rows`` training rows when given; every
    training row is then assigned to its nearest centre.

    Parameters
    ----------
    train : array-like of shape (n_train, n_features)
        T, the generator's training rows.
    heldout : array-like of shape (n, n_features)
        P_n, real rows the generator never saw.
    fake : array-like of shape (m, n_features)
        Q_m, generated rows.
    n_cells : int, default=50
        k of k-means; at most ``n_train``.
    tau : float, optional
        Minimum share of Q_m in a cell (strictly more); default 20 / m.
    random_state : int, numpy.random.Generator or None, default=0
        Seed of k-means.
    max_kmeans_rows : int, optional
        Fit k-means on this many training rows at most (a seeded subsample).

    Returns
    -------
    dict
        ``c_t`` (None when no cell qualifies), ``z_u`` (the global test: Z_U over all rows, distances to all
        of T), ``n_cells``, ``cells_used`` (|Pi_tau|), ``heldout_share_used`` (sum of P_n(pi) over Pi_tau),
        ``tau``, ``cell_z`` (Z_U per cell, None where the cell is not in Pi_tau), ``cell_heldout`` and
        ``cell_fake`` (rows per cell), ``n_train``, ``n_heldout``, ``n_fake``.

    References
    ----------
    C. Meehan, K. Chaudhuri, S. Dasgupta, "A Non-Parametric Test to Detect Data-Copying in Generative
    Models", AISTATS 2020 (PMLR 108), arXiv:2004.05675; reference code github.com/casey-meehan/data-copying.
    """
    from sklearn.cluster import KMeans

    T, P, Q = _rows64(train, "train"), _rows64(heldout, "heldout", 2), _rows64(fake, "fake", 2)
    _same_dim(("train", T), ("heldout", P), ("fake", Q))
    k = min(int(n_cells), len(T))
    if k < 1:
        raise SynthError(f"n_cells must be >= 1, got {n_cells}")
    m, n = len(Q), len(P)
    tau = MIN_FAKES_PER_CELL / m if tau is None else float(tau)
    rng = np.random.default_rng(_seed(random_state))
    fit_rows = T
    if max_kmeans_rows is not None and len(T) > max_kmeans_rows:
        fit_rows = T[np.sort(rng.choice(len(T), max_kmeans_rows, replace=False))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate rows can leave fewer distinct points than k
        km = KMeans(n_clusters=k, n_init=1, random_state=_seed(rng)).fit(fit_rows)
    cells_t, cells_p, cells_q = km.predict(T), km.predict(P), km.predict(Q)
    p_share = np.bincount(cells_p, minlength=k) / n
    q_share = np.bincount(cells_q, minlength=k) / m

    cell_z = [None] * k
    for c in range(k):
        if q_share[c] > tau and p_share[c] > 0 and np.any(cells_t == c):
            Tc = T[cells_t == c]
            fake_d, held_d = nearest_distances(Tc, Q[cells_q == c])[0], nearest_distances(Tc, P[cells_p == c])[0]
            cell_z[c] = float(z_u(fake_d, held_d))
    used = np.array([z is not None for z in cell_z])
    weight = p_share[used]
    c_t = float(np.dot(weight, [z for z in cell_z if z is not None]) / weight.sum()) if used.any() else None
    z_global = float(z_u(nearest_distances(T, Q)[0], nearest_distances(T, P)[0]))
    return {"c_t": c_t, "z_u": z_global, "n_cells": k, "cells_used": int(used.sum()),
            "heldout_share_used": float(weight.sum()), "tau": tau, "cell_z": cell_z,
            "cell_heldout": np.bincount(cells_p, minlength=k).tolist(),
            "cell_fake": np.bincount(cells_q, minlength=k).tolist(), "n_train": len(T), "n_heldout": n, "n_fake": m}


def alpha_precision(real, fake, n_alphas=N_ALPHAS, scaling="minmax"):
    """alpha-precision, beta-recall and authenticity (Alaa et al., ICML 2022), as synthcity's
    ``AlphaPrecision`` computes its "naive" variant (``delta_precision_alpha_naive``,
    ``delta_coverage_beta_naive``, ``authenticity_naive``).

    With ``scaling="minmax"`` (synthcity's naive variant) columns are first min-max scaled with the real
    rows' minimum and maximum (scikit-learn's ``MinMaxScaler`` fitted on the real rows; a constant column is
    shifted, not scaled); ``scaling=None`` keeps the rows as given (unit rows: the embedding geometry). The
    scaling divides by each column's range, and real embeddings can have near-constant columns (3 of the
    bundled MiniLM sample's 384 coordinates are about 0 in every row: two exactly, one within 6e-8): any generated
    deviation there is blown up until it decides every distance, so on such data the min-max numbers say
    nothing about the rest of the geometry. With c the real rows' mean,
    alphas = n_alphas levels evenly spaced on [0, 1] and q_a the a-quantile (linear interpolation):

    - alpha-precision curve P(a) = share of synthetic rows y with ||y - c|| <= q_a(||x - c|| over real x);
    - beta-recall curve R(b) = share of real rows x whose nearest synthetic row y(x) lies within x's
      distance to its nearest other real row, and whose y(x) lies within q_b(||y(x') - c_s|| over real x')
      of the synthetic rows' mean c_s;
    - each score is 1 - sum_a |a - curve(a)| / sum_a a (1 = the curve on the diagonal);
    - authenticity = share of real rows i with r[j(i)] < ||x_i - y_j(i)||, where j(i) indexes the nearest
      synthetic row of x_i and r are the real rows' nearest-other-real distances. synthcity looks r up at
      the *synthetic* row's index j(i) (so the two sets must have equal size); with the rows in random
      order that compares x_i's distance to its nearest synthetic row with a random real row's
      nearest-neighbour distance: about 0.5 when generated rows are as far from the real rows as real rows
      are from each other, near 0 when generated rows sit on real rows. Kept as synthcity has it.

    Parameters
    ----------
    real : array-like of shape (n, n_features)
        The real rows (the generator's training rows, for authenticity to mean "not a copy").
    fake : array-like of shape (n, n_features)
        As many synthetic rows (synthcity requires equal sizes).
    n_alphas : int, default=30
    scaling : {"minmax", None}, default="minmax"

    Returns
    -------
    dict
        ``alpha_precision``, ``beta_recall``, ``authenticity``, ``scaling``, ``n``, ``alphas``,
        ``precision_curve``, ``recall_curve``.

    References
    ----------
    A. Alaa, B. van Breugel, E. Saveliev, M. van der Schaar, "How Faithful is your Synthetic Data?
    Sample-level Metrics for Evaluating and Auditing Generative Models", ICML 2022 (PMLR 162), 290-306;
    synthcity ``synthcity/metrics/eval_statistical.py``, ``AlphaPrecision``.
    """
    X, Y = _rows64(real, "real", 2), _rows64(fake, "fake", 1)
    _same_dim(("real", X), ("fake", Y))
    if len(X) != len(Y):
        raise SynthError(f"alpha-precision needs as many synthetic rows as real ones, got {len(Y)} and {len(X)}")
    if scaling == "minmax":
        lo = X.min(axis=0)
        span = X.max(axis=0) - lo
        span[span == 0] = 1.0
        X, Y = (X - lo) / span, (Y - lo) / span
    elif scaling is not None:
        raise ValueError(f"scaling must be 'minmax' or None, got {scaling!r}")

    alphas = np.linspace(0, 1, n_alphas)
    center = X.mean(axis=0)
    radii = np.quantile(np.linalg.norm(X - center, axis=1), alphas)
    synth_to_center = np.linalg.norm(Y - center, axis=1)
    real_to_real = nearest_distances(X, None, exclude_self=True)[0]
    real_to_synth, j = nearest_distances(Y, X)
    closest_d = np.linalg.norm(Y[j] - Y.mean(axis=0), axis=1)
    closest_radii = np.quantile(closest_d, alphas)
    within = real_to_synth <= real_to_real
    precision = np.array([np.mean(synth_to_center <= r) for r in radii])
    recall = np.array([np.mean(within & (closest_d <= r)) for r in closest_radii])
    return {
        "alpha_precision": float(1 - np.abs(alphas - precision).sum() / alphas.sum()),
        "beta_recall": float(1 - np.abs(alphas - recall).sum() / alphas.sum()),
        "authenticity": float(np.mean(real_to_real[j] < real_to_synth)),
        "scaling": scaling, "n": len(X), "alphas": alphas.tolist(), "precision_curve": precision.tolist(),
        "recall_curve": recall.tolist(),
    }


def detection_score(real, fake, n_splits=DETECTION_FOLDS, random_state=0):
    """SDMetrics' ``LogisticDetection``: can a logistic regression tell real rows from synthetic ones?

    Real rows are labelled 1 and synthetic rows 0; scikit-learn's ``StratifiedKFold(n_splits, shuffle=True)``
    splits them; on each fold a pipeline of ``RobustScaler`` and ``LogisticRegression(solver="lbfgs")``
    (defaults: C = 1, at most 100 iterations) is fitted on the other folds and its ROC AUC taken on the
    fold. The score is::

        1 - mean_folds (2 max(AUC, 0.5) - 1)

    1 = indistinguishable, 0 = perfectly separated. SDMetrics' pipeline starts with a ``SimpleImputer``,
    which changes nothing on finite rows (and non-finite rows are refused here). SDMetrics shuffles the folds
    with numpy's global generator; here ``random_state`` seeds them: an int s gives the folds SDMetrics gives
    after ``numpy.random.seed(s)``.

    Parameters
    ----------
    real : array-like of shape (n_real, n_features)
    fake : array-like of shape (n_fake, n_features)
    n_splits : int, default=3
    random_state : int, numpy.random.Generator or None, default=0

    Returns
    -------
    dict
        ``score``, ``auc`` (mean fold AUC), ``fold_auc``, ``max_iter_reached`` (whether lbfgs stopped at its
        iteration limit on some fold, as SDMetrics lets it), ``n_real``, ``n_fake``.

    References
    ----------
    SDMetrics (DataCebo), ``sdmetrics/single_table/detection/base.py`` and ``sklearn.py``,
    ``LogisticDetection``; the classifier two-sample test: D. Lopez-Paz, M. Oquab, "Revisiting Classifier
    Two-Sample Tests", ICLR 2017.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import RobustScaler

    R, F = _rows64(real, "real", n_splits), _rows64(fake, "fake", n_splits)
    _same_dim(("real", R), ("fake", F))
    X = np.concatenate([R, F])
    y = np.hstack([np.ones(len(R)), np.zeros(len(F))])
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=_seed(random_state))
    aucs, capped = [], False
    for fit_idx, test_idx in folds.split(X, y):
        model = make_pipeline(RobustScaler(), LogisticRegression(solver="lbfgs"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X[fit_idx], y[fit_idx])
        clf = model[-1]
        capped |= bool(np.max(clf.n_iter_) >= clf.max_iter)
        aucs.append(float(roc_auc_score(y[test_idx], model.predict_proba(X[test_idx])[:, 1])))
    return {"score": float(1 - np.mean([2 * max(a, 0.5) - 1 for a in aucs])), "auc": float(np.mean(aucs)),
            "fold_auc": aucs, "max_iter_reached": capped, "n_real": len(R), "n_fake": len(F)}


def sdmetrics_dcr(reference, rows, block=2**23):
    """Distance to closest record as SDMetrics computes it for numerical columns.

    The distance between a row x and a reference row y is the mean over columns j of
    min(|x_j - y_j| / range_j, 1), with range_j = max - min of column j over ``reference`` (a column of
    range 0 contributes 1 where x_j != y_j, else 0); each row's DCR is its smallest distance to a
    reference row (``sdmetrics.single_table.privacy.dcr_utils.calculate_dcr``). Exact, in float64;
    O(n_rows n_reference n_features) work, so subsample large sets.

    Parameters
    ----------
    reference : array-like of shape (n_reference, n_features)
    rows : array-like of shape (n_rows, n_features)
    block : int
        Elements of the (rows, reference, features) difference array held at once.

    Returns
    -------
    ndarray of shape (n_rows,)
    """
    ref, X = _rows64(reference, "reference"), _rows64(rows, "rows")
    _same_dim(("reference", ref), ("rows", X))
    span = ref.max(axis=0) - ref.min(axis=0)
    flat = span == 0
    scale = np.where(flat, 1.0, span)
    out = np.empty(len(X))
    step = max(1, block // (len(ref) * ref.shape[1]))
    for s in range(0, len(X), step):
        diff = np.abs(X[s:s + step, None, :] - ref[None, :, :]) / scale
        diff = np.where(flat, diff > 0, np.minimum(diff, 1.0))
        out[s:s + step] = diff.mean(axis=2).min(axis=1)
    return out


def dcr_overfitting_protection(train, fake, heldout, distance="cosine"):
    """SDMetrics' ``DCROverfittingProtection``: are synthetic rows closer to the training rows than to
    held-out real rows?

    For every synthetic row, its distance to the closest training row and to the closest held-out row;
    p = share of synthetic rows strictly closer to the training set, and::

        score = min(2 (1 - p), 1)

    A generator independent of its training rows has p about 0.5 (when training and held-out sets have the
    same size: the larger set is nearer by chance) and scores 1; one that copies has p near 1 and scores
    near 0.

    ``distance="sdmetrics"`` is SDMetrics' distance for numerical columns (:func:`sdmetrics_dcr`: the mean
    over columns of the range-scaled absolute difference, capped at 1 per column, each reference set
    scaled by its own column ranges): the same numbers as SDMetrics, at a cost of O(n_fake n_reference d).
    ``distance="cosine"`` (the default here) ranks by cosine on unit rows, the geometry of every other
    measure of this project (computed as Euclidean distance on unit rows, which orders pairs the same way),
    with exact search in O(n log n)-like time; the score and p are defined as in SDMetrics. The two
    distances can disagree on which set is closer: only the cosine one sees the embedding as a direction.

    Parameters
    ----------
    train : array-like of shape (n_train, n_features)
    fake : array-like of shape (n_fake, n_features)
    heldout : array-like of shape (n_heldout, n_features)
        Real rows never used to fit; SDMetrics warns below half the training size.
    distance : {"cosine", "sdmetrics"}, default="cosine"

    Returns
    -------
    dict
        ``score``, ``closer_to_training`` (p), ``closer_to_holdout`` (1 - p), ``median_dcr_training`` and
        ``median_dcr_holdout`` (median distance of a synthetic row to its closest training / held-out row;
        for ``"cosine"``, 1 - cosine), ``distance``, ``n_train``, ``n_heldout``, ``n_fake``.

    References
    ----------
    SDMetrics (DataCebo), ``sdmetrics/single_table/privacy/dcr_overfitting_protection.py`` and
    ``dcr_utils.py``.
    """
    T, F, H = _rows64(train, "train"), _rows64(fake, "fake"), _rows64(heldout, "heldout")
    _same_dim(("train", T), ("fake", F), ("heldout", H))
    if distance == "cosine":
        T, F, H = (unit_rows(A).astype(np.float64) for A in (T, F, H))
        # Euclidean distance on unit rows orders pairs as cosine does; reported as 1 - cosine = d^2 / 2
        d_train, d_hold = (nearest_distances(R, F)[0] ** 2 / 2 for R in (T, H))
    elif distance == "sdmetrics":
        d_train, d_hold = sdmetrics_dcr(T, F), sdmetrics_dcr(H, F)
    else:
        raise ValueError(f"distance must be 'cosine' or 'sdmetrics', got {distance!r}")
    p = float(np.mean(d_train < d_hold))
    return {"score": min(2 * (1 - p), 1.0), "closer_to_training": p, "closer_to_holdout": 1 - p,
            "median_dcr_training": float(np.median(d_train)), "median_dcr_holdout": float(np.median(d_hold)),
            "distance": distance, "n_train": len(T), "n_heldout": len(H), "n_fake": len(F)}


def standard_measures_plan(train=None, **_):
    """The steps of :func:`standard_measures` and their seconds (:mod:`synth.progress`), measured inside ``synth
    score`` at n = 5,000 with 10,000 training rows, bundled 384-d rows (2 cores, load 5)."""
    return [("detection", 13.2)] + ([("data-copying", 5.1), ("alpha-precision", 6.0), ("dcr", 1.7)]
                                    if train is not None else [])


@planned(standard_measures_plan)
def standard_measures(heldout, fake, train=None, n=5000, n_cells="auto", max_rows=MAX_ROWS, random_state=0):
    """Every standard measure the given sets allow, on unit rows.

    - ``detection`` (:func:`detection_score`): n held-out rows against n synthetic rows.
    - with ``train``: ``data_copying`` (:func:`data_copying_test`: T = all training rows, k-means fitted on
      at most ``max_rows`` of them, P_n and Q_m the same n held-out and synthetic rows);
      ``alpha_precision`` (:func:`alpha_precision` on the unit rows, ``scaling=None``) and
      ``alpha_precision_synthcity`` (the same with synthcity's min-max scaling), both of m = min(n_train,
      n_fake, max_rows) training rows against as many synthetic rows (synthcity samples both sets down to
      the smaller one; the training rows are the real set, so that authenticity asks "copied?"), and
      ``dcr_overfitting_protection`` (:func:`dcr_overfitting_protection`, cosine distance) of the n synthetic
      rows against min(n_train, max_rows) training rows and at most as many held-out rows. SDMetrics takes
      the sets as given; here the held-out set is cut to the training set's size when it is larger, since
      the larger set would win the nearest-row comparisons by chance. A smaller held-out set is kept whole:
      that biases p up, towards "copies", never down; the training set is never cut below max_rows, since
      copies of left-out training rows would go unseen.

    Parameters
    ----------
    heldout : array-like of shape (n_heldout, n_features)
        Real rows the generator never saw.
    fake : array-like of shape (n_fake, n_features)
    train : array-like of shape (n_train, n_features), optional
    n : int, default=5000
        Held-out and synthetic rows per side (capped by what the sets hold).
    n_cells : int or "auto", default="auto"
        Cells of the data-copying test; "auto": 50 (the paper's MNIST setting) from n = 4,000 on, else one
        per 80 rows (at least 1), so that cells average well over the 20 generated rows tau asks for.
    max_rows : int, default=20000
    random_state : int, numpy.random.Generator or None, default=0
        One generator drives every subsample, k-means and the detection folds.

    Returns
    -------
    dict
        ``n`` and the results of the measures above.
    """
    rng = np.random.default_rng(random_state)
    H, F = unit_rows(heldout, min_rows=2), unit_rows(fake, min_rows=2)
    _same_dim(("heldout", H), ("fake", F))
    n = min(n, len(H), len(F))
    H_n = H[rng.permutation(len(H))[:n]]
    F_n = F[rng.choice(len(F), n, replace=False)]
    stage(f"standard measures: detection score, n = {n:,}", step="detection")
    out = {"n": n, "detection": detection_score(H_n, F_n, random_state=rng)}
    if train is None:
        return out
    T = unit_rows(train, min_rows=2)
    _same_dim(("train", T), ("heldout", H))
    if n_cells == "auto":
        n_cells = min(N_CELLS, max(1, n // ROWS_PER_CELL))
    stage(f"standard measures: data-copying test, {n_cells} cells", step="data-copying")
    out["data_copying"] = data_copying_test(T, H_n, F_n, n_cells=n_cells, random_state=rng,
                                            max_kmeans_rows=max_rows)
    m = min(len(T), len(F), max_rows)
    T_m, F_m = T[rng.choice(len(T), m, replace=False)], F[rng.choice(len(F), m, replace=False)]
    stage(f"standard measures: alpha-precision, beta-recall and authenticity, {m:,} rows", step="alpha-precision")
    out["alpha_precision"] = alpha_precision(T_m, F_m, scaling=None)
    out["alpha_precision_synthcity"] = alpha_precision(T_m, F_m, scaling="minmax")
    r_t = min(len(T), max_rows)
    r_h = min(len(H), r_t)
    stage("standard measures: DCR overfitting protection", step="dcr")
    out["dcr_overfitting_protection"] = dcr_overfitting_protection(
        T[rng.choice(len(T), r_t, replace=False)], F_n, H[rng.choice(len(H), r_h, replace=False)])
    return out
