"""Siblings on top of a bridge: a share f of fakes replaced by near copies of other fakes (isotropic noise sigma).

Research script of docs/cost/README.md (fourth session); not product code.
Usage: python docs/cost/scratch/siblings.py EMBEDDINGS.npy BRIDGE, e.g. e5-debian.npy 0.75
"""
import sys

import faiss
import numpy as np
from common import split

from synth.metrics.searchcost import cost_ratio, search_cost
from synth.metrics.twosample import knn_two_sample
from synth.models.base import normalize
from synth.models.patch import PatchPCA
from synth.progress import muted

b = float(sys.argv[2])
T, B, Q = split(sys.argv[1])
n = len(B)
real = search_cost(B, Q)
def s1(B, Q):
    i = faiss.IndexFlatIP(B.shape[1]); i.add(B); S, _ = i.search(Q, 10); return np.median(S[:, 0]), np.median(S[:, 0] - S[:, 9])
print("real s1 %.3f s1-s10 %.3f" % s1(B, Q), flush=True)
with muted():
    m = PatchPCA(random_state=0, bridge=b).fit(T)
F0 = m.sample(n + len(Q), random_state=1)
rng = np.random.default_rng(3)
for f, sig in [(0, 0), (0.15, 0.25), (0.3, 0.25), (0.3, 0.4)]:
    F = F0.copy()
    if f:
        k = rng.random(len(F)) < f
        parent = rng.integers(len(F), size=k.sum())
        F[k] = normalize(F0[parent] + sig / np.sqrt(F.shape[1]) * rng.standard_normal((k.sum(), F.shape[1]), dtype=np.float32))
    r = cost_ratio(search_cost(F[:n], F[n:]), real)
    t = knn_two_sample(B[:1000], F[:1000], k=10, n_permutations=0)
    print(f"bridge {b} f {f} sigma {sig}: s1 %.3f s1-s10 %.3f" % s1(F[:n], F[n:]) +
          f" | ivf {r['ivf']:.2f} hnsw {r['hnsw']:.2f} | c2st {t['c2st']:.3f} real {t['c2st_real']:.3f} fake {t['c2st_fake']:.3f}", flush=True)
