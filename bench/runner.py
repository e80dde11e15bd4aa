"""Run index plug-ins over a suite: recall, distance computations and QPS along each sweep, and the cost
interpolated at target recalls (protocol: REFERENCE "Search cost at equal recall")."""

import platform
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from synth.errors import SynthError
from synth.metrics.searchcost import cost_at_recall
from synth.progress import begin, plan, stage

from .hardness import hardness
from .indexes import require

TARGETS = (0.90, 0.95, 0.99)
EPSILON = 1e-3  # tie tolerance on cosine, as ann-benchmarks' recall threshold
# seconds, for the estimate of the time left (synth.progress; run_steps, bench_steps): one index setting on one
# corpus of 10,000 rows (the mean of faiss-hnsw, faiss-ivf and hnswlib: the diffuse corpora cost more to search;
# another name counts as their mean), the hardness of one corpus, saving a suite of four, writing the results
JOB_SECONDS = {"real": 8.0, "fake": 7.0, "fog": 15.0, "random": 22.0}
HARDNESS_SECONDS, SAVE_SECONDS, WRITE_SECONDS = 0.25, 0.25, 1.6


def recall_at_k(ids, corpus, k, epsilon=EPSILON):
    """Tie-tolerant recall@k of each query.

    A returned row counts as a hit when its cosine to the query is at least the k-th true neighbour's
    minus ``epsilon``, so an index is not penalised for returning a different member of a tie.

    Parameters
    ----------
    ids : ndarray of shape (n_queries, k), int
        Returned rows, -1 for missing.
    corpus : bench.suites.Corpus
    k : int

    Returns
    -------
    recall : ndarray of shape (n_queries,)
    """
    ids = np.asarray(ids)[:, :k]
    valid = ids >= 0
    found = corpus.base[np.where(valid, ids, 0)]
    if getattr(corpus, "metric", "cosine") == "l2":  # minus the squared distance, as the ground truth holds
        sims = -np.einsum("qkd,qkd->qk", found - corpus.queries[:, None, :], found - corpus.queries[:, None, :])
    else:
        sims = np.einsum("qd,qkd->qk", corpus.queries, found)
    threshold = corpus.similarities[:, k - 1:k] - epsilon
    hits = (valid & (sims >= threshold)).sum(axis=1)
    return np.minimum(hits, k) / k


def measure_index(spec, build_params, corpus, k=10, repeats=3):
    """Build one index on one corpus and sweep its query parameter.

    QPS is single-threaded: the batch of queries is searched ``repeats`` times and the median time is
    used; the first pass also gives the recall and the distance count. The sweep stops at the first
    setting whose recall is 1.

    Returns
    -------
    dict
        ``build_params``, ``build_seconds``, ``memory_bytes`` and ``curve``: one point per query setting
        with ``param``, ``recall``, ``ndis`` (distance computations per query, None where the library
        keeps no counter) and ``qps``; ``build_details`` where the index reports parts of its build time.
    """
    n, d = corpus.base.shape
    setting = ",".join(f"{k_}={v}" for k_, v in build_params.items())
    stage(f"{spec.name}{f'[{setting}]' if setting else ''} on {corpus.name} ({n:,} rows): build and sweep")
    index = spec.create(build_params, n, d, metric=getattr(corpus, "metric", "cosine"))
    index.warm_up(d)  # a first-use cost (numba compilation) is not build time
    with index:  # open: a database server starts before the timed build; close: it stops, also on an error
        t0 = time.perf_counter()
        index.build(corpus.base)
        build_seconds = time.perf_counter() - t0
        curve = sweep(index, spec, index.search, corpus, k, repeats)
        out = {"build_params": getattr(index, "build_params", build_params), "build_seconds": round(build_seconds, 3),
               "memory_bytes": index.memory_bytes(), "curve": curve}
        details = index.build_details()
    if details:
        out["build_details"] = {key: round(value, 3) for key, value in details.items()}
    return out


def sweep(index, spec, search, corpus, k, repeats=3, stop_at=1.0, values=None):
    """Sweep a built index's query parameter: per setting (cheapest first) ``param``, tie-tolerant ``recall``
    against ``corpus`` (its queries, ground truth and base), ``ndis`` per query (None without a counter) and
    single-thread ``qps`` (median of ``repeats`` passes of ``search(queries, k)``; the first pass gives the results
    and the counters). Stops at the first setting whose recall reaches ``stop_at``. ``values``: the settings
    (default: the plug-in's grid)."""
    curve = []
    for value in spec.query_values if values is None else values:
        index.set_query_params(**({spec.query_param: value} if spec.query_param else {}))
        index.reset_counters()
        times, ids, count = [], None, None
        for _ in range(repeats):
            t0 = time.perf_counter()
            found = search(corpus.queries, k)
            times.append(time.perf_counter() - t0)
            if ids is None:
                ids, count = found, index.distance_count()
        curve.append({"param": value, "recall": float(recall_at_k(ids, corpus, k).mean()),
                      "ndis": None if count is None else count / len(corpus.queries),
                      "qps": len(corpus.queries) / float(np.median(times))})
        if curve[-1]["recall"] >= stop_at:  # costlier settings cannot add (needed) recall
            break
    return curve


def cost_at_target(curve, target, key):
    """Interpolate a cost along a sweep at a target recall.

    The sweep is taken in its order (cheapest setting first) and reduced to its frontier: the settings
    that reach more recall than every cheaper one. Between the last frontier setting below the target and
    the first at or above it the cost is interpolated linearly in recall; for ``qps`` the time per query is
    interpolated, then inverted.

    Returns
    -------
    float or None
        None when the sweep never reaches the target ("not reached") or the counter is missing.
    """
    values = [p[key] for p in curve]
    if any(v is None for v in values):
        return None
    recall = [p["recall"] for p in curve]
    if key != "qps":
        return cost_at_recall(recall, values, target)
    seconds = cost_at_recall(recall, [1.0 / v for v in values], target)  # time per query, interpolated
    return None if seconds is None else float(1.0 / seconds)


def costs_at_targets(r, targets):
    """Add ``ndis_at_target`` and ``qps_at_target`` (keys like ``"0.95"``) to a :func:`measure_index` result."""
    for key in ("ndis", "qps"):
        r[f"{key}_at_target"] = {f"{t:.2f}": cost_at_target(r["curve"], t, key) for t in targets}
    return r


def module_version(module):
    """The version of an importable module: its ``__version__`` once imported, else that of the installed
    distribution of the same name; None when neither is known."""
    from importlib import metadata

    version = getattr(sys.modules.get(module), "__version__", None)
    if version:
        return str(version)
    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return None


def library_versions(specs):
    """Versions of Python, this package, numpy and the libraries the index plug-ins of a run import.

    Parameters
    ----------
    specs : list of bench.indexes.IndexSpec

    Returns
    -------
    dict of str to str
        ``python``, ``synth-embeddings``, then one entry per module whose version is known (``faiss``, ...).
    """
    from synth import __version__

    modules = ["numpy", "faiss", "hnswlib", *sorted({m for spec in specs for m in spec.requires})]
    versions = {"python": platform.python_version(), "synth-embeddings": __version__}
    versions.update({m: v for m in modules if (v := module_version(m))})
    return versions


def run(suite, index_names, targets=TARGETS, k=10, repeats=3, verbose=0):
    """Measure every index on every corpus of a suite.

    Parameters
    ----------
    suite : dict of str to Corpus
    index_names : list of str
        Registered plug-in names (``bench.indexes.registry()``).
    targets : sequence of float
    k : int
    repeats : int

    Returns
    -------
    dict
        ``results[index][corpus]`` with ``ndis_at_target``, ``qps_at_target`` (keys like ``"0.95"``),
        ``curve``, ``build_seconds``, ``memory_bytes``, ``build_params``; ``indexes[index]`` with the
        counter's meaning; ``hardness[corpus]`` summaries (per-query values under ``per_query``);
        ``skipped[index]``: why an index setting that cannot be built on the smallest corpus was left out;
        ``versions``: :func:`library_versions`.
    """
    for name, corpus in suite.items():
        depth = corpus.neighbors.shape[1]
        if depth < k:
            raise SynthError(f"corpus {name!r} holds {depth} true neighbours per query (base of {len(corpus.base)} "
                             f"rows); k = {k} needs {k}", corpus.path)
    specs = require(index_names)  # an unknown or uninstalled index stops the run before any work
    smallest = min(suite.values(), key=lambda c: len(c.base))
    n, d = smallest.base.shape
    jobs, skipped = [], {}
    for spec in specs:
        for params in spec.build_grid:
            key = spec.name if len(spec.build_grid) == 1 else (
                spec.name + "[" + ",".join(f"{k_}={v}" for k_, v in params.items()) + "]")
            reason = spec.unbuildable(params, n, d)
            if reason:
                skipped[key] = reason
            else:
                jobs.append((spec, params, key))
    if not jobs:
        key, reason = next(iter(skipped.items()))
        raise SynthError(f"no index asked for can be built on its {n} base rows ({key}: {reason})", smallest.path)
    results, indexes = {}, {}
    bar = tqdm(total=len(jobs) * len(suite), desc="bench", disable=not verbose, leave=False)
    with plan(run_steps(jobs, suite, repeats)):
        for spec, params, key in jobs:
            indexes[key] = {"index": spec.name, "description": spec.description, "counter": spec.counter,
                            "counter_note": spec.counter_note, "query_param": spec.query_param}
            for name, corpus in suite.items():
                bar.set_postfix_str(f"{key} on {name}")
                begin((key, name))
                r = costs_at_targets(measure_index(spec, params, corpus, k=k, repeats=repeats), targets)
                results.setdefault(key, {})[name] = r
                bar.update()
        bar.close()
        stage("hardness of each corpus", step="hardness")
        hard = {name: hardness(corpus, k) for name, corpus in suite.items()}
    return {"k": k, "targets": [float(t) for t in targets], "indexes": indexes, "results": results,
            "skipped": skipped, "hardness": hard, "versions": library_versions(specs)}


def job_seconds(corpus, n, n_queries, repeats=3):
    """Seconds of one index setting on corpus ``corpus`` (its name) of ``n`` rows, for the estimate of the
    time left (:mod:`synth.progress`). Measured by ``bench compare`` at its defaults (10,000 rows, 1,000
    queries, 3 repeats) with faiss-hnsw, faiss-ivf and hnswlib (2 cores, load 5): 5 to 33 s per index and
    corpus (:data:`JOB_SECONDS`: the diffuse corpora cost more to search), 157 s in all, of which the builds
    30 s. So it grows with the rows, and its other 0.8 with the queries and the passes over them too; the
    index builds differ and a sweep stops at recall 1, which the estimate does not know."""
    sweeps = n_queries / 1000 * (1 + repeats) / 4
    return JOB_SECONDS.get(corpus, 13.0) * n / 10_000 * (0.2 + 0.8 * sweeps)


def run_steps(jobs, suite, repeats=3):
    """The steps of :func:`run` and their seconds (:mod:`synth.progress`): each index setting on each corpus
    (:func:`job_seconds`), then the hardness."""
    steps = [((key, name), job_seconds(name, len(corpus.base), len(corpus.queries), repeats))
             for _, _, key in jobs for name, corpus in suite.items()]
    return steps + [("hardness", HARDNESS_SECONDS * len(suite))]


def bench_steps(n, n_queries, index_names, model=None, save=True, repeats=3):
    """The steps of ``bench compare`` (and of a recipe's bench section, which saves no suite) and their
    seconds (:mod:`synth.progress`): building the suite (:func:`bench.suites.suite_plan`), saving it, the
    runs of :func:`run_steps` and writing the results."""
    from .indexes import available, registry
    from .suites import CORPORA, suite_plan

    settings = sum(len(registry()[name].build_grid) for name in (list(index_names) or available()))
    runs = settings * sum(job_seconds(c, n, n_queries, repeats) for c in CORPORA)
    return ([("suite", sum(w for _, w in suite_plan(model=model, n=n, n_queries=n_queries)))]
            + ([("save", SAVE_SECONDS * n / 10_000)] if save else [])
            + [("bench", runs + len(CORPORA) * HARDNESS_SECONDS), ("write", WRITE_SECONDS)])
