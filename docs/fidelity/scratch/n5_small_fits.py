"""What a noise calibration tested at a fifth of its sub-model would do to small default fits, against the
product's (a sub-model of min(N/2, 10,000) rows tested on min(N - n_fit, 5,000) others). The fifth is had by
patching CALIBRATION_TEST to max(n_fit / 5, 500): the same split as the CALIBRATION_RATIO = 5 of commit 7d175fd
(branch fifth, reverted). For each training size N: the fit's patch count and the copy guard's tries, the noise
scale, the k-NN test at n = N/5 (N/5 fakes, seed 1, against N/5 held-out rows) and synth.metrics' memorization
check (rate; median nearest-training cosine of fakes / held-out rows).

Usage: PYTHONPATH=. python docs/fidelity/scratch/n5_small_fits.py REAL N ... (e.g. minilm-word-table 2500 5000 10000)
Rows: the seed-0 order of the set; training rows 0..N-1, held-out rows N..N+N/5-1.
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
for N in (int(v) for v in sys.argv[2:]):
    n = N // 5
    T, H = X[:N], X[N:N + n]
    for ratio in (1, 5):
        n_fit = min(N // 2, patch.CALIBRATION_FIT)
        patch.CALIBRATION_TEST = 5000 if ratio == 1 else min(5000, max(n_fit // 5, patch.CALIBRATION_MIN_TEST))
        model = PatchPCA(random_state=0).fit(T)
        F = model.sample(n, random_state=1)
        r = knn_two_sample(H, F, k=10, n_permutations=0)
        m = memorization(T, F, H)
        cal = model.calibration_ or {}
        print(f"N {N} test 1/{ratio} (sub-model {cal.get('n_fit')}, test {cal.get('n_test')}): "
              f"{model.n_patches_} patches (tried {[c['n_patches'] for c in model.copy_check_ or []]}), noise "
              f"{model.noise_scale_:.3f}; n = {n}: c2st {r['c2st']:.3f} (real {r['c2st_real']:.3f} / fake "
              f"{r['c2st_fake']:.3f}); memorization rate {m['memorization_rate']:.3f}, NN-train cos fake "
              f"{m['fake_median']:.3f} / held-out {m['heldout_median']:.3f}", flush=True)
