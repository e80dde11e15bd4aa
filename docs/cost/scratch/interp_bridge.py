"""Bridged fakes whose shape comes from both patches: a fake of patch a bridged a share t towards partner b
gets the deviation sqrt(1 - t) A_a z_a + sqrt(t) A_b z_b (A = V sqrt(L - s2)) and residual noise of variance
(1 - t) s_a^2 + t s_b^2, i.e. the covariance (1 - t) C_a + t C_b along the segment ("mix"); or, "switch", the
whole deviation from b with probability t. Today's bridge ("a") keeps patch a's shape all the way.
Monkeypatches PatchPCA so the noise calibration uses it too. Prints fit-time cost ratios (fakes vs training
rows, as bridge=auto does) and, with NT, the c2st vs held-out.

Research script of docs/cost/README.md (fifth session); not product code.
Usage: python docs/cost/scratch/interp_bridge.py REAL N N_TEST BRIDGE:MODE ..., e.g. bundled 10000 1000 0.75:a 0.75:mix
"""
import sys

import numpy as np
from common import fit_time_args

import synth.models.patch as P
from synth.models.base import normalize
from synth.progress import muted

MODE = {"v": "a"}


def _add(Y, rows_of, labels, weight, factors, rng):
    """Y[r] += weight[r] * z @ factors[labels[r]] for every row, grouped by label."""
    order = np.argsort(labels, kind="stable"); counts = np.bincount(labels, minlength=len(factors)); pos = 0
    for p in np.flatnonzero(counts):
        rows = order[pos:pos + counts[p]]; pos += counts[p]
        z = rng.standard_normal((len(rows), factors.shape[1]), dtype=np.float32)
        Y[rows] += weight[rows, None] * (z @ factors[p])


def _sample_block(self, m, rng):
    factors, sigma = self._factors()
    labels = rng.choice(len(self.weights_), size=m, p=self.weights_)
    j, t = labels, np.zeros(m, np.float32)
    if self.bridge_ > 0:
        j = self._partner(labels, rng.random(m))
        t = rng.uniform(0, self.bridge_, size=m).astype(np.float32)
    mode = MODE["v"]
    if mode == "switch":  # the whole deviation (and noise) from b with probability t
        src = np.where(rng.random(m) < t, j, labels)
        wa, wb = np.ones(m, np.float32), np.zeros(m, np.float32)
    elif mode == "mix":
        src, wa, wb = labels, np.sqrt(1 - t), np.sqrt(t)
    else:
        src, wa, wb = labels, np.ones(m, np.float32), np.zeros(m, np.float32)
    s2 = wa ** 2 * sigma[src] ** 2 + wb ** 2 * sigma[j] ** 2
    Y = rng.standard_normal((m, self.dim_), dtype=np.float32) * np.sqrt(s2)[:, None]
    Y += (1 - t)[:, None] * self.means_[labels] + t[:, None] * self.means_[j]
    _add(Y, None, src, wa, factors, rng)
    if mode == "mix":
        _add(Y, None, j, wb, factors, rng)
    return normalize(Y)


P.PatchPCA._sample_block = _sample_block

name, N, NT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
T, HT, ft = fit_time_args(sys.argv)
for spec in sys.argv[4:]:
    b, mode = spec.split(":")
    MODE["v"] = mode
    with muted():
        m = P.PatchPCA(random_state=0, bridge=float(b)).fit(T)
    line = f"bridge {b} {mode} noise {m.noise_scale_:.3f} patches {m.n_patches_} | " + ft.line(m)
    print(line, flush=True)
