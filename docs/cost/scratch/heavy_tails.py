"""Heavy-tailed patches: z and the residual scaled per point by a t radius (unit variance).

Research script of docs/cost/README.md (fourth session); not product code.
Usage: python docs/cost/scratch/heavy_tails.py REAL default nu=5 nu=3 nu=5,noise=0.5/0.7
"""
import sys

import numpy as np
from common import split

from synth.metrics.searchcost import cost_ratio, search_cost
from synth.metrics.twosample import knn_two_sample
from synth.models.base import normalize
from synth.models.patch import PatchPCA
from synth.progress import muted


class TailPCA(PatchPCA):
    nu = 0.0
    def _sample_block(self, m, rng):
        if not self.nu:
            return super()._sample_block(m, rng)
        factors, sigma = self._factors()
        labels = rng.choice(len(self.weights_), size=m, p=self.weights_)
        nu = self.nu
        s = np.sqrt((nu - 2) / rng.chisquare(nu, size=m)).astype(np.float32)  # E s^2 = 1
        Y = rng.standard_normal((m, self.dim_), dtype=np.float32) * sigma[labels, None]
        bridge = self.bridge_
        if bridge > 0:
            j = self._partner(labels, rng.random(m))
            t = rng.uniform(0, bridge, size=m).astype(np.float32)[:, None]
            M = (1 - t) * self.means_[labels] + t * self.means_[j]
        else:
            M = self.means_[labels]
        for p in np.unique(labels):
            rows = np.flatnonzero(labels == p)
            z = rng.standard_normal((len(rows), factors.shape[1]), dtype=np.float32)
            Y[rows] += z @ factors[p]
        return normalize(M + s[:, None] * Y)

T, B, Q = split(sys.argv[1])
n = len(B)
real = search_cost(B, Q)
print("real", real, flush=True)
for spec in sys.argv[2:]:
    kw = dict(p.split("=") for p in spec.split(",")) if spec != "default" else {}
    nu = float(kw.pop("nu", 0)); noise = kw.pop("noise", None)
    with muted():
        m = TailPCA(random_state=0, **{k: float(v) for k, v in kw.items()}).fit(T)
    m.nu = nu
    scales = [m.noise_scale_] if noise is None else [float(v) for v in noise.split("/")]
    for sc in scales:
        m.noise_scale_, m._cache = sc, None
        F = m.sample(n + len(Q), random_state=1)
        r = cost_ratio(search_cost(F[:n], F[n:]), real)
        t = knn_two_sample(B[:1000], F[:1000], k=10, n_permutations=0)
        print(f"{spec:28s} noise {sc:.3f} ivf {r['ivf']:.2f} hnsw {r['hnsw']:.2f} c2st {t['c2st']:.3f} real {t['c2st_real']:.3f} fake {t['c2st_fake']:.3f}", flush=True)
