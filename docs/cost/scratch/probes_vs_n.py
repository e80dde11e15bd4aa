"""Why the fake's IVF probes fall as n grows, and generators with structure finer than a patch (issue 13, ninth
session).

Usage: python docs/cost/scratch/probes_vs_n.py SET N SIZES HNSW_MAX CONFIG...
(e.g. minilm-wordnet-all 10000 10000,30000,100000 30000 p40 p160 p500 sub:8:8:0.5).
SET may be dedup:C:NAME, NAME's rows with near duplicates (cosine >= C) dropped greedily in the seed-0 order
(common.deduped; tenth session).
Rows in the seed-0 order (common.shuffled): the first N fit every model; of the rest, the first 500 are the real
queries, the next ones the nested real bases of each size n (and rows 500..1,500 of them the c2st's real side).
Fakes: a fresh base of n and 500 fresh queries per size (seeds 100 + size index, 200 + size index).
Per corpus and n: IVF (spherical k-means cells, nlist = round(sqrt(n)), synth.metrics.searchcost.ivf_cells) the
nprobe at recall@10 = 0.95 (the recall of nprobe p is the share of true neighbours in the first p cells, linear
between consecutive p), its distance computations (as searchcost.ivf_cost), the share of a query's neighbours in
its own cell, and HNSW distance computations at 0.95 (searchcost.hnsw_cost) for n <= HNSW_MAX. Fakes also: the
fake / real ratios, cells per patch, and the c2st at n = 1,000 (knn_two_sample, k = 10).

CONFIG (default PatchPCA fits, noise calibrated as the product does, seed 0):
  p40, p160, p500      n_patches = 40 / 160 / 500 ("auto" is p160 on 10,000 rows: 156 patches after drops)
  b0.5                 the auto fit with bridge = 0.5
  The following reshape the residual noise of the auto fit's patches (same noise scale, same total residual
  variance per fake: a share F of it moves into R directions, the rest stays isotropic):
  sub:S:R:F            (a) each patch has S sub-clusters, each with R random orthonormal directions in the patch's
                       residual space (orthogonal to its principal directions); a fake picks a sub-cluster
                       uniformly and carries a share F of its residual variance in those R directions.
  loc:S:R:F            (c) as sub, but the sub-cluster is chosen by the fake's place in its patch: the nearest of S
                       random anchors (standard normal) in its first 3 principal coordinates, so the extra
                       directions vary from place to place and neighbours share them.
  rot:S:Q:DEG          (b) per sub-cluster (S per patch, uniform) the patch's top Q principal directions are each
                       rotated by DEG degrees towards a random residual direction (orthonormal set).
  casc:SIZES:SHARES:0   (tenth session) a cascade of shared offsets, variance preserving: per patch and level l,
                       groups of about SIZE_l of the sample's fakes of that patch share a standard normal offset in
                       the patch's principal coordinates, carrying a share SHARE_l of the in-patch variance (e.g.
                       casc:4,40,400:0.2,0.2,0.2:0); the group count grows with n, so group sizes stay fixed.
  A trailing "@P" on sub/loc/rot uses n_patches = P instead of auto (e.g. sub:8:8:0.5@40).
  mix:K1,K2,...:W1,W2,...  (c) a mixture of scales: each fake comes from the default fit with n_patches = Ki
                       (noise calibrated per fit) with probability Wi (e.g. mix:40,160:0.5,0.5);
                       mix:K1,K2:W1,W2:B fits every scale with bridge = B; a scale written KbB (e.g.
                       mix:20,160b0.5:0.3,0.7) has its own bridge amount B, and KnA (e.g. 20n0.3, or
                       20b0.5n0.3) a fixed noise scale A instead of the calibrated one.
"""
import math
import sys
import time

import faiss
import numpy as np
from common import load_set

from synth.metrics.hardness import lid_mle
from synth.metrics.searchcost import cost_at_recall, hnsw_cost, ivf_cells, ivf_probes
from synth.metrics.twosample import knn_two_sample
from synth.models import PatchPCA

NQ, RECALL, K = 500, 0.95, 10
LID_K = 20  # LID (MLE) of each query from its 20 nearest rows (tenth session)


def normalize(Y):
    return (Y / np.linalg.norm(Y, axis=1, keepdims=True)).astype(np.float32)


def residual_basis(V, r, rng):
    """r random orthonormal directions orthogonal to the rows of V (orthonormal, shape (k, d))."""
    G = rng.standard_normal((V.shape[1], r))
    G -= V.T @ (V @ G)
    G -= V.T @ (V @ G)
    return np.linalg.qr(G)[0].T.astype(np.float32)  # (r, d)


class Reshaped:
    """Fakes of a fitted PatchPCA (bridge 0) with per-sub-cluster residual or principal directions."""

    def __init__(self, model, kind, S, a, b, seed=11):
        self.m, self.kind, self.S = model, kind, int(S) if kind != "casc" else 1
        self.means = model.means_.astype(np.float32)
        self.V = model.components_.astype(np.float32)
        self.scale = np.sqrt(np.maximum(model.variances_ - model.noise_variance_[:, None], 0)).astype(np.float32)
        self.sigma = (model.noise_scale_ * np.sqrt(model.noise_variance_)).astype(np.float32)
        Kp, rank, d = self.V.shape
        rng = np.random.default_rng(seed)
        self.sub = []
        if kind == "casc":
            self.S = 1  # per patch, per sub-cluster: (r, d) directions
        if kind in ("sub", "loc"):
            self.r, self.f = int(a), float(b)
            self.boost = math.sqrt(self.f * (d - rank) / self.r)
            for j in range(Kp):
                Vj = np.linalg.qr(self.V[j].T.astype(np.float64))[0].T
                self.sub.append([residual_basis(Vj, self.r, rng) for _ in range(self.S)])
            self.anchors = rng.standard_normal((Kp, self.S, 3)).astype(np.float32)
        elif kind == "casc":  # a cascade of shared offsets: levels of groups of a fixed size
            self.sizes = [int(v) for v in str(S).split(",")]
            self.shares = [float(v) for v in str(a).split(",")]
            assert len(self.sizes) == len(self.shares) and sum(self.shares) < 1
        else:  # rot
            self.q, theta = int(a), math.radians(float(b))
            self.c, self.s = math.cos(theta), math.sin(theta)
            for j in range(Kp):
                Vj = np.linalg.qr(self.V[j].T.astype(np.float64))[0].T
                self.sub.append([residual_basis(Vj, self.q, rng) for _ in range(self.S)])

    def sample(self, n, random_state):
        rng = np.random.default_rng(random_state)
        m = self.m
        Kp, rank, d = self.V.shape
        labels = rng.choice(len(m.weights_), size=n, p=m.weights_)
        Y = np.empty((n, d), np.float32)
        for j in np.flatnonzero(np.bincount(labels, minlength=Kp)):
            rows = np.flatnonzero(labels == j)
            k = len(rows)
            z = rng.standard_normal((k, rank)).astype(np.float32)
            e = rng.standard_normal((k, d)).astype(np.float32) * self.sigma[j]
            if self.kind == "casc":
                # variance preserving: a share a_l of the in-patch variance comes from the offset of the fake's
                # group at level l (groups of about size_l fakes of this patch in this sample), the rest is its own
                own = math.sqrt(1 - sum(self.shares))
                z *= own
                for size, share in zip(self.sizes, self.shares):
                    groups = max(1, -(-k // size))
                    table = rng.standard_normal((groups, rank)).astype(np.float32)
                    z += math.sqrt(share) * table[rng.integers(0, groups, size=k)]
                Y[rows] = self.means[j] + (z * self.scale[j]) @ self.V[j] + e
            elif self.kind in ("sub", "loc"):
                if self.kind == "sub":
                    s = rng.integers(0, self.S, size=k)
                else:
                    dist = ((z[:, None, :3] - self.anchors[j][None]) ** 2).sum(-1)
                    s = np.argmin(dist, axis=1)
                g = rng.standard_normal((k, self.r)).astype(np.float32)
                e *= math.sqrt(1 - self.f)
                for t in np.unique(s):
                    w = s == t
                    e[w] += (self.boost * self.sigma[j]) * (g[w] @ self.sub[j][t])
                Y[rows] = self.means[j] + (z * self.scale[j]) @ self.V[j] + e
            else:
                s = rng.integers(0, self.S, size=k)
                F = self.V[j] * self.scale[j][:, None]
                part = np.empty((k, d), np.float32)
                for t in np.unique(s):
                    w = s == t
                    Ft = F.copy()
                    Ft[:self.q] = self.c * F[:self.q] + self.s * self.scale[j][:self.q, None] * self.sub[j][t]
                    part[w] = z[w] @ Ft
                Y[rows] = self.means[j] + part + e
        return normalize(Y)


class Mixture:
    """Fakes from several fits, each with its probability."""

    def __init__(self, models, weights):
        self.models, self.w = models, np.asarray(weights, float) / np.sum(weights)

    def sample(self, n, random_state):
        rng = np.random.default_rng(random_state)
        counts = rng.multinomial(n, self.w)
        parts = [m.sample(c, random_state=random_state * 10 + i) for i, (m, c) in enumerate(zip(self.models, counts))
                 if c]
        return np.concatenate(parts)[rng.permutation(n)]


def fit(T, n_patches="auto", **kw):
    return PatchPCA(n_patches=n_patches, random_state=0, **kw).fit(T)


def make(config, T, cache):
    spec, _, p = config.partition("@")
    np_key = int(p) if p else "auto"
    if spec.startswith("p") and spec[1:].isdigit():
        model = fit(T, int(spec[1:]))
        return model, model
    if spec.startswith("b"):
        model = fit(T, bridge=float(spec[1:]))
        return model, model
    if spec.startswith("mix:"):
        _, ks, ws, *b = spec.split(":")
        b = float(b[0]) if b else 0.0
        models = []
        for k in ks.split(","):
            k, _, noise = k.partition("n")
            k, _, bk = k.partition("b")
            key = (int(k), float(bk) if bk else b, float(noise) if noise else "auto")
            if key not in cache:
                cache[key] = fit(T, key[0], bridge=key[1], noise_scale=key[2])
            models.append(cache[key])
        return models[-1], Mixture(models, [float(w) for w in ws.split(",")])
    if np_key not in cache:
        cache[np_key] = fit(T, np_key)
    kind, S, a, b = spec.split(":")
    return cache[np_key], Reshaped(cache[np_key], kind, S, a, b)


def measure(base, queries, hnsw):
    base, queries = np.ascontiguousarray(base), np.ascontiguousarray(queries)
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    sims, nb = index.search(queries, LID_K)
    lid = float(np.median(lid_mle(sims, k=LID_K)))
    nb = np.ascontiguousarray(nb[:, :K])
    cells = ivf_cells(base)
    probe, cost = ivf_probes(cells, queries, nb)
    nlist = cost.shape[1]
    found = np.bincount(probe.ravel(), minlength=nlist).cumsum() / probe.size
    out = {"nlist": nlist, "probes": cost_at_recall(found, np.arange(1, nlist + 1), RECALL),
           "ivf": cost_at_recall(found, cost.mean(axis=0), RECALL), "own": float((probe == 0).mean()),
           "p90_to9": float(np.percentile(np.sort(probe, axis=1)[:, 8] + 1, 90)), "lid": lid}
    out["hnsw"] = hnsw_cost(base, queries, nb, RECALL) if hnsw else None
    return out


def fmt(x, f="{:.0f}"):
    return "-" if x is None else f.format(x)


def main():
    faiss.omp_set_num_threads(1)
    name, N, sizes, hmax = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3].split(",")], int(sys.argv[4])
    configs = sys.argv[5:]
    X = load_set(name)
    T, H = X[:N], X[N:]
    Q = H[:NQ]
    sizes = [min(n, len(H) - NQ) for n in sizes]
    print(f"# {name}: N = {N:,}, real rows held out {len(H):,}, sizes {sizes}, HNSW up to n = {hmax:,}", flush=True)
    print("| corpus | n | nlist | cells/patch | probes @0.95 | IVF ndis | own-cell share | p90 cells to 9 | "
          "HNSW ndis | IVF f/r | HNSW f/r | c2st n=1,000 pooled / real / fake | LID median (k = 20) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    real = {}
    t0 = time.time()
    for n in sizes:
        real[n] = r = measure(H[NQ:NQ + n], Q, n <= hmax)
        print(f"| real | {n:,} | {r['nlist']} | | {r['probes']:.1f} | {r['ivf']:.0f} | {r['own']:.2f} | "
              f"{r['p90_to9']:.0f} | {fmt(r['hnsw'])} | | | | {r['lid']:.1f} |  ({time.time() - t0:.0f} s)", flush=True)
    cache = {}
    for config in configs:
        model, gen = make(config, T, cache)
        K_ = model.n_patches_
        t = knn_two_sample(H[NQ:NQ + 1000], gen.sample(1000, random_state=300), k=10, n_permutations=0)
        c2 = f"{t['c2st']:.3f} / {t['c2st_real']:.3f} / {t['c2st_fake']:.3f}"
        for i, n in enumerate(sizes):
            f = measure(gen.sample(n, random_state=100 + i), gen.sample(NQ, random_state=200 + i), n <= hmax)
            r = real[n]
            rh = f["hnsw"] / r["hnsw"] if f["hnsw"] and r["hnsw"] else None
            print(f"| {config} ({K_} patches, noise {model.noise_scale_:.2f}) | {n:,} | {f['nlist']} | "
                  f"{f['nlist'] / K_:.2f} | {f['probes']:.1f} | {f['ivf']:.0f} | {f['own']:.2f} | {f['p90_to9']:.0f} | "
                  f"{fmt(f['hnsw'])} | {f['ivf'] / r['ivf']:.2f} | {fmt(rh, '{:.2f}')} | {c2 if i == 0 else ''} | "
                  f"{f['lid']:.1f} |"
                  f"  ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
