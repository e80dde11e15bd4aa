"""Would 8-bit directions cost fidelity? A fit on N = 50,000 minilm-wordnet-all rows with 782 patches (no 16 MB
cap) and the noise calibrated at n / N = 1/5 (as the last row of n5_target.py), its float16 directions then
rounded to int8 with one scale per direction (max |entry| / 127) and back, c2st at n = 10,000 against held-out
rows for both. The noise scale is the same for both (calibrated once, on the float16 model).

Usage: python docs/fidelity/scratch/int8_directions.py
"""
import numpy as np
from common import wordnet_split

import synth.models.patch as patch
from synth.metrics.twosample import knn_two_sample, memorization
from synth.models import PatchPCA

N, n = 50000, 10000
T, H = wordnet_split(N, n)
patch.CALIBRATION_FIT, patch.CALIBRATION_TEST = 10000, 2000
model = PatchPCA(random_state=0, max_mb=64).fit(T)


def line(label):
    F = model.sample(n, random_state=1)
    r = knn_two_sample(H, F, k=10, n_permutations=0)
    m = memorization(T, F, H)
    print(f"{label}: c2st {r['c2st']:.3f} (real {r['c2st_real']:.3f} / fake {r['c2st_fake']:.3f}); memorization "
          f"rate {m['memorization_rate']:.3f}, NN-train cos fake {m['fake_median']:.3f} / held-out "
          f"{m['heldout_median']:.3f}", flush=True)


line(f"float16 directions, {model.n_patches_} patches, noise {model.noise_scale_:.3f}")
V = model.components_.astype(np.float32)
scale = np.abs(V).max(axis=2, keepdims=True) / 127
q = np.round(V / np.where(scale > 0, scale, 1)).astype(np.int8)
back = (q.astype(np.float32) * scale)
err = np.linalg.norm(back - V, axis=2)[np.linalg.norm(V, axis=2) > 0]
print(f"int8 round trip: direction error norm median {np.median(err):.4f}, max {err.max():.4f}")
model.components_, model._cache = back.astype(np.float16), None
line("int8 directions")
