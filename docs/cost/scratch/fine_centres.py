"""Fine centres: the default patches give the covariance shape, groups of about G training rows give the
locations. Each patch's rows are cut by spherical k-means into n_a // G groups of at least min_points rows
(smaller groups are dropped and their rows reassigned); a fake is drawn from a group, weight = its row count,
as c_g + A_a z + s_a e, where A_a, s_a are the leading directions and residual of the patch's *within-group*
scatter (rows minus their group mean, divided by n_a - groups), and the residual is scaled by NOISE.

Prints fit-time cost ratios (fakes vs training rows, as bridge=auto measures them), the c2st against
held-out rows at N_TEST, and the copy check.

Research script of docs/cost/README.md (fifth session); not product code.
Usage: python docs/cost/scratch/fine_centres.py REAL N N_TEST G:NOISE[:BRIDGE] ..., e.g. bundled 10000 1000 20:1 40:1
With PATCH_BRIDGE=1 in the environment the
bridge goes towards the partner patch's mean, as the product's bridge does (the base model is then fitted with
bridge 0.5 for its partner table; its own noise is not used by the fine model). (G = 0: the base model itself, NOISE ignored). BRIDGE b moves a fake's centre a share t ~ U(0, b) towards
one of the 5 most similar centres of other patches.
"""
import sys

import numpy as np
from common import fit_time_args

from synth.models.base import normalize
from synth.models.patch import PatchPCA, copy_check, leading_directions, nearest, spherical_kmeans
from synth.progress import muted


class Fine:
    def __init__(self, base, X, G, min_points=20, seed=0):
        lab = nearest(X, base.means_ / np.linalg.norm(base.means_, axis=1, keepdims=True))
        d, r = X.shape[1], base.components_.shape[1]
        self.centres, self.weights, self.patch = [], [], []
        K = len(base.means_)
        self.A = np.zeros((K, r, d), np.float32); self.s = np.zeros(K, np.float32)
        for a in range(K):
            P = X[lab == a].astype(np.float64)
            if len(P) < 2:
                continue
            g = max(1, len(P) // G)
            c = spherical_kmeans(P.astype(np.float32), g, 25, seed) if g > 1 else P.mean(0, keepdims=True).astype(np.float32)
            while True:
                gl = nearest(P.astype(np.float32), c) if len(c) > 1 else np.zeros(len(P), np.int64)
                cnt = np.bincount(gl, minlength=len(c))
                if cnt.min() >= min_points or len(c) == 1:
                    break
                c = np.delete(c, np.argmin(cnt), axis=0)
            means = np.stack([P[gl == i].mean(0) for i in range(len(c))])
            R = P - means[gl]
            rr = min(r, len(P) - len(c) - 1)
            Vt, top, total = leading_directions(R / np.sqrt(max(len(P) - len(c), 1)), rr)
            self.A[a, :rr] = Vt * np.sqrt(top)[:, None]
            self.s[a] = np.sqrt(max(total - top.sum(), 0) / (d - rr))
            self.centres.append(means); self.weights += list(cnt); self.patch += [a] * len(c)
        self.centres = np.concatenate(self.centres).astype(np.float32)
        self.weights = np.asarray(self.weights, float) / sum(self.weights)
        self.patch = np.asarray(self.patch)
        self.noise, self.bridge, self.base = 1.0, 0.0, base
        # bridge partners: per centre the BRIDGE_NBRS most similar centres of other patches
        U = self.centres / np.linalg.norm(self.centres, axis=1, keepdims=True)
        S = U @ U.T
        S[self.patch[:, None] == self.patch[None, :]] = -np.inf
        self.nbrs = np.argsort(-S, axis=1)[:, :5]

    def sample(self, m, random_state=0):
        rng = np.random.default_rng(random_state)
        gi = rng.choice(len(self.weights), size=m, p=self.weights)
        a = self.patch[gi]
        Y = rng.standard_normal((m, self.A.shape[2]), dtype=np.float32) * (self.noise * self.s[a])[:, None]
        if self.bridge > 0 and BASE_BRIDGE:  # towards the partner patch's mean (the product's partner table)
            j = self.base._partner(a, rng.random(m))
            t = rng.uniform(0, self.bridge, size=m).astype(np.float32)[:, None]
            Y += (1 - t) * self.centres[gi] + t * self.base.means_[j]
        elif self.bridge > 0:
            j = self.nbrs[gi, rng.integers(0, self.nbrs.shape[1], size=m)]
            t = rng.uniform(0, self.bridge, size=m).astype(np.float32)[:, None]
            Y += (1 - t) * self.centres[gi] + t * self.centres[j]
        else:
            Y += self.centres[gi]
        for p in np.unique(a):
            rows = np.flatnonzero(a == p)
            Y[rows] += rng.standard_normal((len(rows), self.A.shape[1]), dtype=np.float32) @ self.A[p]
        return normalize(Y)


import os

BASE_BRIDGE = os.environ.get("PATCH_BRIDGE") == "1"  # bridge towards partner patch means, not nearby centres
name, N, NT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
T, HT, ft = fit_time_args(sys.argv)
with muted():
    base = PatchPCA(random_state=0, bridge=0.5 if BASE_BRIDGE else 0.0).fit(T)
print(f"default: patches {base.n_patches_}, noise {base.noise_scale_:.3f}", flush=True)
FINE = {}
for spec in sys.argv[4:]:
    G, noise, *bridge = spec.split(":"); G = int(G)
    if G and (G not in FINE):
        FINE[G] = Fine(base, T, G)
    m = base if G == 0 else FINE[G]
    if G:
        m.noise, m.bridge = float(noise), float(bridge[0]) if bridge else 0.0
    groups = base.n_patches_ if G == 0 else len(m.weights)
    line = f"G {G} noise {noise} bridge {bridge} groups {groups} | " + ft.line(m)
    cc = copy_check(m, T, 0)
    line += f" | copy rate {cc['memorization_rate']:.3f} med {cc['fake_median']:.3f}/{cc['train_loo_median']:.3f}"
    print(line, flush=True)
