"""A global smooth random displacement field (random Fourier features) added to the fakes' pre-noise points.

Research script of docs/cost/README.md (fourth session); not product code.
Usage: python docs/cost/scratch/smooth_field.py REAL amp=0 amp=0.3,ell=0.5 amp=0.5,ell=1,nf=0.7
"""
import sys

import numpy as np
from common import split

from synth.metrics.searchcost import cost_ratio, search_cost
from synth.metrics.twosample import knn_two_sample
from synth.models.base import normalize
from synth.models.patch import PatchPCA
from synth.progress import muted


class FieldPCA(PatchPCA):
    amp = 0.0; ell = 0.5; K = 512; fseed = 7
    def _field(self):
        if getattr(self, "_fld", None) is None:
            r = np.random.default_rng(self.fseed); d = self.dim_
            W = (r.standard_normal((self.K, d)) / self.ell).astype(np.float32)
            b = r.uniform(0, 2 * np.pi, self.K).astype(np.float32)
            G = (r.standard_normal((self.K, d)) * self.amp / np.sqrt(d) * np.sqrt(2 / self.K)).astype(np.float32)
            self._fld = (W, b, G)
        return self._fld
    def _sample_block(self, m, rng):
        factors, sigma = self._factors()
        labels = rng.choice(len(self.weights_), size=m, p=self.weights_)
        N = rng.standard_normal((m, self.dim_), dtype=np.float32) * sigma[labels, None]
        X0 = self.means_[labels].astype(np.float32).copy()
        if self.bridge_ > 0:
            j = self._partner(labels, rng.random(m))
            t = rng.uniform(0, self.bridge_, size=m).astype(np.float32)[:, None]
            X0 = (1 - t) * X0 + t * self.means_[j]
        for p in np.unique(labels):
            rows = np.flatnonzero(labels == p)
            X0[rows] += rng.standard_normal((len(rows), factors.shape[1]), dtype=np.float32) @ factors[p]
        if self.amp:
            W, b, G = self._field()
            X0 = X0 + np.cos(normalize(X0) @ W.T + b) @ G
        return normalize(X0 + N)

T, B, Q = split(sys.argv[1])
n = len(B)
real = search_cost(B, Q)
print("real", real, flush=True)
models = {}
for spec in sys.argv[2:]:
    kw = dict(p.split("=") for p in spec.split(","))
    fit = {k: float(kw.pop(k)) for k in list(kw) if k in ("bridge",)}
    key = tuple(sorted(fit.items()))
    if key not in models:
        with muted():
            models[key] = FieldPCA(random_state=0, **fit).fit(T)
    m = models[key]
    base_noise = m.noise_scale_ if not hasattr(m, "_base_noise") else m._base_noise
    m._base_noise = base_noise
    m.amp = float(kw.get("amp", 0)); m.ell = float(kw.get("ell", 0.5)); m._fld = None
    m.noise_scale_ = base_noise * float(kw.get("nf", 1)); m._cache = None
    F = m.sample(n + len(Q), random_state=1)
    r = cost_ratio(search_cost(F[:n], F[n:]), real)
    t = knn_two_sample(B[:1000], F[:1000], k=10, n_permutations=0)
    print(f"{spec:32s} noise {m.noise_scale_:.3f} ivf {r['ivf']:.2f} hnsw {r['hnsw']:.2f} c2st {t['c2st']:.3f} real {t['c2st_real']:.3f} fake {t['c2st_fake']:.3f}", flush=True)
