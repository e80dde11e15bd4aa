"""Forms of the per-patch clumps of clumps_calibrated.py that might spare IVF's easy third (ninth session).

Usage: python docs/cost/scratch/clumps_forms.py SET N n BRIDGE SHRINK FORM CENTRES CAL [SUB]
(e.g. minilm-wordnet-all 10000 30000 0.75 0.5 vp 8 median border). Fit PatchPCA(bridge=BRIDGE) on the first N rows of
the seed-0 order. A fake of patch j (nearest mean) is, with probability c_j, pulled towards one of CENTRES fixed
sub-centres of the patch (fresh model samples of that patch, seed 7), y -> s + D (y - s), normalized, where D is
- FORM iso: SHRINK times the identity (clumps_calibrated.py exactly, for CENTRES 8 and CAL median);
- FORM elong:R: the identity on the patch's top R principal directions and SHRINK elsewhere (clumps elongated
  along the directions IVF's k-means splits a patch on, tight across them);
- FORM top:R: SHRINK on the top R directions and the identity elsewhere (the converse, for contrast);
- FORM vp: variance-preserving, y -> m + rho (s - m) + SHRINK (y - m), rho = sqrt(1 - SHRINK^2), m the patch mean:
  the members are as correlated with their sub-centre as in iso, but a clumped fake keeps the patch's marginal
  spread (iso's midpoints of two fakes have half the patch's variance, so they sit deeper inside it).
CAL says how c_j is set: "median" (clumps_calibrated.py: 4 rounds, c_j += 2 x (real - fake per-patch median mutual
share), clipped to [0, 0.9]), "mean" (the same on per-patch means, less quantized), or a number (one share c for
every patch, no calibration). SUB (default any) says where the sub-centres are: any = the first CENTRES pool
samples of the patch; border = CENTRES drawn from the quarter of them with the smallest margin (cosine to the nearest
patch mean minus to the second), so that a clump straddles the border between two patches. Then query thirds on n held-out rows and n fakes, 500 queries per third
(bench.querybands.measure_corpus), fake / real at recall 0.95; and the c2st at n = 1,000 (the last 1,000 rows vs
fakes). With REP=r in the environment (default 0), r > 0 replicates the measurement: the held-out rows are put in
a seed-r order before the split into queries, base and c2st rows, and every fake seed is offset by 100 r (the fit
and its rows are the same).
"""
import os
import sys

import faiss
import numpy as np
from clumps_calibrated import BANDS, mutual
from common import shuffled

from bench.querybands import measure_corpus
from synth.metrics.twosample import knn_two_sample
from synth.models import PatchPCA


def per_patch(values, labels, K, how):
    f = np.median if how == "median" else np.mean
    return np.array([f(values[labels == j]) if (labels == j).sum() >= 5 else np.nan for j in range(K)])


class Clumps:
    def __init__(self, model, shrink, form, centres, sub="any"):
        self.model, self.shrink, self.form = model, shrink, form
        self.means = model.means_.astype(np.float32)
        K = len(self.means)
        pool = model.sample(max(200, 25 * centres) * K, random_state=7)
        sims = pool @ self.means.T
        lab = np.argmax(sims, axis=1)
        if sub == "border":
            top2 = np.sort(sims, axis=1)[:, -2:]
            margin = top2[:, 1] - top2[:, 0]
            rng = np.random.default_rng(8)
            self.centres = []
            for j in range(K):
                rows = np.flatnonzero(lab == j)
                if not len(rows):
                    self.centres.append(self.means[j:j + 1])
                    continue
                low = rows[np.argsort(margin[rows])[:max(centres, len(rows) // 4)]]
                self.centres.append(pool[rng.choice(low, size=min(centres, len(low)), replace=False)])
        else:
            self.centres = [pool[lab == j][:centres] if (lab == j).sum() else self.means[j:j + 1] for j in range(K)]
        self.c = np.zeros(K)
        kind, _, r = form.partition(":")
        self.kind, self.r = kind, int(r or 0)
        self.comps = model.components_.astype(np.float32)

    def labels(self, X):
        return np.argmax(X @ self.means.T, axis=1)

    def sample(self, n, random_state):
        Y = self.model.sample(n, random_state=random_state)
        lab = self.labels(Y)
        rng = np.random.default_rng(random_state + 1000)
        pull = rng.random(n) < self.c[lab]
        for j in np.unique(lab[pull]):
            rows = np.flatnonzero(pull & (lab == j))
            cs = self.centres[j]
            S = cs[rng.integers(len(cs), size=len(rows))]
            D = Y[rows] - S
            if self.kind == "iso":
                D *= self.shrink
            elif self.kind == "vp":
                m = self.means[j]
                rho = np.sqrt(1 - self.shrink ** 2)
                D = rho * (S - m) + self.shrink * (Y[rows] - m) + m - S
            else:
                P = self.comps[j][:self.r]  # orthonormal rows
                par = (D @ P.T) @ P
                D = par + self.shrink * (D - par) if self.kind == "elong" else self.shrink * par + (D - par)
            Y[rows] = S + D
        return (Y / np.linalg.norm(Y, axis=1, keepdims=True)).astype(np.float32)


def main(name, N, n, bridge, shrink, form, centres, cal, sub="any"):
    faiss.omp_set_num_threads(1)
    X = shuffled(name)
    T, rest = X[:N], X[N:]
    rep = int(os.environ.get("REP", "0"))
    if rep:
        rest = rest[np.random.default_rng(rep).permutation(len(rest))]
    o = 100 * rep
    model = PatchPCA(random_state=0, bridge=bridge).fit(T)
    gen = Clumps(model, shrink, form, centres, sub)
    K = len(gen.means)
    print(f"{name} N {N} n {n} bridge {bridge} noise scale {model.noise_scale_:.3f} patches {K} shrink {shrink} "
          f"form {form} centres {centres} cal {cal} sub-centres {sub} rep {rep}", flush=True)
    how = cal if cal in ("median", "mean") else "mean"
    real_mut = per_patch(mutual(T), gen.labels(T), K, how)
    rounds = 5 if cal in ("median", "mean") else 1
    if rounds == 1:
        gen.c[:] = float(cal)
    for it in range(rounds):
        F = gen.sample(N, random_state=11)
        fake_mut = per_patch(mutual(F), gen.labels(F), K, how)
        ok = ~np.isnan(real_mut) & ~np.isnan(fake_mut)
        err = real_mut[ok] - fake_mut[ok]
        print(f"round {it}: per-patch {how} mutual share real {np.median(real_mut[ok]):.3f} p10-p90 "
              f"{np.percentile(real_mut[ok], 10):.3f}-{np.percentile(real_mut[ok], 90):.3f}; fake "
              f"{np.median(fake_mut[ok]):.3f} {np.percentile(fake_mut[ok], 10):.3f}-"
              f"{np.percentile(fake_mut[ok], 90):.3f}; rms error {np.sqrt(np.mean(err ** 2)):.3f}; corr "
              f"{np.corrcoef(real_mut[ok], fake_mut[ok])[0, 1]:.2f}; clump share mean / p50 / p90 {gen.c.mean():.2f} / "
              f"{np.median(gen.c):.2f} / {np.percentile(gen.c, 90):.2f}", flush=True)
        if it < rounds - 1:
            step = np.zeros(K)
            step[ok] = 2 * err
            gen.c = np.clip(gen.c + step, 0, 0.9)
    t = knn_two_sample(rest[-1000:], gen.sample(1000, random_state=3 + o), k=10, n_permutations=0)
    print(f"c2st n=1000: {t['c2st']:.3f} real {t['c2st_real']:.3f} fake {t['c2st_fake']:.3f} weaker "
          f"{min(t['c2st_real'], t['c2st_fake']):.3f}", flush=True)
    real = measure_corpus(rest[1500:1500 + n], rest[:1500], 500, BANDS, 10)
    fake = measure_corpus(gen.sample(n, random_state=1 + o), gen.sample(1500, random_state=2 + o), 500, BANDS, 10)
    cells = []
    for b in ("easy", "medium", "hard"):
        r = {f: fake[b][f]["at_recall"]["0.95"] / real[b][f]["at_recall"]["0.95"] for f in ("ivf", "hnsw")}
        cells.append(f"{b}: ivf {r['ivf']:.2f} hnsw {r['hnsw']:.2f}")
    print("thirds (fake / real @0.95): " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    a = sys.argv
    main(a[1], int(a[2]), int(a[3]), float(a[4]), float(a[5]), a[6], int(a[7]), a[8], *a[9:10])
