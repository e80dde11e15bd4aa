"""Scratch (issue 18): shrink each patch's covariance towards the pooled within-patch covariance, and measure what it
buys against the membership attacks and what it costs in the two-sample test.

Usage: python docs/privacy/scratch/shrink.py SET N LAMBDAS (e.g. bundled 10000 0,0.25,0.5,0.75)
Rows of SET in a seed-0 permutation: the first N fit the default `synth fit` model (PatchPCA(), noise calibrated);
the rest are held out. For each lambda, every patch's sampling covariance C_p = V^T diag(l - s2) V + (scale^2 s2) I
is replaced by (1 - lambda) C_p + lambda C_w, C_w the patch-weighted mean of the C_p (a statistic of all N rows);
the patch keeps the top `rank` eigenvectors of that as its directions, their eigenvalues as its variances, and the
mean of the other eigenvalues as its residual (the noise scale is kept, the residual variance stored divided by its
square, as PatchPCA stores it). Printed per lambda: the four attacks of `synth audit` (AUC / TPR at 1% FPR on 3,000
members and 3,000 held-out rows, 50,000 fakes) and the c2st at n = 1,000 (held-out rows vs fakes; pooled / real side
/ fake side).
"""
import copy
import sys
import time

import numpy as np

from synth.bundled import load_real
from synth.metrics.privacy import membership_attacks
from synth.metrics.twosample import knn_two_sample
from synth.models import PatchPCA


def shrunk(model, lam):
    """A copy of ``model`` whose patch covariances are shrunk by ``lam`` towards the pooled one."""
    m = copy.deepcopy(model)
    V = model.components_.astype(np.float64)
    K, rank, d = V.shape
    s2 = model.noise_variance_.astype(np.float64) * model.noise_scale_ ** 2
    sig = np.maximum(model.variances_.astype(np.float64) - model.noise_variance_[:, None], 0)
    C = np.einsum("kr,krd,kre->kde", sig, V, V) + s2[:, None, None] * np.eye(d)[None]
    pooled = np.einsum("k,kde->de", model.weights_, C)
    comps, variances, noise = np.empty_like(V), np.empty((K, rank)), np.empty(K)
    for j in range(K):
        w, U = np.linalg.eigh((1 - lam) * C[j] + lam * pooled)
        w, U = w[::-1], U[:, ::-1]
        rest = w[rank:].mean()
        comps[j], noise[j] = U[:, :rank].T, rest / model.noise_scale_ ** 2
        variances[j] = w[:rank] - rest + noise[j]  # stored as signal + residual, as PatchPCA stores them
    m.components_, m.variances_ = comps.astype(model.components_.dtype), variances.astype(model.variances_.dtype)
    m.noise_variance_ = noise.astype(model.noise_variance_.dtype)
    m._cache = None
    return m


def main():
    name, N, lams = sys.argv[1], int(sys.argv[2]), [float(v) for v in sys.argv[3].split(",")]
    X = load_real(name)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    X = X[np.random.default_rng(0).permutation(len(X))]
    train, held = X[:N], X[N:]
    t0 = time.time()
    model = PatchPCA(random_state=0).fit(train)
    print(f"# {name}: N = {N:,}, held out {len(held):,}; default fit {model.n_patches_} patches, noise scale "
          f"{model.noise_scale_:.3f} ({time.time() - t0:.0f} s)", flush=True)
    print("| lambda | subspace_residual AUC / TPR | likelihood | nearest_patch_mean | nearest_fake | c2st n = 1,000 "
          "pooled / real / fake |")
    print("|---|---|---|---|---|---|")
    for lam in lams:
        m = shrunk(model, lam) if lam else model
        a = membership_attacks(m, train, held, n=3000, n_fakes=50_000, random_state=0, n_boot=50)
        t = knn_two_sample(held[:1000], m.sample(1000, random_state=7), k=10, n_permutations=0)
        cells = [f"{a['attacks'][k]['auc']:.3f} / {a['attacks'][k]['tpr_at_1pct_fpr']:.3f}" for k in
                 ("subspace_residual", "likelihood", "nearest_patch_mean", "nearest_fake")]
        print(f"| {lam:g} | " + " | ".join(cells) + f" | {t['c2st']:.3f} / {t['c2st_real']:.3f} / "
              f"{t['c2st_fake']:.3f} |  ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
