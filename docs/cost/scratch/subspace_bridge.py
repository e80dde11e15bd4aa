"""Bridges that move only within the patch's own principal subspace: m_a + t P_a (m_b - m_a), P_a = V_a V_a^T
(keep = share of the orthogonal part kept). Monkeypatches PatchPCA so the noise calibration uses it too.
Prints fit-time cost ratios (fakes vs training rows, as bridge=auto does) and, with NT, the c2st vs held-out.

Research script of docs/cost/README.md (fourth session); not product code.
Usage: python docs/cost/scratch/subspace_bridge.py REAL N N_TEST BRIDGE:KEEP ..., e.g. bundled 10000 1000 0.75:1 0.75:0
"""
import sys

import numpy as np
from common import fit_time_args

import synth.models.patch as P
from synth.models.base import normalize
from synth.progress import muted

KEEP = {"v": 1.0}
def _sample_block(self, m, rng):
    factors, sigma = self._factors()
    labels = rng.choice(len(self.weights_), size=m, p=self.weights_)
    Y = rng.standard_normal((m, self.dim_), dtype=np.float32) * sigma[labels, None]
    Y += self.means_[labels]
    if self.bridge_ > 0:
        j = self._partner(labels, rng.random(m))
        t = rng.uniform(0, self.bridge_, size=m).astype(np.float32)[:, None]
        D = (self.means_[j] - self.means_[labels]).astype(np.float32)
        V = self.components_[labels].astype(np.float32)            # (m, r, d)
        Dp = np.einsum("mrd,mr->md", V, np.einsum("mrd,md->mr", V, D))
        Y += t * (Dp + KEEP["v"] * (D - Dp))
    order = np.argsort(labels, kind="stable"); counts = np.bincount(labels, minlength=len(self.weights_)); pos = 0
    for p in np.flatnonzero(counts):
        rows = order[pos:pos + counts[p]]; pos += counts[p]
        Y[rows] += rng.standard_normal((len(rows), factors.shape[1]), dtype=np.float32) @ factors[p]
    return normalize(Y)
P.PatchPCA._sample_block = _sample_block

name, N, NT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
T, HT, ft = fit_time_args(sys.argv)
for spec in sys.argv[4:]:
    b, keep = (float(v) for v in spec.split(":"))
    KEEP["v"] = keep
    with muted():
        m = P.PatchPCA(random_state=0, bridge=b).fit(T)
    line = f"bridge {b} keep {keep} noise {m.noise_scale_:.3f} patches {m.n_patches_} | " + ft.line(m)
    print(line, flush=True)
