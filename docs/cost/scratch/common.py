"""Shared by the research scripts here: a real set (named or .npy) as unit rows in a seeded order, and its
split into fit, base and queries."""
import numpy as np

from synth.bundled import load_real


def shuffled(name):
    """Unit rows of ``name`` (float32) in the order of a seed-0 permutation."""
    X = load_real(name) if not name.endswith(".npy") else np.load(name)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    return X[np.random.default_rng(0).permutation(len(X))]


def near_pairs(X, c, chunk=1000, max_pairs=20_000_000):
    """Pairs (i, j), i != j, of unit rows of ``X`` with cosine >= ``c`` (both directions), and their cosines.
    Stops with an error past ``max_pairs`` (a threshold below the set's typical cosines, as 0.85 on e5 embeddings,
    would otherwise fill the memory)."""
    import faiss
    faiss.omp_set_num_threads(1)
    index = faiss.IndexFlatIP(X.shape[1])
    index.add(np.ascontiguousarray(X))
    src, dst, cos = [], [], []
    for a in range(0, len(X), chunk):
        lims, D, I = index.range_search(np.ascontiguousarray(X[a:a + chunk]), float(c))
        s = a + np.repeat(np.arange(len(lims) - 1), np.diff(lims).astype(np.int64))
        keep = s != I
        src.append(s[keep]), dst.append(I[keep]), cos.append(D[keep])
        if sum(len(v) for v in src) > max_pairs:
            raise ValueError(f"more than {max_pairs:,} pairs at cosine >= {c}: choose a higher threshold")
    return np.concatenate(src), np.concatenate(dst), np.concatenate(cos)


def deduped(name, c):
    """:func:`shuffled` rows of ``name`` with near duplicates dropped greedily in that order: a row goes when its
    cosine to an already kept row is >= ``c``. The kept rows keep the seed-0 order."""
    X = shuffled(name)
    src, dst, _ = near_pairs(X, c)
    earlier = src > dst
    src, dst = src[earlier], dst[earlier]
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    lims = np.searchsorted(src, np.arange(len(X) + 1))
    keep = np.ones(len(X), bool)
    for i in np.unique(src):
        if keep[dst[lims[i]:lims[i + 1]]].any():
            keep[i] = False
    return X[keep]


def load_set(name):
    """``dedup:C:NAME`` is :func:`deduped` (NAME, C); any other name :func:`shuffled`."""
    if name.startswith("dedup:"):
        _, c, rest = name.split(":", 2)
        return deduped(rest, float(c))
    return shuffled(name)


def split(name, N=10000, nq=1000, n=10000):
    """:func:`shuffled` rows cut into N to fit, a base of n held-out rows and nq queries."""
    X = shuffled(name)
    n = min(n, len(X) - N - nq)
    return X[:N], X[N:N + n], X[N + n:N + n + nq]


class FitTime:
    """The fit-time protocol of ``bridge="auto"``: real cost on a base of up to 10,000 of the N training
    rows ``T`` with 1,000 others as queries (seed-5 order); :meth:`line` measures a model's fakes the same
    way and, with held-out rows ``HT``, the c2st at ``len(HT)``."""

    def __init__(self, T, HT=None, nq=1000):
        from synth.metrics.searchcost import search_cost
        self.nq, self.nb, self.HT = nq, min(10000, len(T) - nq), HT
        o = np.random.default_rng(5).permutation(len(T))
        self.real = search_cost(T[o[nq:nq + self.nb]], T[o[:nq]])

    def line(self, model):
        from synth.metrics.searchcost import cost_ratio, search_cost
        from synth.metrics.twosample import knn_two_sample
        F = model.sample(self.nb + self.nq, random_state=1)
        r = cost_ratio(search_cost(F[:self.nb], F[self.nb:]), self.real)
        out = f"fit-time ivf {r['ivf']:.2f} hnsw {r['hnsw']:.2f}"
        if self.HT is not None and len(self.HT):
            t = knn_two_sample(self.HT, model.sample(len(self.HT), random_state=2), k=10, n_permutations=0)
            out += f" | c2st n={len(self.HT)}: {t['c2st']:.3f} real {t['c2st_real']:.3f} fake {t['c2st_fake']:.3f}"
        return out


def fit_time_args(argv):
    """``REAL N N_TEST`` of a fit-time script's command line: the N fitting rows, N_TEST held-out rows
    and the :class:`FitTime` harness over them."""
    X = shuffled(argv[1])
    N, NT = int(argv[2]), int(argv[3])
    T, HT = X[:N], X[N:N + NT]
    return T, HT, FitTime(T, HT)


def band_line(label, board):
    """One line of a query-band board (bench.querybands.band_board): per band, fake / real cost at recall
    0.95 and the real / fake median relative contrast."""
    cells = []
    for b in board["params"]["bands"]:
        ratio = board["ratios"][b]
        rc = (board["real"][b]["hardness"]["rc"]["median"], board["fake"][b]["hardness"]["rc"]["median"])
        cells.append(f"{b}: ivf {ratio['ivf']:.2f} hnsw {ratio['hnsw']:.2f} (rc {rc[0]:.3f} / {rc[1]:.3f})")
    return f"{label}: " + " | ".join(cells)
