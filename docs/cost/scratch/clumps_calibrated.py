"""Can fakes get real's spread of neighbourhoods (mutual clumps in some places, scatter in others)? Per-patch clumps,
calibrated to the training rows, on top of a bridged fit; measured by thirds of query hardness (bench.querybands).

Usage: python docs/cost/scratch/clumps_calibrated.py SET N n BRIDGE SHRINK (e.g. minilm-wordnet-all 10000 30000
0.75 0.5). Fit on the first N rows of the seed-0 order. Per patch (fakes and rows belong to the patch of the nearest
mean), the mutual share of a row = the share of its 10 nearest rows (among N training rows, or N fakes) that have it
among theirs. A fake of patch j is, with probability c_j, pulled towards one of 8 fixed sub-centres of the patch
(fresh model samples of that patch, seed 7): x = normalize(s + SHRINK (y - s)). c_j starts at 0 and moves by
2 x (real median mutual share - fake's) per round, 4 rounds, clipped to [0, 0.9]. Then query thirds on n rows, 500
queries per third (bench.querybands.measure_corpus), real and fake; and the c2st at n = 1,000 (the last 1,000
rows vs fakes).
"""
import sys

import numpy as np
from common import shuffled

from bench.querybands import measure_corpus
from synth.metrics.hardness import parse_band
from synth.metrics.neighbors import knn
from synth.metrics.twosample import knn_two_sample
from synth.models import PatchPCA

BANDS = [parse_band(b) for b in ("easy", "medium", "hard")]


def mutual(X, k=10):
    _, ids = knn(X, k=k, exclude_self=True)
    sets = [set(r) for r in ids.tolist()]
    return np.array([np.mean([i in sets[j] for j in row]) for i, row in enumerate(ids.tolist())])


def per_patch(values, labels, K):
    return np.array([np.median(values[labels == j]) if (labels == j).sum() >= 5 else np.nan for j in range(K)])


class Clumped:
    def __init__(self, model, shrink, centres=8):
        self.model, self.shrink = model, shrink
        self.means = model.means_.astype(np.float32)
        K = len(self.means)
        pool = model.sample(200 * K, random_state=7)
        lab = np.argmax(pool @ self.means.T, axis=1)
        self.centres = [pool[lab == j][:centres] if (lab == j).sum() else self.means[j:j + 1] for j in range(K)]
        self.c = np.zeros(K)

    def labels(self, X):
        return np.argmax(X @ self.means.T, axis=1)

    def sample(self, n, random_state):
        Y = self.model.sample(n, random_state=random_state)
        lab = self.labels(Y)
        rng = np.random.default_rng(random_state + 1000)
        pull = rng.random(n) < self.c[lab]
        for i in np.flatnonzero(pull):
            cs = self.centres[lab[i]]
            s = cs[rng.integers(len(cs))]
            Y[i] = s + self.shrink * (Y[i] - s)
        return (Y / np.linalg.norm(Y, axis=1, keepdims=True)).astype(np.float32)


def main(name, N, n, bridge, shrink):
    X = shuffled(name)
    T, rest = X[:N], X[N:]
    model = PatchPCA(random_state=0, bridge=bridge).fit(T)
    gen = Clumped(model, shrink)
    K = len(gen.means)
    real_mut = per_patch(mutual(T), gen.labels(T), K)
    for it in range(5):
        F = gen.sample(N, random_state=11)
        fake_mut = per_patch(mutual(F), gen.labels(F), K)
        ok = ~np.isnan(real_mut) & ~np.isnan(fake_mut)
        err = real_mut[ok] - fake_mut[ok]
        print(f"round {it}: per-patch mutual share real median {np.median(real_mut[ok]):.3f} p10-p90 "
              f"{np.percentile(real_mut[ok], 10):.3f}-{np.percentile(real_mut[ok], 90):.3f}; fake "
              f"{np.median(fake_mut[ok]):.3f} {np.percentile(fake_mut[ok], 10):.3f}-{np.percentile(fake_mut[ok], 90):.3f}; "
              f"rms error {np.sqrt(np.mean(err ** 2)):.3f}; clump share p50 / p90 {np.median(gen.c):.2f} / "
              f"{np.percentile(gen.c, 90):.2f}", flush=True)
        if it < 4:
            step = np.zeros(K)
            step[ok] = 2 * err
            gen.c = np.clip(gen.c + step, 0, 0.9)
    t = knn_two_sample(rest[-1000:], gen.sample(1000, random_state=3), k=10, n_permutations=0)
    print(f"c2st n=1000: {t['c2st']:.3f} real {t['c2st_real']:.3f} fake {t['c2st_fake']:.3f}", flush=True)
    real = measure_corpus(rest[1500:1500 + n], rest[:1500], 500, BANDS, 10)
    fake = measure_corpus(gen.sample(n, random_state=1), gen.sample(1500, random_state=2), 500, BANDS, 10)
    cells = []
    for b in ("easy", "medium", "hard"):
        r = {f: fake[b][f]["at_recall"]["0.95"] / real[b][f]["at_recall"]["0.95"] for f in ("ivf", "hnsw")}
        cells.append(f"{b}: ivf {r['ivf']:.2f} hnsw {r['hnsw']:.2f}")
    print(f"{name} bridge {bridge} shrink {shrink}: " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
