"""Facets: a residual direction shared across patches. Cross-fitted: a default model on half A of the
training rows; the residuals of half B's rows (row minus its A-patch mean, outside that patch's principal
directions) are cut by spherical k-means into K2 facets (groups of >= 20 rows); facet vector f_c = the
group's mean residual. A fake of the full default model gets + GAMMA f_c, with c drawn from P(c) (mode
"ind") or from P(c | patch) estimated on B ("joint", patch of the full model). First prints how much of the
residual energy the facet means explain, for the real residuals and for a Gaussian with their covariance.

Research script of docs/cost/README.md (fifth session); not product code.
Usage: python docs/cost/scratch/facets.py REAL N N_TEST K2 GAMMA:MODE ..., e.g. bundled 10000 1000 50 1:ind
"""
import sys

import numpy as np
from common import fit_time_args

from synth.models.base import normalize
from synth.models.patch import PatchPCA, copy_check, nearest, spherical_kmeans
from synth.progress import muted


def residuals(model, X):
    lab = nearest(X, model.means_ / np.linalg.norm(model.means_, axis=1, keepdims=True))
    D = X - model.means_[lab]
    V = model.components_[lab].astype(np.float32)
    return D - np.einsum("mrd,mr->md", V, np.einsum("mrd,md->mr", V, D)), lab


def facet_groups(R, K2, seed=0, min_points=20):
    U = normalize(R.copy())
    c = spherical_kmeans(U, K2, 25, seed)
    while True:
        g = nearest(U, c); cnt = np.bincount(g, minlength=len(c))
        if cnt.min() >= min_points:
            break
        c = np.delete(c, np.argmin(cnt), axis=0)
    return g, np.stack([R[g == i].mean(0) for i in range(len(c))])


def explained(R, g, F):
    return 1 - ((R - F[g]) ** 2).sum() / (R ** 2).sum()


name, N, NT, K2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
T, HT, ft = fit_time_args(sys.argv)
with muted():
    half = PatchPCA(random_state=0).fit(T[:N // 2])
    full = PatchPCA(random_state=0).fit(T)
R, _ = residuals(half, T[N // 2:])
g, F = facet_groups(R, K2)
rng = np.random.default_rng(0)
C = np.cov(R, rowvar=False); G = rng.multivariate_normal(np.zeros(len(C)), C, size=len(R)).astype(np.float32)
gg, FG = facet_groups(G, K2)
print(f"residual sq norm {np.mean((R ** 2).sum(1)):.3f}; {len(F)} facets explain {explained(R, g, F):.3f} of it "
      f"(Gaussian twin: {explained(G, gg, FG):.3f}); facet norm^2 median {np.median((F ** 2).sum(1)):.4f}", flush=True)
_, labB = residuals(full, T[N // 2:])
joint = np.ones((full.n_patches_, len(F))) * 0.5
np.add.at(joint, (labB, g), 1.0)
joint /= joint.sum(1, keepdims=True)
pc = np.bincount(g, minlength=len(F)) / len(g)



class Faceted:
    def __init__(self, gamma, mode): self.gamma, self.mode = gamma, mode
    def sample(self, m, random_state=0):
        Y = full.sample(m, random_state=random_state)
        rng = np.random.default_rng(random_state + 1000)
        if self.mode == "joint":
            lab = nearest(Y, full.means_ / np.linalg.norm(full.means_, axis=1, keepdims=True))
            u = rng.random(m)[:, None]; c = (np.cumsum(joint[lab], axis=1) < u).sum(1)
        else:
            c = rng.choice(len(F), size=m, p=pc)
        return normalize(Y + self.gamma * F[np.minimum(c, len(F) - 1)])


for spec in ["0:ind"] + sys.argv[5:]:
    gm, mode = spec.split(":")
    m = Faceted(float(gm), mode)
    cc = copy_check(m, T, 0)
    print(f"gamma {gm} {mode} | {ft.line(m)} | copy rate {cc['memorization_rate']:.3f}", flush=True)
