"""The standard privacy and fidelity measures (synth.metrics.standard_measures): known answers on small data, hand-checked
cases, and the reference implementations where they install (SDMetrics; synthcity pulls torch and CUDA
libraries, so its AlphaPrecision is checked on a case worked by hand instead)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import mannwhitneyu
from sklearn.neighbors import NearestNeighbors

from synth.errors import SynthError
from synth.metrics.standard_measures import (
    alpha_precision,
    data_copying_test,
    dcr_overfitting_protection,
    detection_score,
    sdmetrics_dcr,
    standard_measures,
    u_statistic,
    z_u,
)

ROOT = Path(__file__).resolve().parent.parent


def gaussian_sets(d=8, n_train=2000, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_train, d)), rng.normal(size=(n, d)), rng.normal(size=(n, d)), rng


# --- Mann-Whitney U and Z_U ----------------------------------------------------------------------------------

def test_u_statistic_is_scipys_u_of_the_first_sample_with_ties():
    rng = np.random.default_rng(0)
    for m, n in ((1, 1), (7, 3), (50, 70)):
        a, b = rng.normal(size=m).round(1), rng.normal(size=n).round(1)  # rounding makes ties
        assert u_statistic(a, b) == mannwhitneyu(a, b).statistic


def test_z_u_by_hand():
    # U = 0 (every generated distance below every held-out one), m = n = 2: mean 2 - 1/2, variance 4 * 5 / 12
    assert z_u([0.0, 1.0], [2.0, 3.0]) == pytest.approx(-1.5 / np.sqrt(5 / 3))
    assert z_u([2.0, 3.0], [0.0, 1.0]) == pytest.approx((4 - 1.5) / np.sqrt(5 / 3))
    assert z_u([1.0], [1.0]) == pytest.approx(0.5 / np.sqrt(0.25))  # one tie: U = 1/2


# --- the data-copying test -----------------------------------------------------------------------------------

def test_data_copying_near_zero_for_independent_draws():
    T, P, Q, _ = gaussian_sets()
    r = data_copying_test(T, P, Q, n_cells=10)
    assert abs(r["c_t"]) < 2.5 and abs(r["z_u"]) < 4
    assert r["cells_used"] == 10 and r["heldout_share_used"] == pytest.approx(1)


def test_data_copying_strongly_negative_for_copies_and_positive_for_underfitting():
    T, P, _, rng = gaussian_sets()
    copies = T[rng.choice(len(T), len(P))] + 0.01 * rng.normal(size=P.shape)
    r = data_copying_test(T, P, copies, n_cells=10)
    assert r["c_t"] < -10 and r["z_u"] < -20
    blurred = rng.normal(size=P.shape) * 1.3  # wider than the data: farther from the training rows
    assert data_copying_test(T, P, blurred, n_cells=10)["c_t"] > 3


def test_data_copying_with_one_cell_is_the_reference_global_test():
    """One cell: C_T = Z_U of the reference code (sklearn nearest neighbours, scipy's U, its Z formula)."""
    T, P, Q, rng = gaussian_sets(n_train=500, n=200)
    Q[:50] = T[:50] + 0.001 * rng.normal(size=(50, T.shape[1]))
    nn = NearestNeighbors(n_neighbors=1).fit(T)
    LQ, LP = nn.kneighbors(Q)[0][:, 0], nn.kneighbors(P)[0][:, 0]
    m, n = len(Q), len(P)
    expected = (mannwhitneyu(LQ, LP).statistic - (n * m / 2 - 0.5)) / np.sqrt(n * m * (n + m + 1) / 12)
    r = data_copying_test(T, P, Q, n_cells=1)
    assert r["c_t"] == pytest.approx(expected, rel=1e-12) and r["z_u"] == pytest.approx(expected, rel=1e-12)


def test_data_copying_averages_the_cells_with_more_than_20_fakes_weighted_by_heldout_share():
    T, P, Q, _ = gaussian_sets(n_train=1000, n=400)
    Q = Q[:220]  # few generated rows: some of the 10 cells hold 20 or fewer
    r = data_copying_test(T, P, Q, n_cells=10)
    used = [i for i, c in enumerate(r["cell_fake"]) if c > 20]
    assert [i for i, z in enumerate(r["cell_z"]) if z is not None] == used and 0 < len(used) < 10
    w = np.array(r["cell_heldout"])[used] / len(P)
    assert r["c_t"] == pytest.approx(np.dot(w, [r["cell_z"][i] for i in used]) / w.sum())
    assert r["tau"] == pytest.approx(20 / 220) and r["heldout_share_used"] == pytest.approx(w.sum())


# --- alpha-precision, beta-recall, authenticity ----------------------------------------------------------------

def test_alpha_precision_worked_by_hand():
    """1-D: real 0, 1, 3, 6 and synthetic 3.3, 0.2, 12, 1 (min-max scaled by the real range 6).

    Real distances to the real mean 5/12 are 5/12, 1/4, 1/12, 7/12, evenly spaced, so the alpha-quantile is
    1/12 + alpha/2; synthetic distances 2/15, 23/60, 19/12, 1/4 fall inside from alpha = 0.1, 1/3, 0.6, never.
    Every real row's nearest synthetic row is nearer than its nearest real neighbour; those synthetic rows
    lie 0.654, 0.521, 0.1375, 0.1375 from the synthetic mean 0.6875, so the recall curve is 1/2, 3/4 from
    alpha = 2/3, 1 at alpha = 1. Authenticity (synthcity's indexing): real 6 has nearest synthetic row 0
    (3.3, distance 0.45 scaled), and real row 0's neighbour distance 1/6 is smaller: 1 of 4.
    """
    real = np.array([[0.0], [1.0], [3.0], [6.0]])
    fake = np.array([[3.3], [0.2], [12.0], [1.0]])
    k = np.arange(30)
    alphas = k / 29
    precision = 0.25 * ((k >= 3).astype(float) + (k >= 10) + (k >= 18))
    recall = 0.5 + 0.25 * (k >= 20) + 0.25 * (k == 29)
    r = alpha_precision(real, fake)
    assert r["precision_curve"] == pytest.approx(precision.tolist())
    assert r["recall_curve"] == pytest.approx(recall.tolist())
    assert r["alpha_precision"] == pytest.approx(1 - np.abs(alphas - precision).sum() / 15)
    assert r["beta_recall"] == pytest.approx(1 - np.abs(alphas - recall).sum() / 15)
    assert r["authenticity"] == 0.25


def test_alpha_precision_near_one_for_the_real_distribution_and_zero_for_shifted_data():
    T, _, Q, rng = gaussian_sets(n_train=1000)
    same = alpha_precision(T, Q)
    assert same["alpha_precision"] > 0.9 and 0.4 < same["authenticity"] < 0.6
    shifted = alpha_precision(T, Q + 4)
    assert shifted["alpha_precision"] < 0.05 and shifted["beta_recall"] < 0.05 and shifted["authenticity"] > 0.95
    copied = alpha_precision(T, T[rng.permutation(len(T))] + 1e-4 * rng.normal(size=T.shape))
    assert copied["authenticity"] < 0.01 and copied["alpha_precision"] > 0.9


def test_alpha_precision_needs_equal_sizes():
    with pytest.raises(SynthError, match="as many synthetic rows"):
        alpha_precision(np.zeros((5, 2)) + np.arange(5)[:, None], np.ones((4, 2)))


# --- SDMetrics: detection and DCR overfitting protection ------------------------------------------------------

def test_detection_near_one_for_same_distribution_and_low_when_separable():
    _, P, Q, _ = gaussian_sets(n=600)
    assert detection_score(P, Q)["score"] > 0.8
    far = detection_score(P, Q + 1.5)
    assert far["score"] < 0.1 and far["auc"] > 0.95 and len(far["fold_auc"]) == 3


def test_sdmetrics_dcr_distance_by_hand():
    ref = np.array([[0.0, 0.0], [2.0, 4.0]])  # column ranges 2 and 4
    assert sdmetrics_dcr(ref, [[1.0, 1.0], [5.0, 0.0]]) == pytest.approx([0.375, 0.5])  # |5-0|/2 capped at 1
    flat = np.array([[0.0, 7.0], [2.0, 7.0]])  # a constant column counts 0 where equal, 1 where not
    assert sdmetrics_dcr(flat, [[1.0, 7.0], [1.0, 8.0]]) == pytest.approx([0.25, 0.75])


def test_dcr_overfitting_protection_one_for_independent_draws_zero_for_copies():
    T, P, Q, rng = gaussian_sets(n_train=1000)
    assert dcr_overfitting_protection(T, Q, P)["score"] > 0.9
    copies = T[rng.choice(1000, 500)] + 0.01 * rng.normal(size=(500, T.shape[1]))
    for distance in ("cosine", "sdmetrics"):
        r = dcr_overfitting_protection(T, copies[:200], P, distance=distance)
        assert r["closer_to_training"] == 1.0 and r["score"] == 0.0
    with pytest.raises(ValueError, match="distance"):
        dcr_overfitting_protection(T, Q, P, distance="l1")


def _frames(*arrays):
    pd = pytest.importorskip("pandas")
    cols = [f"c{i}" for i in range(arrays[0].shape[1])]
    return [pd.DataFrame(A, columns=cols) for A in arrays], {"columns": {c: {"sdtype": "numerical"} for c in cols}}


def test_detection_equals_sdmetrics_logistic_detection():
    sdm = pytest.importorskip("sdmetrics.single_table")
    rng = np.random.default_rng(1)
    R, F = rng.normal(size=(120, 6)), rng.normal(size=(90, 6)) + 0.3
    (r, f), _ = _frames(R, F)
    for seed in (0, 7):
        np.random.seed(seed)  # SDMetrics shuffles its folds with numpy's global generator
        assert detection_score(R, F, random_state=seed)["score"] == pytest.approx(
            sdm.LogisticDetection.compute(r, f), abs=1e-12)


def test_dcr_overfitting_protection_equals_sdmetrics():
    sdm = pytest.importorskip("sdmetrics.single_table")
    from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

    rng = np.random.default_rng(2)
    T, H = rng.normal(size=(80, 5)), rng.normal(size=(70, 5))
    S = np.vstack([T[:20] + 0.01, rng.normal(size=(40, 5)) * 1.5])  # some rows out of the reference ranges
    (t, s, h), meta = _frames(T, S, H)
    assert sdmetrics_dcr(T, S) == pytest.approx(calculate_dcr(s, t, meta).to_numpy(), abs=1e-12)
    ref = sdm.DCROverfittingProtection.compute_breakdown(t, s, h, meta, None)
    mine = dcr_overfitting_protection(T, S, H, distance="sdmetrics")
    assert mine["score"] == pytest.approx(ref["score"], abs=1e-12)
    assert mine["closer_to_training"] == pytest.approx(ref["synthetic_data_percentages"]["closer_to_training"])


# --- all of them, on real embeddings ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundled_split():
    from synth.bundled import load_real

    X = load_real("bundled")
    p = np.random.default_rng(0).permutation(len(X))
    return X[p[:1000]], X[p[1000:2500]], X[p[2500:3100]]  # train, held-out (no smaller than train), independent


def test_standard_measures_tell_copies_from_independent_real_rows(bundled_split):
    train, heldout, independent = bundled_split
    rng = np.random.default_rng(3)
    copies = train[rng.permutation(len(train))] + rng.normal(scale=0.005, size=train.shape)  # each row, once
    real = standard_measures(heldout, independent, train=train, n=600, n_cells=10)
    copy = standard_measures(heldout, copies, train=train, n=600, n_cells=10)
    # about 60 rows per cell: |Z_U| of a cell cannot exceed 9.4, reached when every copy is nearer than every real row
    assert abs(real["data_copying"]["c_t"]) < 3 and copy["data_copying"]["c_t"] < -8
    assert real["dcr_overfitting_protection"]["score"] > 0.85 and copy["dcr_overfitting_protection"]["score"] < 0.05
    assert real["alpha_precision"]["authenticity"] > 0.4 and copy["alpha_precision"]["authenticity"] < 0.05
    # synthcity's min-max scaling: 3 coordinates are 0 in every real row, so the noise there makes copies "authentic"
    assert copy["alpha_precision_synthcity"]["authenticity"] > 0.9
    assert real["detection"]["score"] > 0.7
    assert set(standard_measures(heldout, copies, n=300)) == {"n", "detection"}  # no train: detection only


def test_score_reports_the_standard_measures_and_the_cli_prints_them(bundled_split, tmp_path):
    from click.testing import CliRunner

    from synth.cli import main
    from synth.metrics.twosample import score
    from synth.report import format_score

    train, heldout, independent = bundled_split
    r = score(heldout, independent, train=train, n=300, n_permutations=10, standard=True)
    assert set(r["standard"]) == {"n", "detection", "data_copying", "alpha_precision", "alpha_precision_synthcity",
                                  "dcr_overfitting_protection"}
    text = format_score(r)
    assert "| data-copying test C_T (Meehan et al. 2020) |" in text and "| detection score" in text
    for name, A in (("train", train), ("heldout", heldout), ("fake", independent)):
        np.save(tmp_path / f"{name}.npy", A)
    args = ["score", str(tmp_path / "heldout.npy"), str(tmp_path / "fake.npy"), "--n", "300", "--permutations", "5",
            "--json", "-q"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert set(json.loads(out.output)["standard"]) == {"n", "detection"}
    out = CliRunner().invoke(main, [*args, "--train", str(tmp_path / "train.npy"), "--no-standard"])
    assert out.exit_code == 0 and "standard" not in json.loads(out.output)


def test_card_shows_the_standard_measures():
    from synth.publish.card import fidelity_text, privacy_text
    from synth.report import standard_table

    std = {"n": 500, "detection": {"score": 0.91, "auc": 0.545},
           "data_copying": {"c_t": -4.2, "z_u": -12.0, "cells_used": 48, "n_cells": 50},
           "alpha_precision": {"alpha_precision": 0.97, "beta_recall": 0.41, "authenticity": 0.52},
           "dcr_overfitting_protection": {"score": 0.6, "closer_to_training": 0.7, "distance": "cosine"}}
    assert standard_table({"n": 5}) == []
    stats = {key: 1.0 for key in ("twonn_id", "isoscore", "participation_ratio", "anisotropy", "nn_cosine")}
    s = {"k": 10, "n": 500, "c2st": 0.4, "c2st_real": 0.4, "c2st_fake": 0.4, "ceiling": 0.5, "ceiling_n": 500,
         "p_value": 0.01, "stats": {"real": stats, "fake": stats}, "standard": std,
         "dcr": {"fake_median": 0.6, "heldout_median": 0.6, "threshold": 0.8, "memorization_rate": 0.05}}
    result = {"audit": {"score": s, "hnsw": None, "membership": None, "min_points_per_patch": 20},
              "privacy": {"check": "passed", "max_memorization_rate": 0.06, "max_median_gap": 0.01},
              "model": {"params": {"min_points": 20}}}
    fidelity, privacy = fidelity_text(result), privacy_text(result)
    assert "| detection score (SDMetrics LogisticDetection) | 0.910 (AUC 0.545) |" in fidelity
    assert "| beta-recall (Alaa et al. 2022; synthcity's estimator, unit rows) | 0.410 |" in fidelity
    assert "C_T" not in fidelity and "detection" not in privacy
    assert "| data-copying test C_T (Meehan et al. 2020) | -4.20 over 48 of 50 cells (global Z_U -12.0) |" in privacy
    assert "| authenticity (Alaa et al. 2022; synthcity's estimator, unit rows) | 0.520 |" in privacy


# --- the measured table of docs/privacy.md -----------------------------------------------------------------------

def test_privacy_page_standard_measures_table_is_the_committed_board():
    from bench.standard import markdown

    result = json.loads((ROOT / "docs" / "privacy" / "standard" / "standard-measures.json").read_text())
    board = markdown(result)
    assert (ROOT / "docs" / "privacy" / "standard" / "standard-measures.md").read_text() == board
    table = board.split("\n\n")[1].strip()
    assert table in (ROOT / "docs" / "privacy.md").read_text()
    assert re.search(r"\| train copies \| -\d", table)  # copies of the training rows: C_T far below 0


@pytest.mark.slow
def test_board_runs_small(tmp_path):
    from bench.standard import board, write_outputs
    from synth.bundled import load_real

    result = board(load_real("bundled")[:3000], n_train=1000, n=400, source="bundled[:3000]")
    assert list(result["rows"]) == ["real (independent)", "default", "copying", "train copies"]
    copies = result["rows"]["train copies"]["standard"]
    assert copies["data_copying"]["c_t"] < -5 and copies["dcr_overfitting_protection"]["score"] < 0.1
    paths = write_outputs(result, tmp_path / "out")
    assert all(p.exists() for p in paths)
