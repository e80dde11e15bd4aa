"""Per-query hardness of a benchmark corpus: relative contrast and LID (:mod:`synth.metrics.hardness`)."""

import numpy as np

from synth.metrics.hardness import lid_from_distances, lid_mle, mean_distance, relative_contrast, summarize

__all__ = ["hardness", "lid_mle", "relative_contrast", "summarize"]


def hardness(corpus, k=10):
    """Relative contrast and LID of a corpus's queries, per query and summarized.

    Cosine corpora: distances between unit rows from the cosines. Metric ip / l2 (``corpus.metric``): the
    Euclidean distances of the rows as given, to the metric's true neighbours."""
    if getattr(corpus, "metric", "cosine") != "cosine":
        Q = corpus.queries.astype(np.float64)
        nb = corpus.base[corpus.neighbors[:, :k]].astype(np.float64) - Q[:, None, :]
        d = np.sqrt((nb * nb).sum(axis=2))
        rc = mean_distance(Q, corpus.base, metric="l2") / np.maximum(d[:, k - 1], 1e-12)
        lid = lid_from_distances(d)
        return {"k": k, "rc": summarize(rc), "lid": summarize(lid), "per_query": {"rc": rc, "lid": lid}}
    rc = relative_contrast(corpus.base, corpus.queries, corpus.similarities, k)
    lid = lid_mle(corpus.similarities, k)
    return {"k": k, "rc": summarize(rc), "lid": summarize(lid), "per_query": {"rc": rc, "lid": lid}}
