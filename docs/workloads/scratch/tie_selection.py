"""Scratch: tie fake queries to the fake corpus by selection. At fit time the real queries' cosine to their
nearest corpus training row (N rows) is a distribution the fit can store (a quantile table); at sample time,
candidates from the query model are ranked by the same statistic against the corpus's first N rows, and as many
are kept from each of B quantile bins of the real distribution (stratified), so the kept queries' statistic
follows real's. Measured as bench.querymodel.

Usage: python docs/workloads/scratch/tie_selection.py CORPUS QUERIES FACTOR [STAT] (e.g. minilm-wordnet-all
minilm-wordnet-lemmas 20 gap): FACTOR x the queries wanted are drawn as candidates; 20 quantile bins; STAT
"top1" (default) or "gap" (the nearest row's cosine minus the 10th's).
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

STAT = "top1"


def top1(reference, queries):
    """The statistic the selection matches: the cosine to the nearest row (STAT "top1"), or its margin over
    the 10th nearest (STAT "gap")."""
    sims = knn(reference, queries, k=10)[0].astype(np.float64)
    return sims[:, 0] if STAT == "top1" else sims[:, 0] - sims[:, 9]


def select(cand_s, real_s, m, bins=20, rng=None):
    """Indices of m candidates whose statistic follows real_s, bin by bin (quantile bins of real_s); a bin short
    of candidates takes what it has and the rest come from the nearest bins' leftovers."""
    edges = np.quantile(real_s, np.linspace(0, 1, bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    which = np.clip(np.searchsorted(edges, cand_s, side="right") - 1, 0, bins - 1)
    want = np.full(bins, m // bins)
    want[: m - want.sum()] += 1
    keep, short = [], 0
    for b in range(bins):
        idx = np.flatnonzero(which == b)
        take = min(len(idx), want[b])
        keep += list(rng.choice(idx, size=take, replace=False)) if take else []
        short += want[b] - take
    if short:
        rest = np.setdiff1d(np.arange(len(cand_s)), keep)
        order = rest[np.argsort(-cand_s[rest])]  # the missing ones are the high bins: the closest leftovers
        keep += list(order[:short])
    return np.sort(np.array(keep))


def main(corpus_name, query_name, factor, n=30000, m=1000):
    C = metric_rows(load_real(corpus_name), "cosine", 2)
    Q = metric_rows(load_real(query_name), "cosine", 2)
    rng = np.random.default_rng(0)
    oc, oq = rng.permutation(len(C)), rng.permutation(len(Q))
    T, base = C[oc[:10000]], C[oc[10000:10000 + n]]
    QT, test = Q[oq[:10000]], Q[oq[10000:10000 + m]]
    corpus_model = PatchPCA(random_state=0).fit(T)
    query_model = PatchPCA(random_state=0).fit(QT)
    real_s = top1(T, QT)  # what the fit can store: training queries against training corpus rows
    fake_base = corpus_model.sample(n, random_state=1)
    reference = fake_base[:10000]  # the corpus's first N rows
    cand = query_model.sample(factor * m, random_state=2)
    cand_s = top1(reference, cand)
    print(f"{STAT} at N: real queries median {np.median(real_s):.3f} [p10 {np.percentile(real_s, 10):.3f}, "
          f"p90 {np.percentile(real_s, 90):.3f}]; candidates {np.median(cand_s):.3f} "
          f"[{np.percentile(cand_s, 10):.3f}, {np.percentile(cand_s, 90):.3f}]", flush=True)
    keep = select(cand_s, real_s, m, rng=np.random.default_rng(3))
    real_cost = search_cost(base, test[:500])
    rp = profile(base, test[:500])
    print(f"real: profile {rp['1']:.3f} / {rp['10']:.3f} / {rp['100']:.3f}", flush=True)
    for name, F in (("query model", cand[:m]), (f"tied, {factor}x candidates", cand[keep])):
        t = knn_two_sample(test, F, k=10, n_permutations=0)
        r = cost_ratio(search_cost(fake_base, F[:500]), real_cost)
        p = profile(fake_base, F[:500])
        print(f"{name}: c2st {t['c2st']:.3f} / {t['c2st_real']:.3f} / {t['c2st_fake']:.3f}; profile "
              f"{p['1']:.3f} / {p['10']:.3f} / {p['100']:.3f}; {STAT} at N median {np.median(top1(reference, F)):.3f}; "
              f"fake / real ivf {r['ivf']:.2f} hnsw {r['hnsw']:.2f}", flush=True)


if __name__ == "__main__":
    STAT = sys.argv[4] if len(sys.argv) > 4 else "top1"
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
