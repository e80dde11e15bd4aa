"""Do the fakes lack real's hard queries because every patch has the same noise level? Per-patch noise
multipliers fitted so that each patch's fake queries have the relative contrast its real (training) queries
have, then the query-band board (bench.querybands) and the two-sample test.

Usage: python docs/cost/scratch/patch_hardness.py SET N n ITERATIONS GAMMA
(e.g. minilm-wordnet-all 10000 30000 4 3). Fit-time protocol on the N training rows alone: 3,000 of them are
queries against a base of the other 7,000 (relative contrast at k = 10, mean distance over the base); each
query belongs to the patch of the nearest mean. Fakes: a base of 7,000 and 6,000 queries, the same rule. Per
patch (at least 5 real queries; else the median over all), multiplier *= (fake median RC / real median RC) **
GAMMA, clipped to [0.25, 4]; the patch's residual noise sigma_j is scaled by it. Then the board on the rows
after the first N (all held out), 500 queries per band, and the c2st at n = 1,000 (held-out rows vs fakes).
"""
import sys

import numpy as np
from common import band_line, shuffled

from bench.querybands import band_board
from synth.metrics.hardness import relative_contrast
from synth.metrics.neighbors import knn
from synth.metrics.twosample import knn_two_sample
from synth.models import PatchPCA


def rc_by_patch(base, queries, means, k=10):
    sims, _ = knn(base, queries, k=k)
    rc = relative_contrast(base, queries, sims, k)
    return rc, np.argmax(queries @ means.T, axis=1)


def per_patch(rc, labels, K, fallback, least=5):
    out = np.full(K, fallback)
    for j in range(K):
        v = rc[labels == j]
        if len(v) >= least:
            out[j] = np.median(v)
    return out


def main(name, N, n, iterations, gamma):
    X = shuffled(name)
    T, H = X[:N], X[N:N + 1000]
    model = PatchPCA(random_state=0).fit(T)
    means = model.means_.astype(np.float32)
    K = len(means)
    rc_r, lab_r = rc_by_patch(T[3000:], T[:3000], means)
    target = per_patch(rc_r, lab_r, K, np.median(rc_r))
    factors, sigma = model._factors()
    mult = np.ones(K, np.float32)
    for it in range(iterations + 1):
        model._cache = (factors, sigma * mult)
        F = model.sample(13000, random_state=1 + it)
        rc_f, lab_f = rc_by_patch(F[:7000], F[7000:], means)
        got = per_patch(rc_f, lab_f, K, np.median(rc_f))
        has = np.bincount(lab_r, minlength=K) >= 5
        err = np.log(got[has]) - np.log(target[has])
        print(f"iteration {it}: RC median real {np.median(rc_r):.3f} fake {np.median(rc_f):.3f}; p10 / p90 real "
              f"{np.percentile(rc_r, 10):.3f} / {np.percentile(rc_r, 90):.3f} fake {np.percentile(rc_f, 10):.3f} / "
              f"{np.percentile(rc_f, 90):.3f}; per-patch log error rms {np.sqrt(np.mean(err ** 2)):.4f}; "
              f"multiplier p10 / p50 / p90 {np.percentile(mult, 10):.2f} / {np.median(mult):.2f} / "
              f"{np.percentile(mult, 90):.2f}", flush=True)
        if it < iterations:
            mult = np.clip(mult * (got / target) ** gamma, 0.25, 4).astype(np.float32)
    t = knn_two_sample(H, model.sample(1000, random_state=2), k=10, n_permutations=0)
    print(f"c2st n=1000: {t['c2st']:.3f} real {t['c2st_real']:.3f} fake {t['c2st_fake']:.3f}", flush=True)
    r = band_board(X[N:], model=model, n=n, n_queries=500, random_state=0, verbose=False, all_heldout=True)
    print(band_line(f"{name} per-patch noise, {iterations} iterations, gamma {gamma}", r), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
