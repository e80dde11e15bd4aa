"""Benchmark suites: equal-size corpora (real, fake, fog, random), disjoint queries, exact ground truth.

A suite saves as one ann-benchmarks HDF5 file per corpus (``train``, ``test``, ``neighbors``,
``distances``; ``distance = "angular"``), which ann-benchmarks and VIBE open as they are.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synth.errors import SynthError
from synth.io.formats import atomic_path
from synth.metrics.neighbors import knn
from synth.models import Fog, PatchPCA, RandomSphere
from synth.progress import planned, stage

CORPORA = ("real", "fake", "fog", "random")
DEPTH = 100  # neighbours stored per query, as ann-benchmarks does
MIN_FIT = 2000  # real points needed to fit a model on the spot
CORPUS_SECONDS = 0.45  # one corpus of 10,000 rows with the exact top-100 of 1,000 queries (see suite_plan)


@dataclass
class Corpus:
    """One corpus of a suite.

    Attributes
    ----------
    name : str
    base : ndarray of shape (n, d), float32 unit rows
    queries : ndarray of shape (n_queries, d), float32 unit rows, none of them in ``base``
    neighbors : ndarray of shape (n_queries, depth), int64
        Exact nearest base rows by cosine, best first.
    similarities : ndarray of shape (n_queries, depth), float32
        Their cosines, descending.
    meta : dict
        How the corpus was made.
    path : str, optional
        The file it was read from (named in errors); None for a corpus built in memory.
    """

    name: str
    base: np.ndarray
    queries: np.ndarray
    neighbors: np.ndarray
    similarities: np.ndarray
    meta: dict = field(default_factory=dict)
    path: str | None = None
    metric: str = "cosine"


def ground_truth(base, queries, depth=DEPTH, metric="cosine"):
    """Exact top-``depth`` neighbours of each query by inner product (cosine on unit rows), faiss flat;
    ``metric="l2"``: by Euclidean distance, with minus the squared distance as the similarity (larger is
    nearer, as for the others)."""
    if metric == "l2":
        dist, ids = knn(base, queries, k=min(depth, len(base)), metric="l2")
        return ids.astype(np.int64), -dist
    sims, ids = knn(base, queries, k=min(depth, len(base)))
    return ids.astype(np.int64), sims


def make_corpus(name, base, queries, depth=DEPTH, metric="cosine", **meta):
    """A :class:`Corpus` with its exact ground truth by ``metric`` (cosine, ip or l2)."""
    from synth.metric import check_metric

    ids, sims = ground_truth(base, queries, depth, check_metric(metric))
    return Corpus(name, base, queries, ids, sims, dict(meta), metric=metric)


def suite_plan(model=None, n=10_000, n_queries=1000, **_):
    """The steps of :func:`build_suite` and their seconds, for the estimate of the time left
    (:mod:`synth.progress`): the fits, as ``synth fit`` measured them, then each corpus, growing with its
    rows times its queries (the exact ground truth). Measured by ``bench compare`` at its defaults (2 cores,
    load 5): 0.35 to 0.52 s per corpus."""
    from synth.models.fitting import fit_seconds

    steps = [(("fit", "patch"), fit_seconds(PatchPCA()))] if model is None else []
    steps.append((("fit", "fog"), fit_seconds(Fog())))
    return steps + [(name, CORPUS_SECONDS * n / 10_000 * n_queries / 1000) for name in CORPORA]


@planned(suite_plan)
def build_suite(real, model=None, n=10_000, n_queries=1000, depth=DEPTH, random_state=0, verbose=0,
                metric="cosine", fog=None, real_queries=None):
    """Build the four corpora of equal size from held-out real embeddings.

    The real rows are shuffled once: the first ``n`` are the real base, the next ``n_queries`` its queries,
    and, when no ``model`` is given, the rest fit a patch model on the spot. The fog is fitted on the same
    real rows as the model (or on the real base when a model is given). The fake, fog and random corpora
    draw their base and their queries from separate seed streams.

    Parameters
    ----------
    real : ndarray of shape (n_real, d)
    model : synth.models.Generator, optional
        A fitted model; by default a :class:`~synth.models.PatchPCA` fitted on the leftover real rows.
    n, n_queries, depth : int
    random_state : int
    verbose : int
    fog : synth.models.Fog, optional
        A fitted fog; by default one fitted on the spot (see above).
    metric : {"cosine", "ip", "l2"}
        Ground truth and recall of every corpus. With ip / l2 the real rows keep their norms and the fake
        corpus comes from a patch model of that metric (a given ``model`` must have it); the fog and random
        corpora stay unit rows (cosine-only models), searched by the same metric.
    real_queries : ndarray of shape (n_rq, d), optional
        Real queries of another kind than the corpus rows (a word against definitions): the real corpus's
        ``n_queries`` queries are drawn from them (seeded) instead of from ``real``, and the fake corpus's come
        from the model's query model (`synth fit --queries`) when it has one. They must not be rows the query
        model was fitted on.

    Returns
    -------
    dict of str to Corpus
        Keys ``real``, ``fake``, ``fog``, ``random``.
    """
    from synth.metric import metric_rows

    real = metric_rows(real, metric, min_rows=2)
    if model is not None and getattr(model, "metric", "cosine") != metric:
        raise SynthError(f"the model was fitted with metric {getattr(model, 'metric', 'cosine')}, the benchmark "
                         f"asks for {metric} (refit with --metric {metric}, or pass --metric "
                         f"{getattr(model, 'metric', 'cosine')})")
    if real_queries is not None:
        real_queries = metric_rows(real_queries, metric, min_rows=1)
        if real_queries.shape[1] != real.shape[1]:
            raise SynthError(f"the real queries have dimension {real_queries.shape[1]}, the real rows "
                             f"{real.shape[1]}")
        if len(real_queries) < n_queries:
            raise SynthError(f"{len(real_queries):,} real queries are too few for --queries {n_queries:,}")
    need = n + (n_queries if real_queries is None else 0) + (0 if model is not None else MIN_FIT)
    if len(real) < need:
        fit_note = "" if model is not None else f" + at least {MIN_FIT} to fit a model (or pass --model)"
        raise SynthError(f"{len(real)} real vectors are too few: n={n} + queries={n_queries}{fit_note}")
    order = np.random.default_rng(random_state).permutation(len(real))
    if real_queries is not None:
        pick = np.random.default_rng(random_state).permutation(len(real_queries))[:n_queries]
        base, queries, rest = real[order[:n]], real_queries[np.sort(pick)], real[order[n:]]
    else:
        base, queries, rest = real[order[:n]], real[order[n:n + n_queries]], real[order[n + n_queries:]]
    if model is None:
        stage(f"fitting patch on the {len(rest):,} leftover real rows", step=("fit", "patch"))
        model = PatchPCA(random_state=random_state, verbose=verbose, metric=metric).fit(rest)
    elif model.n_features_ != real.shape[1]:
        raise SynthError(f"the model has dimension {model.n_features_}, the real data {real.shape[1]}")
    if fog is None:
        stage("fitting fog", step=("fit", "fog"))
        fog = Fog(random_state=random_state, verbose=verbose).fit(rest if len(rest) >= MIN_FIT else base)
    sphere = RandomSphere().fit(base)
    seeds = np.random.SeedSequence(random_state).generate_state(6)
    stage(f"real corpus: {n:,} rows, exact ground truth of {n_queries:,} queries", step="real")
    suite = {"real": make_corpus("real", base, queries, depth, metric=metric, source="held-out real",
                                 random_state=random_state)}
    if real_queries is not None:
        suite["real"].meta["queries"] = "real queries (not corpus rows)"
    for i, (name, gen) in enumerate((("fake", model), ("fog", fog), ("random", sphere))):
        b, q = int(seeds[2 * i]), int(seeds[2 * i + 1])
        stage(f"{name} corpus: sampling {n:,} + {n_queries:,} rows, exact ground truth", step=name)
        qgen = getattr(gen, "query_model_", None) if real_queries is not None and name == "fake" else None
        suite[name] = make_corpus(name, gen.sample(n, random_state=b), (qgen or gen).sample(n_queries, random_state=q),
                                  depth, metric=metric, source=f"{gen.kind} model", base_seed=b, query_seed=q,
                                  model_params={k: v for k, v in gen.get_params().items() if k != "verbose"})
        if qgen is not None:
            suite[name].meta["queries"] = "from the model's query model"
    return suite


def save_corpus(corpus, path):
    """Write a corpus as an ann-benchmarks HDF5 file (atomically); ``distance`` names its metric (angular,
    dot, euclidean) and ``distances`` are that metric's (:func:`synth.metric.ann_distances`)."""
    import h5py

    from synth.metric import ANN_DISTANCE, ann_distances

    metric = getattr(corpus, "metric", "cosine")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(distance=ANN_DISTANCE[metric], dimension=corpus.base.shape[1], point_type="float",
                           type="dense", corpus=corpus.name, meta=json.dumps(corpus.meta))
            f["train"], f["test"] = corpus.base, corpus.queries
            f["neighbors"] = corpus.neighbors
            f["distances"] = ann_distances(corpus.similarities, metric)  # angular: 1 - cosine


def load_corpus(path):
    """Read a corpus from an ann-benchmarks HDF5 file (``distance`` ``angular``, or ``euclidean`` / ``dot``:
    metric l2 / ip, rows kept as stored)."""
    import h5py

    from synth.metric import ann_scores, metric_name, metric_rows

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SynthError(f"not a readable HDF5 file ({e})", path) from None
    with f:
        missing = [key for key in ("train", "test", "neighbors", "distances") if key not in f]
        if missing:
            raise SynthError(f"not an ann-benchmarks file: no {', '.join(missing)}", path)
        distance = f.attrs.get("distance")
        metric = metric_name(distance)
        if metric is None:
            raise SynthError(f"distance is {distance!r}; this harness reads 'angular' (cosine), 'euclidean' (l2) "
                             "and 'dot' (ip)", path)
        name = str(f.attrs.get("corpus", Path(path).stem))
        base, queries = metric_rows(f["train"][()], metric, path=path), metric_rows(f["test"][()], metric, path=path)
        ids, sims = f["neighbors"][()].astype(np.int64), ann_scores(f["distances"][()], metric)
        meta = json.loads(f.attrs.get("meta", "{}"))
    if ids.shape != sims.shape or len(ids) != len(queries) or base.shape[1] != queries.shape[1]:
        raise SynthError("train/test/neighbors/distances shapes disagree", path)
    return Corpus(name, base, queries, ids, sims, meta, path=str(path), metric=metric)


def save_suite(suite, folder):
    """Write each corpus to ``folder/<name>.h5``; returns the paths."""
    stage(f"saving the corpora to {folder}", step="save")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, corpus in suite.items():
        save_corpus(corpus, folder / f"{name}.h5")
        paths.append(folder / f"{name}.h5")
    return paths


def load_suite(paths):
    """Read corpora from HDF5 files, or from every ``*.h5`` in a folder; keyed by corpus name."""
    stage(f"reading {', '.join(map(str, paths))}")
    files = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.h5")) if p.is_dir() else [p]
    if not files:
        raise SynthError("no .h5 files found", ", ".join(map(str, paths)))
    suite = {}
    for path in files:
        corpus = load_corpus(path)
        if corpus.name in suite:
            raise SynthError(f"a second corpus named {corpus.name!r}", path)
        suite[corpus.name] = corpus
    return dict(sorted(suite.items(), key=lambda kv: CORPORA.index(kv[0]) if kv[0] in CORPORA else 99))
