"""Does a factorial generator make the fakes as hard to search as real data? Real rows' within-patch
deviations repeat across patches (a shared offset, e.g. a package role in Debian descriptions); a patch
mixture cannot say so, and IVF's cells, cut along one factor, miss neighbours that share the other.

Usage: python docs/cost/scratch/factorial.py SET SIZES CONFIG... (e.g. minilm-debian.npy 10000,30000 0:i:1.0
200:i:0.7 pb0.5). First the diagnostic: k-means of the pooled deviations x - m_a (a = the nearest patch mean of
the default fit on N = 10,000 rows) on training, held-out and fake rows, energy explained and patches per
cluster. Then each CONFIG K2:ALPHA:SCALE is a scratch generator x = normalize(m_a + u_b + mu_a + V_a sqrt(L_a) z
+ SCALE sqrt(rest_a) g): u_b the K2 k-means centres of the deviations, b | a independent (ALPHA "i") or the
smoothed joint (count(a, b) + ALPHA p(b)) / (count(a) + ALPHA), the patch's 40 directions refitted on the
deviations with u_b removed; K2 = 0 is the same code without offsets. "pbA" is the product PatchPCA with
bridge A. Per config: c2st at n = 1,000 (held-out vs fakes) and fake / real cost at recall 0.95 (IVF, HNSW;
synth.metrics.searchcost, 500 queries) at each size.
"""
import sys

import faiss
import numpy as np
from common import split

from synth.metrics.searchcost import cost_ratio, search_cost
from synth.metrics.twosample import knn_two_sample
from synth.models import PatchPCA


def deviations(X, means):
    a = np.argmax(X @ means.T, axis=1)
    return a, X - means[a]


def kmeans(D, K, seed=1):
    km = faiss.Kmeans(D.shape[1], K, niter=25, seed=seed)
    km.train(np.ascontiguousarray(D))
    return km.centroids, km.index.search(np.ascontiguousarray(D), 1)[1][:, 0]


def diagnostic(T, H, F, means):
    for label, X in (("train", T), ("held-out", H), ("fake", F)):
        a, D = deviations(X, means)
        total, row = (D ** 2).sum(), [f"{label}: |dev|^2 {(D ** 2).sum(1).mean():.3f}"]
        for K in (50, 200):
            U, b = kmeans(D, K)
            per = [len(np.unique(a[b == j])) for j in range(K) if (b == j).sum() >= 5]
            row.append(f"K={K} explained {1 - ((D - U[b]) ** 2).sum() / total:.3f}, "
                       f"patches per cluster {np.median(per):.0f}")
        print(" | ".join(row), flush=True)


class Factorial:
    def __init__(self, T, means, K2, alpha, scale, rank=40):
        self.means, self.scale = means, scale
        a, D = deviations(T, means)
        K, d = len(means), T.shape[1]
        self.U, b = kmeans(D, K2) if K2 else (np.zeros((1, d), np.float32), np.zeros(len(T), int))
        joint = np.zeros((K, len(self.U)))
        np.add.at(joint, (a, b), 1)
        pb = joint.sum(0) / joint.sum()
        cond = np.tile(pb, (K, 1)) if alpha is None else (joint + alpha * pb) / (joint.sum(1, keepdims=True) + alpha)
        self.cond = cond / cond.sum(1, keepdims=True)
        self.pa = np.bincount(a, minlength=K) / len(a)
        R = D - self.U[b]
        self.local = []
        for j in range(K):
            P = R[a == j].astype(np.float64)
            mu = P.mean(0)
            _, s, Vt = np.linalg.svd(P - mu, full_matrices=False)
            lam = s ** 2 / max(len(P) - 1, 1)
            r = min(rank, max(len(P) - 1, 1))
            self.local.append((mu, Vt[:r], lam[:r], lam[r:].sum() / (d - r)))

    def sample(self, n, random_state=0):
        rng = np.random.default_rng(random_state)
        a = rng.choice(len(self.pa), size=n, p=self.pa)
        X = np.empty((n, self.means.shape[1]), np.float32)
        for j in np.unique(a):
            rows = np.nonzero(a == j)[0]
            b = rng.choice(len(self.U), size=len(rows), p=self.cond[j])
            mu, V, lam, rest = self.local[j]
            z = rng.standard_normal((len(rows), len(lam)))
            g = rng.standard_normal((len(rows), X.shape[1]))
            X[rows] = self.means[j] + self.U[b] + mu + (z * np.sqrt(lam)) @ V + self.scale * np.sqrt(rest) * g
        return X / np.linalg.norm(X, axis=1, keepdims=True)


def main(name, sizes, configs):
    T, B, Q = split(name, 10000, 500, max(sizes))
    H = B[-1000:]
    model = PatchPCA(random_state=0).fit(T)
    means = model.means_.astype(np.float32)
    print(f"{name}: default fit, {model.n_patches_} patches, noise scale {model.noise_scale_:.2f}", flush=True)
    diagnostic(T, B[:10000], model.sample(10000, random_state=1).astype(np.float32), means)
    real = {n: search_cost(B[:n], Q) for n in sizes}
    gens = {"default": model}
    for c in configs:
        if c.startswith("pb"):
            gens[c] = PatchPCA(random_state=0, bridge=float(c[2:])).fit(T)
        else:
            K2, alpha, scale = c.split(":")
            gens[c] = Factorial(T, means, int(K2), None if alpha == "i" else float(alpha), float(scale))
    for label, g in gens.items():
        t = knn_two_sample(H, g.sample(1000, random_state=2), k=10, n_permutations=0)
        F = g.sample(max(sizes) + len(Q), random_state=1).astype(np.float32)
        cells = []
        for n in sizes:
            r = cost_ratio(search_cost(F[:n], F[-len(Q):]), real[n])
            cells.append(f"n={n}: ivf {r['ivf']:.2f} hnsw {r['hnsw']:.2f}")
        print(f"{label:12s} c2st {t['c2st']:.3f} real {t['c2st_real']:.3f} fake {t['c2st_fake']:.3f} | "
              + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2].split(",")], sys.argv[3:])
