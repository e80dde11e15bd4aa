"""Which queries form IVF's tail (cells to reach 9 of 10 neighbours): their neighbour similarity profile, real vs fake.

Research script of docs/cost/README.md (fourth session); not product code.
Usage: python docs/cost/scratch/ivf_tail_queries.py REAL default bridge=0.75
"""
import sys

import faiss
import numpy as np
from common import split

from synth.metrics.searchcost import ivf_cells
from synth.models.patch import PatchPCA
from synth.progress import muted

name = sys.argv[1]; specs = sys.argv[2:] or ["bridge=auto"]
T, B, Q = split(name)
n = len(B)
def prof(lbl, B, Q):
    C, a = ivf_cells(B)
    idx = faiss.IndexFlatIP(B.shape[1]); idx.add(B); S, I = idx.search(Q, 100)
    order = np.argsort(-(Q @ C.T), axis=1); rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(len(C))[None], axis=1)
    pr = np.take_along_axis(rank, a[I[:, :10]], axis=1)
    reach = np.sort(pr, axis=1)[:, 8] + 1
    own = (C @ Q.T).max(0)  # query's best centroid similarity
    hard = reach >= np.percentile(reach, 90)
    def row(mask):
        return (f"s1 {np.median(S[mask,0]):.3f} s10 {np.median(S[mask,9]):.3f} s100 {np.median(S[mask,99]):.3f} "
                f"s1-s10 {np.median(S[mask,0]-S[mask,9]):.3f} s10-s100 {np.median(S[mask,9]-S[mask,99]):.3f} cent {np.median(own[mask]):.3f}")
    print(f"{lbl:12s} reach9 med {np.median(reach):.0f} p90 {np.percentile(reach,90):.0f} p95 {np.percentile(reach,95):.0f} max {reach.max()} nlist {len(C)}")
    print(f"   all : {row(np.ones(len(Q), bool))}")
    print(f"   hard: {row(hard)}", flush=True)
prof("real", B, Q)
for spec in specs:
    kw = {k: (v if v == "auto" else float(v)) for k, v in (p.split("=") for p in spec.split(","))} if spec != "default" else {}
    with muted():
        m = PatchPCA(random_state=0, **kw).fit(T)
    F = m.sample(n + len(Q), random_state=1)
    prof(f"{spec}({m.bridge_:g})", F[:n], F[n:])
