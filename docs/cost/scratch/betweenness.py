"""Between-ness of held-out real vs fakes, in the full model and in the calibration sub-model, per bridge amount.

Research script of docs/cost/README.md (fourth session); not product code.
Usage: python docs/cost/scratch/betweenness.py REAL N [N_TEST], e.g. minilm-wordnet-all 100000 10000
"""
import sys

import numpy as np
from common import shuffled

from synth.metrics.twosample import knn_two_sample
from synth.models.patch import PatchPCA, calibrate_noise_scale, calibration_split
from synth.progress import muted

name = sys.argv[1]; N = int(sys.argv[2]); grid = [0, 0.25, 0.5, 0.75, 1.0]
X = shuffled(name)
T, H = X[:N], X[N:N + 5000]
NT = int(sys.argv[3]) if len(sys.argv) > 3 else 0
HT = X[N:N + NT]
def pos(m, P):
    C = m.means_ / np.linalg.norm(m.means_, axis=1, keepdims=True)
    S = P @ C.T; top = np.argpartition(-S, 2, axis=1)[:, :2]
    s2 = np.take_along_axis(S, top, 1); srt = np.argsort(-s2, axis=1)
    top = np.take_along_axis(top, srt, 1); a, c = top[:, 0], top[:, 1]
    d = m.means_[c] - m.means_[a]
    t = np.einsum("ij,ij->i", P - m.means_[a], d) / np.einsum("ij,ij->i", d, d)
    gap = S[np.arange(len(P)), a] - S[np.arange(len(P)), c]
    return np.median(t), np.median(gap)
with muted():
    full = PatchPCA(random_state=0, bridge=1.0).fit(T)
params = {k: getattr(full, k) for k in ("rank", "min_points", "n_iter")}
params["n_patches"] = full.n_patches_
split = calibration_split(T, {**params, "bridge": 1.0}, 0)
sub, B = split
print(f"N {N} patches full {full.n_patches_} sub {sub.n_patches_} |B| {len(B)}")
print("held-out vs full: t %.3f gap %.4f" % pos(full, H), " | B vs sub: t %.3f gap %.4f" % pos(sub, B),
      " | train vs full: t %.3f gap %.4f" % pos(full, T[:5000]))
for b in grid:
    sub.bridge_ = b
    with muted():
        sc = calibrate_noise_scale(T, {**params}, 0, split=split)[0]
    sub.noise_scale_, sub._cache = sc, None
    full.bridge_, full.noise_scale_, full._cache = b, sc, None
    SF = sub.sample(len(B), random_state=1)
    ts = knn_two_sample(B, SF, k=10, n_permutations=0)
    line = f"bridge {b:.2f} noise {sc:.3f}  full fakes t %.3f gap %.4f" % pos(full, full.sample(5000, random_state=1)) + \
        " | sub fakes t %.3f gap %.4f" % pos(sub, SF) + f" | sub c2st {ts['c2st_real']:.3f}/{ts['c2st_fake']:.3f}"
    if NT:
        tf = knn_two_sample(HT, full.sample(NT, random_state=2), k=10, n_permutations=0)
        line += f" | FULL c2st n={NT}: {tf['c2st']:.3f} real {tf['c2st_real']:.3f} fake {tf['c2st_fake']:.3f}"
    print(line, flush=True)
