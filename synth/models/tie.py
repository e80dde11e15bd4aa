"""What ties a query model to its corpus model: how near real queries come to the corpus, and where they land.

A real query has one or a few corpus rows close to it (a word and its definition, a package name and its
description); a query drawn from a query model fitted on its own does not know the corpus. `synth fit CORPUS
--queries QUERIES` stores, beside the two models, the *tie* (the header's ``queries.tie`` entry):

- ``real``: the quantile table of the real training queries' cosine to their nearest training corpus row
  (among the N rows the corpus model was fitted on);
- ``fake``: the same table for as many query-model fakes against N corpus-model fakes (seeds of their own);
- ``landing``: the share of real training queries (``real``) and of those query-model fakes (``fake``) whose
  nearest corpus patch mean is each patch's (for models with patch means), so the sampled queries' landing can be
  compared with real's.

Each quantile level is the mean of at least ``min_points`` consecutive sorted values (as the attribute model's
table: :func:`synth.models.attributes.quantile_table`), and a patch's landing share is stored only when at least
``min_points`` training queries land there (the rest are pooled into ``other``): no stored number is one query's.

`synth sample --query-tie pull` uses it (:func:`pull`): each drawn query ``u`` is moved along the great circle
towards its nearest row ``x`` among the corpus stream's first N rows until its cosine to ``x`` is
``Q_real(F_fake(cos(u, x)))`` (quantile mapping from the fake table to the real one); a query already nearer stays.
Measured in docs/workloads.md ("Query models"): the nearest row comes closer, the queries get cheaper to search and
easier to tell from real queries; off by default.
"""

import numpy as np

from ..metrics.neighbors import knn

TIE_LEVELS = 64  # at most this many quantile levels per table (more queries: more per level)


def nearest_cosines(reference, rows):
    """Cosine of each of ``rows`` to its nearest row of ``reference`` (unit rows) and that row's index."""
    sims, ids = knn(reference, rows, k=1)
    return sims[:, 0].astype(np.float64), ids[:, 0]


def _table(values, min_points):
    from .attributes import quantile_table

    levels, positions = quantile_table(values, min_points, TIE_LEVELS)
    return {"levels": [round(float(v), 6) for v in levels], "positions": [round(float(p), 6) for p in positions]}


def landing_counts(means, rows):
    """How many of ``rows`` have each of ``means`` as their nearest (largest inner product)."""
    return np.bincount(np.argmax(rows @ means.T, axis=1), minlength=len(means))


def _landing(means, rows, min_points=None):
    """Shares of ``rows`` whose nearest mean is each; with ``min_points``, shares of fewer rows pooled as ``other``."""
    counts = landing_counts(means, rows)
    if min_points is not None:
        small = counts < min_points
        other = int(counts[small].sum())
        counts = np.where(small, 0, counts)
    else:
        other = 0
    return {"shares": [round(float(c) / len(rows), 6) for c in counts], "other": round(other / len(rows), 6)}


def fit_tie(model, query_model, X, Q, corpus_fakes, query_fakes, min_points=20):
    """The tie of a corpus ``model`` and its ``query_model``, fitted on the training corpus rows ``X`` and queries
    ``Q`` and on fakes of both (``corpus_fakes`` as many as ``X``; all unit rows). A dict for the model header."""
    real, _ = nearest_cosines(X, Q)
    fake, _ = nearest_cosines(corpus_fakes, query_fakes)
    tie = {"rows": int(len(X)), "queries": int(len(Q)), "min_points": int(min_points),
           "real": _table(real, min_points), "fake": _table(fake, min_points),
           "median": {"real": round(float(np.median(real)), 4), "fake": round(float(np.median(fake)), 4)}}
    means = getattr(model, "means_", None)
    if means is not None:
        means = np.asarray(means, np.float32)
        tie["landing"] = {"real": _landing(means, Q, min_points), "fake": _landing(means, query_fakes)}
        tie["landing"]["distance"] = landing_distance(tie, model, query_fakes)
    return tie


def landing_distance(tie, model, queries):
    """Total variation distance between the patches ``queries`` land in and the real training queries' (the
    pooled ``other`` share counted as one bin), or None without patch means."""
    means = getattr(model, "means_", None)
    if means is None or "landing" not in tie:
        return None
    real = tie["landing"]["real"]
    a = np.append(np.asarray(real["shares"]), real["other"])
    b = landing_counts(np.asarray(means, np.float32), queries) / len(queries)
    pooled = np.asarray(real["shares"]) == 0
    b = np.append(np.where(pooled, 0.0, b), b[pooled].sum())
    return round(float(0.5 * np.abs(a - b).sum()), 4)


def targets(tie, cosines):
    """``Q_real(F_fake(cosines))``: the cosine each query is pulled to (both tables interpolated linearly)."""
    fake, real = tie["fake"], tie["real"]
    p = np.interp(cosines, fake["levels"], fake["positions"])
    return np.interp(p, real["positions"], real["levels"])


def pull(reference, queries, tie):
    """Queries (unit rows) pulled towards their nearest row of ``reference`` (:func:`targets`); returns
    ``(pulled float32 rows, report)``. A query is only moved towards its row, never away."""
    u = np.asarray(queries, np.float64)
    cos, ids = nearest_cosines(reference, queries)
    x = np.asarray(reference, np.float64)[ids]
    a = np.clip(np.sum(u * x, axis=1), -1.0, 1.0)
    w = u - a[:, None] * x
    norm = np.linalg.norm(w, axis=1, keepdims=True)
    w = np.divide(w, norm, out=np.zeros_like(w), where=norm > 0)
    theta = np.arccos(a)
    phi = np.arccos(np.clip(targets(tie, cos), -1.0, 1.0))
    move = (phi < theta) & (norm[:, 0] > 0)
    phi = np.where(move, phi, theta)
    q = np.cos(phi)[:, None] * x + np.sin(phi)[:, None] * w
    q = np.where(move[:, None], q, u)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    after = np.sum(q * x, axis=1)
    report = {"rows": int(len(reference)), "moved": round(float(move.mean()), 4),
              "median_move_cosine": round(float(np.median(np.sum(q * u, axis=1)[move])), 4) if move.any() else 1.0,
              "nearest_median_before": round(float(np.median(cos)), 4),
              "nearest_median_after": round(float(np.median(after)), 4),
              "nearest_median_real": tie["median"]["real"]}
    return q.astype(np.float32), report
