"""How much of real query hardness is a property of the patch, and do hetero_bridge.py's per-patch statistics
track it?

Usage: python docs/cost/scratch/hetero_diag.py SET N (e.g. minilm-wordnet-all 10000). Same split as
hetero_bridge.py: fit PatchPCA(random_state=0, bridge=0.5) on the first N rows of the seed-0 order; real queries
R[:1500], base R[1500:1500 + 3N]. Per query the relative contrast (synth.metrics.hardness, k = 10; low = hard) and
its patch (nearest normalised patch mean). Printed: the share of the variance of log rc between patches (eta^2),
against the same with the patch labels permuted (20 permutations, mean); the share of each third of queries
(by rc) whose patch lies in the top / bottom third of patches by the rate and knn statistics; and the Spearman
correlation, over patches with >= 5 queries, of the patch's median query rc with its statistics.
"""
import sys

import numpy as np
from common import shuffled
from hetero_bridge import scores, top2

from synth.metrics.hardness import relative_contrast
from synth.metrics.neighbors import knn
from synth.models import PatchPCA


def eta2(y, lab):
    m = np.bincount(lab, weights=y) / np.maximum(np.bincount(lab), 1)
    return np.sum((m[lab] - y.mean()) ** 2) / np.sum((y - y.mean()) ** 2)


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return np.corrcoef(ra, rb)[0, 1]


def main(name, N):
    X = shuffled(name)
    T, R = X[:N], X[N:]
    model = PatchPCA(random_state=0, bridge=0.5).fit(T)
    Q, base = R[:1500], R[1500:1500 + 3 * N]
    sims, _ = knn(base, Q, k=10)
    rc = relative_contrast(base, Q, sims)
    lab = top2(Q, model.means_)[0]
    y = np.log(rc)
    rng = np.random.default_rng(0)
    null = np.mean([eta2(y, rng.permutation(lab)) for _ in range(20)])
    K = model.n_patches_
    print(f"{name} N={N}: {K} patches, {len(Q)} queries; eta^2 of log rc by patch {eta2(y, lab):.3f} "
          f"(permuted labels {null:.3f})", flush=True)
    third = np.digitize(rc, np.percentile(rc, [100 / 3, 200 / 3]))  # 0 = hard (low rc), 2 = easy
    n_q = np.bincount(lab, minlength=K)
    med = np.array([np.median(rc[lab == j]) if n_q[j] >= 5 else np.nan for j in range(K)])
    ok = ~np.isnan(med)
    for kind in ("rate", "knn", "pos"):
        s = scores(kind, T, model)
        hi, lo = np.nanpercentile(s, 200 / 3), np.nanpercentile(s, 100 / 3)
        cells = []
        for t, tn in ((2, "easy"), (1, "medium"), (0, "hard")):
            sq = s[lab[third == t]]
            cells.append(f"{tn}: top {np.mean(sq >= hi):.2f} bottom {np.mean(sq <= lo):.2f}")
        good = ok & ~np.isnan(s)
        print(f"{kind}: queries in the patches of the top / bottom third of s: " + " | ".join(cells)
              + f"; Spearman(patch median rc, s) over {good.sum()} patches {spearman(med[good], s[good]):.3f}",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
