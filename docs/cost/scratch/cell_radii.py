"""IVF cell radii, and isolated points: do real IVF cells differ in radius more than fake ones, are IVF's
far-ranked neighbours in wide cells, and what does a share eps of fakes drawn from one global Gaussian (the
training rows' mean and covariance, normalised) do to search cost and the two-sample test?

Research script of docs/cost/README.md (sixth session); not product code.
Usage: python docs/cost/scratch/cell_radii.py REAL default bridge=0.75 eps=0.05 eps=0.1 eps=0.2
"""
import sys

import faiss
import numpy as np
from common import split

from synth.metrics.searchcost import cost_ratio, ivf_cells, search_cost
from synth.metrics.twosample import knn_two_sample
from synth.models.patch import PatchPCA
from synth.progress import muted

name = sys.argv[1] if len(sys.argv) > 1 else "bundled"
T, B, Q = split(name)
n = len(B)
def diag(lbl, B, Q, real=None):
    C, a = ivf_cells(B)
    sims = (B * C[a]).sum(1)
    nl = len(C)
    rad = np.array([1 - sims[a == c].mean() if (a == c).any() else np.nan for c in range(nl)])
    size = np.bincount(a, minlength=nl)
    idx = faiss.IndexFlatIP(B.shape[1]); idx.add(B); S, I = idx.search(Q, 10)
    order = np.argsort(-(Q @ C.T), axis=1); rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(nl)[None], axis=1)
    pr = np.take_along_axis(rank, a[I], axis=1)  # rank of each neighbour's cell
    far = pr >= 5
    rq = np.percentile(rad, [10, 50, 90])
    rad_far = rad[a[I][far]]; rad_near = rad[a[I][~far]]
    # where does a far neighbour sit in its cell: its cosine to own centroid vs the cell's median
    out = (f"{lbl:14s} radius p10/50/90 {rq[0]:.3f}/{rq[1]:.3f}/{rq[2]:.3f} cv {np.nanstd(rad)/np.nanmean(rad):.2f}"
           f" size cv {size.std()/size.mean():.2f} | far-nbr share {far.mean():.2f}"
           f" radius far {np.median(rad_far) if far.any() else np.nan:.3f} near {np.median(rad_near):.3f}"
           f" | far nbr cos-to-centroid {np.median(sims[I][far]) if far.any() else np.nan:.3f} all {np.median(sims):.3f}")
    c = search_cost(B, Q)
    if real is not None:
        r = cost_ratio(c, real)
        out += f" | IVF {r['ivf']:.2f} HNSW {r['hnsw']:.2f}"
    print(out, flush=True)
    return c
real = diag("real", B, Q)
HT = B[:1000]
mu, cov = T.mean(0), np.cov(T, rowvar=False)
L = np.linalg.cholesky(cov + 1e-9 * np.eye(len(cov)))
def fog(m, seed):
    z = np.random.default_rng(seed).standard_normal((m, len(mu))) @ L.T + mu
    return (z / np.linalg.norm(z, axis=1, keepdims=True)).astype(np.float32)
for spec in sys.argv[2:] or ["default", "bridge=0.75", "eps=0.05", "eps=0.1", "eps=0.2"]:
    kw = dict(p.split("=") for p in spec.split(",")) if spec != "default" else {}
    eps = float(kw.pop("eps", 0))
    kw = {k: float(v) for k, v in kw.items()}
    with muted():
        m = PatchPCA(random_state=0, **kw).fit(T)
    F = m.sample(n + len(Q), random_state=1)
    if eps:
        rng = np.random.default_rng(3)
        sel = rng.random(len(F)) < eps
        F[sel] = fog(int(sel.sum()), 4)
    diag(spec, F[:n], F[n:], real)
    t = knn_two_sample(HT, F[:1000], k=10, n_permutations=0)
    print(f"    c2st n=1000 {t['c2st']:.3f} real {t['c2st_real']:.3f} fake {t['c2st_fake']:.3f}", flush=True)
