"""Heterogeneous bridging: a bridge amount per patch, learned from the training rows, against uniform bridging.

Usage: python docs/cost/scratch/hetero_bridge.py SET N SPEC... [seed=S] (e.g. minilm-wordnet-all 10000 u0 u0.5
u0.75 rate0.5 knn0.75 pos0.75); seed=S adds 10 S to the fakes' seeds (a replicate; default 0). SPEC is a kind and a global amount B:
- ``uB``: the product's uniform ``bridge=B`` (t ~ U(0, B)), noise scale calibrated as the product does.
- ``rateB``: b_i = B s_i / mean_w(s) clipped to [0, 1]; s_i = patch i's share of training rows whose margin
  (cosine to the nearest patch centre minus cosine to the second) is below the training rows' median margin.
- ``knnB``: s_i = share of patch i's training rows whose nearest other training row lies in another patch.
- ``posB``: s_i = mean over patch i's training rows of their position between the patch mean m_i and the mean
  m_j of their second-nearest patch, t = <x - m_i, m_j - m_i> / |m_j - m_i|^2 clipped to [0, 1] (patches with
  fewer than 20 rows take the weighted mean of s).
- ``ratesqB``, ``knnsqB``: as rate / knn with s_i squared (twice the contrast between patches).
- ``knninvB``: the opposite allocation, s_i = 1 - knn's s_i (more bridge where real is easy): a check of the
  mechanism, not a candidate.
Assignment of rows to patches = nearest normalised patch mean; mean_w weights patches by the model's weights_.
A per-patch fake's mean is (1 - t) m_i + t m_j with t = b_i U(0, 1), j from the product's partner table. Every
variant gets the product's noise treatment: the noise scale is re-calibrated (synth.models.patch
calibrate_noise_scale) on the product's split, whose sub-model samples with its own per-patch amounts
(computed the same way from its own fitting rows).

Protocol: the first N rows of the seed-0 order (common.shuffled) fit (PatchPCA(random_state=0, bridge=B)); the
other rows R: queries R[:500], band candidates R[:1500], real base R[1500:1500 + n] at n = N and 3N, c2st on
R[-1000:] against 1,000 fakes. Fake base model.sample(3N, seed 1) (its first N rows at n = N), fake queries
model.sample(1500, seed 2) (first 500 for the whole-set cost). Printed: fake / real IVF and HNSW distance
computations at recall 0.95 (synth.metrics.searchcost) at n = N and 3N; per third of query hardness at n = 3N
(bench.querybands.measure_corpus, 500 queries per third); the c2st at 1,000 (pooled, real side, fake side).
The real side's measurements are cached in /tmp/hetero-real-SETNAME-N.json (recomputed when absent).
"""
import copy
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import faiss  # noqa: E402
import numpy as np  # noqa: E402
from common import shuffled  # noqa: E402

from bench.querybands import measure_corpus  # noqa: E402
from synth.metrics.hardness import parse_band  # noqa: E402
from synth.metrics.neighbors import knn  # noqa: E402
from synth.metrics.searchcost import search_cost  # noqa: E402
from synth.metrics.twosample import knn_two_sample  # noqa: E402
from synth.models import PatchPCA  # noqa: E402
from synth.models.patch import calibrate_noise_scale, calibration_split, normalize  # noqa: E402

faiss.omp_set_num_threads(1)
BANDS = [parse_band(b) for b in ("easy", "medium", "hard")]
THIRDS = ("easy", "medium", "hard")
MIN_ROWS = 20


class PerPatch(PatchPCA):
    """A fitted PatchPCA whose fakes bridge by a per-patch amount ``amounts_`` (t = amounts_[i] U(0, 1))."""

    amounts_ = None

    def _sample_block(self, m, rng):  # the product's, minus groups / recolouring / norms, with t per patch
        factors, sigma = self._factors()
        labels = rng.choice(len(self.weights_), size=m, p=self.weights_)
        centres = self.means_[labels]
        Y = rng.standard_normal((m, self.dim_), dtype=np.float32)
        Y *= sigma[labels, None]
        j = self._partner(labels, rng.random(m))
        t = (rng.uniform(0, 1, size=m) * self.amounts_[labels]).astype(np.float32)[:, None]
        Y += (1 - t) * centres + t * self.means_[j]
        order = np.argsort(labels, kind="stable")
        counts = np.bincount(labels, minlength=len(self.weights_))
        pos = 0
        for k in np.flatnonzero(counts):
            rows = order[pos:pos + counts[k]]
            pos += counts[k]
            z = rng.standard_normal((len(rows), factors.shape[1]), dtype=np.float32)
            Y[rows] += z @ factors[k]
        return normalize(Y)


def top2(T, means):
    C = means / np.linalg.norm(means, axis=1, keepdims=True)
    S = T @ C.T
    order = np.argsort(-S, axis=1)[:, :2]
    s = np.take_along_axis(S, order, axis=1)
    return order[:, 0], order[:, 1], s[:, 0] - s[:, 1]


def scores(kind, T, model):
    """Per patch the statistic s_i of ``kind`` on training rows ``T``; NaN where fewer than MIN_ROWS rows."""
    if kind.endswith("sq"):
        return scores(kind[:-2], T, model) ** 2
    if kind.endswith("inv"):
        return 1 - scores(kind[:-3], T, model)
    K = model.n_patches_
    a, b, margin = top2(T, model.means_)
    if kind == "rate":
        v = (margin < np.median(margin)).astype(float)
    elif kind == "knn":
        _, ids = knn(T, k=1, exclude_self=True)
        v = (a[ids[:, 0]] != a).astype(float)
    elif kind == "pos":
        d = model.means_[b] - model.means_[a]
        v = np.clip(np.einsum("ij,ij->i", T - model.means_[a], d) / np.maximum(np.einsum("ij,ij->i", d, d), 1e-12),
                    0, 1)
    else:
        raise ValueError(kind)
    n = np.bincount(a, minlength=K)
    s = np.bincount(a, weights=v, minlength=K) / np.maximum(n, 1)
    s[n < MIN_ROWS] = np.nan
    return s


def amounts(kind, B, T, model):
    s = scores(kind, T, model)
    w = model.weights_
    ok = ~np.isnan(s)
    mean = np.sum(w[ok] * s[ok]) / np.sum(w[ok])
    s[~ok] = mean
    return np.clip(B * s / mean, 0, 1), s


def per_patch_model(base, kind, B, T, seed=0):
    """``base`` (fitted with bridge=B) turned per-patch, its noise scale re-calibrated on the product's split."""
    model = copy.deepcopy(base)
    model.__class__ = PerPatch
    model.amounts_, s = amounts(kind, B, T, model)
    params = {k: getattr(base, k) for k in ("rank", "min_points", "n_iter", "bridge", "softness", "group_size")}
    params["n_patches"] = base.n_patches_
    sub, held = calibration_split(T, params, seed)
    n_fit = int(sub.counts_.sum())
    A = T[np.random.default_rng(seed).permutation(len(T))[:n_fit]]
    sub.__class__ = PerPatch
    sub.amounts_, _ = amounts(kind, B, A, sub)
    sub._cache = None
    scale, _ = calibrate_noise_scale(T, params, seed, split=(sub, held))
    model.noise_scale_, model._cache = scale, None
    return model, s


def cost_line(base, queries):
    return search_cost(base, queries)


def real_side(name, X, N):
    path = f"/tmp/hetero-real-{os.path.basename(name)}-{N}.json"
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    R = X[N:]
    out = {"cost": {str(n): search_cost(R[1500:1500 + n], R[:500]) for n in (N, 3 * N)},
           "bands": measure_corpus(R[1500:1500 + 3 * N], R[:1500], 500, BANDS, 10)}
    with open(path, "w") as f:
        json.dump(out, f)
    return out


def main(name, N, specs):
    off = 0
    if specs and specs[-1].startswith("seed="):
        off, specs = 10 * int(specs[-1][5:]), specs[:-1]
    X = shuffled(name)
    T, R = X[:N], X[N:]
    real = real_side(name, X, N)
    print(f"{name} N={N}: real IVF / HNSW at recall 0.95: "
          + ", ".join(f"n={n} {c['ivf']:.0f} / {c['hnsw']:.0f}" for n, c in real["cost"].items())
          + " | thirds at 3N: " + ", ".join(f"{b} {real['bands'][b]['ivf']['at_recall']['0.95']:.0f} / "
                                             f"{real['bands'][b]['hnsw']['at_recall']['0.95']:.0f}" for b in THIRDS),
          flush=True)
    fits = {}
    for spec in specs:
        kind = spec.rstrip("0123456789.")
        B = float(spec[len(kind):])
        if B not in fits:
            fits[B] = PatchPCA(random_state=0, bridge=B).fit(T)
        base = fits[B]
        if kind == "u":
            model, info = base, f"uniform {B}"
        else:
            model, s = per_patch_model(base, kind, B, T)
            b, w = model.amounts_, model.weights_
            q = np.percentile(b, [10, 50, 90])
            info = (f"{kind} B={B}: b p10/p50/p90 {q[0]:.2f}/{q[1]:.2f}/{q[2]:.2f}, mean_w {np.sum(w * b):.3f}, "
                    f"clipped at 1 {np.mean(b >= 1):.2f}, s p10/p90 {np.nanpercentile(s, 10):.3f}/"
                    f"{np.nanpercentile(s, 90):.3f}")
        F = model.sample(3 * N, random_state=1 + off)
        Q = model.sample(1500, random_state=2 + off)
        c = {n: search_cost(F[:n], Q[:500]) for n in (N, 3 * N)}
        bands = measure_corpus(F, Q, 500, BANDS, 10)
        t = knn_two_sample(R[-1000:], model.sample(1000, random_state=3 + off), k=10, n_permutations=0)
        whole = " ".join(f"n={n} ivf {c[n]['ivf'] / real['cost'][str(n)]['ivf']:.2f} "
                         f"hnsw {c[n]['hnsw'] / real['cost'][str(n)]['hnsw']:.2f}" for n in (N, 3 * N))
        thirds = " | ".join(
            f"{b}: ivf {bands[b]['ivf']['at_recall']['0.95'] / real['bands'][b]['ivf']['at_recall']['0.95']:.2f} "
            f"hnsw {bands[b]['hnsw']['at_recall']['0.95'] / real['bands'][b]['hnsw']['at_recall']['0.95']:.2f}"
            for b in THIRDS)
        print(f"{spec} ({info}; noise scale {model.noise_scale_:.3f}): {whole} || thirds at 3N: {thirds} || "
              f"c2st n=1000 {t['c2st']:.3f} real {t['c2st_real']:.3f} fake {t['c2st_fake']:.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
