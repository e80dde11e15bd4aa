"""A copy-safe calibration at a fifth (not in the product): fit as today (noise calibrated on a 1/2 test, the copy
guard choosing the patch count), then take the scale a test at a fifth of the sub-model picks (CALIBRATION_TEST
patched to max(n_fit / 5, 500), as n5_small_fits.py) only if the fit-time copy check (synth.models.patch.copy_check,
training rows only) still passes at it; else keep today's scale. Prints both scales, the check, and the k-NN test
at n = N/5 (N/5 fakes, seed 1, against N/5 held-out rows, at most 10,000) with synth.metrics' memorization check.

Usage: PYTHONPATH=. python docs/fidelity/scratch/n5_guarded.py REAL N[:RANK] ... (e.g. minilm-word-table 10000)
Rows: the seed-0 order of the set; training rows 0..N-1, held-out rows after them.
"""
import sys

import faiss
import numpy as np

import synth.models.patch as patch
from synth.bundled import load_real
from synth.metrics.twosample import knn_two_sample, memorization
from synth.models import PatchPCA

faiss.omp_set_num_threads(1)
X = load_real(sys.argv[1]).astype(np.float32)
X /= np.linalg.norm(X, axis=1, keepdims=True)
X = X[np.random.default_rng(0).permutation(len(X))]
for spec in sys.argv[2:]:
    N, rank = (int(v) for v in (spec.split(":") + ["40"])[:2])
    n = min(N // 5, 10000)
    T, H = X[:N], X[N:N + n]
    model = PatchPCA(random_state=0, rank=rank).fit(T)
    today = model.noise_scale_
    params = {k: getattr(model, k) for k in ("rank", "min_points", "n_iter", "bridge", "softness", "group_size")}
    params["n_patches"] = model.copy_check_[-1]["n_patches"]
    n_fit = min(N // 2, patch.CALIBRATION_FIT)
    patch.CALIBRATION_TEST = min(5000, max(n_fit // 5, patch.CALIBRATION_MIN_TEST))
    fifth = patch.calibrate_noise_scale(T, params, 0)[0]
    patch.CALIBRATION_TEST = 5000
    model.noise_scale_, model._cache = fifth, None
    check = patch.copy_check(model, T, 0)
    chosen = today if check["copies"] else fifth
    print(f"{sys.argv[1]} N {N} rank {rank}: {model.n_patches_} patches; noise today {today:.3f}, at 1/5 {fifth:.3f} "
          f"(copy check there: {check['check']}); chosen {chosen:.3f}", flush=True)
    for label, a in (("today", today), ("guarded", chosen)):
        model.noise_scale_, model._cache = a, None
        F = model.sample(n, random_state=1)
        r = knn_two_sample(H, F, k=10, n_permutations=0)
        m = memorization(T, F, H)
        print(f"  {label:>7} noise {a:.3f}, n = {n}: c2st {r['c2st']:.3f} (real {r['c2st_real']:.3f} / fake "
              f"{r['c2st_fake']:.3f}); memorization rate {m['memorization_rate']:.3f}, NN-train cos fake "
              f"{m['fake_median']:.3f} / held-out {m['heldout_median']:.3f}", flush=True)
