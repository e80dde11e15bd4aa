"""Scratch: queries tied to the corpus by a partner. A real query q has a nearest corpus row c*(q); the offset
d = q - c* is modelled (mean + top-64 principal directions + isotropic rest, fitted on the query fitting rows'
offsets to the corpus fitting rows), and a fake query is normalize(b + d') with b a random row of the fake base
and d' a draw of the offset model. Against the independent query model of `synth fit --queries`.

Usage: python docs/workloads/scratch/partner_queries.py CORPUS QUERIES (e.g. minilm-wordnet-all
minilm-wordnet-lemmas). Splits and measures as bench.querymodel (N = Nq = 10,000, n = 30,000, 500 test
queries, c2st at 1,000 per side); also the offset scaled by 0.8 and 1.2.
"""
import sys

import numpy as np

from bench.querymodel import profile
from synth.bundled import load_real
from synth.metric import metric_rows
from synth.metrics.neighbors import knn
from synth.metrics.searchcost import cost_ratio, search_cost
from synth.metrics.twosample import knn_two_sample
from synth.models import PatchPCA


def offset_model(D, rank=64):
    mu = D.mean(0)
    _, s, Vt = np.linalg.svd(D - mu, full_matrices=False)
    lam = s ** 2 / (len(D) - 1)
    return mu, Vt[:rank], lam[:rank], lam[rank:].sum() / (D.shape[1] - rank)


def draw(model, m, rng):
    mu, V, lam, rest = model
    z = rng.standard_normal((m, len(lam)))
    return mu + (z * np.sqrt(lam)) @ V + np.sqrt(rest) * rng.standard_normal((m, len(mu)))


def main(corpus_name, query_name, n=30000):
    C = metric_rows(load_real(corpus_name), "cosine", 2)
    Q = metric_rows(load_real(query_name), "cosine", 2)
    rng = np.random.default_rng(0)
    oc, oq = rng.permutation(len(C)), rng.permutation(len(Q))
    T, base = C[oc[:10000]], C[oc[10000:10000 + n]]
    QT, test = Q[oq[:10000]], Q[oq[10000:11000]]
    corpus_model = PatchPCA(random_state=0).fit(T)
    query_model = PatchPCA(random_state=0).fit(QT)
    _, nearest = knn(T, QT, k=1)
    off = offset_model((QT - T[nearest[:, 0]]).astype(np.float64))
    fake_base = corpus_model.sample(n, random_state=1)
    real_cost = search_cost(base, test[:500])
    print(f"real: profile {profile(base, test[:500])} cost {real_cost}", flush=True)
    g = np.random.default_rng(5)
    sources = {"query model": query_model.sample(1000, random_state=2)}
    for scale in (0.8, 1.0, 1.2):
        P = fake_base[g.integers(0, n, size=1000)] + scale * draw(off, 1000, g)
        sources[f"partner x{scale}"] = (P / np.linalg.norm(P, axis=1, keepdims=True)).astype(np.float32)
    for name, F in sources.items():
        t = knn_two_sample(test, F, k=10, n_permutations=0)
        r = cost_ratio(search_cost(fake_base, F[:500]), real_cost)
        prof = profile(fake_base, F[:500])
        print(f"{name}: c2st {t['c2st']:.3f} / {t['c2st_real']:.3f} / {t['c2st_fake']:.3f}; profile "
              f"{prof['1']:.3f} / {prof['10']:.3f} / {prof['100']:.3f}; fake / real ivf {r['ivf']:.2f} hnsw {r['hnsw']:.2f}",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
