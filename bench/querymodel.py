"""Query models, measured: are fake queries from a model fitted on real queries (`synth fit --queries`) more
like real queries, and do they cost what real queries cost, than queries drawn from the corpus model?

Two real sets in one embedding space, a corpus (e.g. WordNet glosses) and its queries (e.g. WordNet lemmas),
are each split by a seeded permutation: the corpus into N fitting rows and a real base of n held-out rows,
the queries into Nq fitting rows and held-out test queries. The corpus model is fitted on the N rows and the
query model, of the same configuration, on the Nq rows (as `synth fit CORPUS --queries QUERIES` does). Then:

- **c2st**: the k-NN two-sample test of held-out real queries against query-model queries, and against
  corpus-model queries (the baseline to beat), with the ceiling (query fitting rows against held-out queries);
- **profile**: the median cosine of a query to its 1st, 10th and 100th nearest base row: real queries on the
  real base, model queries on the fake base (the corpus model's sample of size n);
- **landing**: the total variation distance between the corpus patches (nearest patch mean of the corpus
  model) real queries land in and those fake queries land in;
- **cost**: IVF and HNSW distance computations per query at recall 0.95 (:mod:`synth.metrics.searchcost`) and
  the ratio fake / real, for each query source.

With ``tie``, a third source: the query model's queries pulled by the query tie (:mod:`synth.models.tie`, as
`synth sample --query-tie pull` does) towards the fake base's first N rows.
"""

import numpy as np

from synth.errors import SynthError
from synth.metric import metric_rows
from synth.metrics.neighbors import knn
from synth.metrics.searchcost import cost_ratio, search_cost
from synth.metrics.twosample import knn_two_sample

from .fidelity import fit_config, write_board

SOURCES = ("query model", "query model, pulled tie", "corpus model")  # the second only with tie=True
DEPTHS = (1, 10, 100)


def profile(base, queries):
    """Median cosine of each query to its 1st, 10th and 100th nearest row of ``base``."""
    sims, _ = knn(base, queries, k=max(DEPTHS))
    return {str(d): float(np.median(sims[:, d - 1])) for d in DEPTHS}


def landing(means, real, fake):
    """Total variation distance between the nearest-patch histograms of two query sets."""
    from synth.models.tie import landing_counts

    a = landing_counts(means, real) / len(real)
    b = landing_counts(means, fake) / len(fake)
    return float(0.5 * np.abs(a - b).sum())


def _c2st(real, fake, k):
    t = knn_two_sample(real, fake, k=k, n_permutations=0)
    return {key: float(t[key]) for key in ("c2st", "c2st_real", "c2st_fake")}


def query_model_board(corpus, queries, config=("patch", {}), n_fit=10_000, n_fit_queries=10_000, n=30_000,
                      n_test=500, n_c2st=1_000, k=10, random_state=0, source=None, query_source=None, tie=False):
    """The board of the module's text.

    Parameters
    ----------
    corpus, queries : ndarray of shape (n_rows, d)
        Real corpus rows and real query rows of the same embedding space (normalized here).
    config : (kind, params)
        The configuration both models are fitted with (default: `synth fit`'s).
    n_fit, n_fit_queries, n : int
        N (corpus fitting rows), Nq (query fitting rows), the base size of both corpora.
    n_test, n_c2st : int
        Held-out queries for the costs and the profile, and per side of the two-sample test.
    k : int
        Neighbours (recall@k, the two-sample test's k).

    Returns
    -------
    dict
        ``params``, ``models`` (patch counts, fit seconds), ``c2st`` (per source, and ``ceiling``),
        ``profile`` (``real`` and per source), ``landing`` (per source), ``cost`` (``real`` and per source:
        ``ivf``, ``hnsw``) and ``ratios`` (per source: fake / real).
    """
    corpus = metric_rows(corpus, "cosine", 2, source)
    queries = metric_rows(queries, "cosine", 2, query_source)
    if corpus.shape[1] != queries.shape[1]:
        raise SynthError(f"queries of dimension {queries.shape[1]}, the corpus {corpus.shape[1]}: they must share "
                         "one embedding space", query_source)
    n_held = max(n_test, n_c2st)
    if len(corpus) < n_fit + n:
        raise SynthError(f"{len(corpus):,} corpus rows: {n_fit:,} to fit and a base of {n:,} need {n_fit + n:,}",
                         source)
    if len(queries) < n_fit_queries + n_held:
        raise SynthError(f"{len(queries):,} query rows: {n_fit_queries:,} to fit and {n_held:,} held out need "
                         f"{n_fit_queries + n_held:,}", query_source)
    rng = np.random.default_rng(random_state)
    oc, oq = rng.permutation(len(corpus)), rng.permutation(len(queries))
    fit_rows, base = corpus[oc[:n_fit]], corpus[oc[n_fit:n_fit + n]]
    fit_queries, test = queries[oq[:n_fit_queries]], queries[oq[n_fit_queries:n_fit_queries + n_held]]
    kind, params = config
    corpus_model, t_corpus = fit_config("corpus", kind, dict(params), fit_rows, random_state)
    query_model, t_queries = fit_config("queries", kind, dict(params), fit_queries, random_state)
    seed_b, seed_q = (int(s) for s in np.random.SeedSequence(random_state).generate_state(2))
    fake_base = corpus_model.sample(n, random_state=seed_b)
    fake = {"query model": query_model.sample(n_held, random_state=seed_q),
            "corpus model": corpus_model.sample(n_held, random_state=seed_q)}
    pulled = None
    if tie:  # as `synth fit --queries` stores the tie and `synth sample --query-tie pull` uses it
        from synth.models.fitting import fit_query_tie
        from synth.models.tie import pull

        corpus_model.query_model_ = query_model
        query_model.tie_ = fit_query_tie(corpus_model, fit_rows, fit_queries, random_state)
        rows, pulled = pull(fake_base[:n_fit], fake["query model"], query_model.tie_)
        fake = {"query model": fake["query model"], "query model, pulled tie": rows,
                "corpus model": fake["corpus model"]}
    means = corpus_model.means_.astype(np.float32) if hasattr(corpus_model, "means_") else None
    real_cost = search_cost(base, test[:n_test], k)
    result = {"params": {"n_fit": n_fit, "n_fit_queries": n_fit_queries, "n": n, "n_test": n_test,
                         "n_c2st": n_c2st, "k": k, "seed": random_state, "config": [kind, params],
                         "corpus": source, "queries": query_source},
              "models": {"corpus": {"n_patches": getattr(corpus_model, "n_patches_", None),
                                    "fit_seconds": round(t_corpus, 2)},
                         "queries": {"n_patches": getattr(query_model, "n_patches_", None),
                                     "fit_seconds": round(t_queries, 2)}},
              "c2st": {"ceiling": _c2st(test[:n_c2st], fit_queries[:n_c2st], k)},
              "profile": {"real": profile(base, test[:n_test])},
              "landing": {}, "cost": {"real": real_cost}, "ratios": {}}
    if pulled is not None:
        result["tie"] = {"fit": query_model.tie_, "pull": pulled}
    for name, rows in fake.items():
        result["c2st"][name] = _c2st(test[:n_c2st], rows[:n_c2st], k)
        result["profile"][name] = profile(fake_base, rows[:n_test])
        result["landing"][name] = None if means is None else landing(means, test[:n_test], rows[:n_test])
        result["cost"][name] = search_cost(fake_base, rows[:n_test], k)
        result["ratios"][name] = cost_ratio(result["cost"][name], real_cost)
    return result


def _x(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def markdown(result):
    """The board as Markdown: one row per query source."""
    p = result["params"]
    lines = [f"**Query model** (corpus {p['corpus']}, queries {p['queries']}; models fitted on N = {p['n_fit']:,} "
             f"corpus rows and Nq = {p['n_fit_queries']:,} query rows; base n = {p['n']:,} held-out real rows or "
             f"n corpus-model fakes; {p['n_test']:,} test queries; c2st = k-NN two-sample test of held-out real "
             f"queries against each source at n = {p['n_c2st']:,} per side, pooled / real side / fake side; cost = "
             "distance computations per query at recall 0.95)", "",
             "| queries | c2st | cos to nbr 1 / 10 / 100 | patches landed in (TV distance to real) | IVF | HNSW | "
             "fake / real IVF, HNSW |", "|---|---|---|---|---|---|---|"]
    real = result["profile"]["real"]
    cost = result["cost"]["real"]
    ceiling = result["c2st"]["ceiling"]
    lines.append(f"| real (ceiling: real vs real) | {ceiling['c2st']:.3f} / {ceiling['c2st_real']:.3f} / "
                 f"{ceiling['c2st_fake']:.3f} | " + " / ".join(f"{real[str(d)]:.3f}" for d in DEPTHS)
                 + f" | - | {_x(cost['ivf'], 0)} | {_x(cost['hnsw'], 0)} | |")
    for name in _sources(result):
        t, prof, c, r = (result["c2st"][name], result["profile"][name], result["cost"][name],
                         result["ratios"][name])
        lines.append(f"| {name} | {t['c2st']:.3f} / {t['c2st_real']:.3f} / {t['c2st_fake']:.3f} | "
                     + " / ".join(f"{prof[str(d)]:.3f}" for d in DEPTHS)
                     + f" | {_x(result['landing'][name], 3)} | {_x(c['ivf'], 0)} | {_x(c['hnsw'], 0)} | "
                     f"{_x(r['ivf'])}, {_x(r['hnsw'])} |")
    return "\n".join(lines) + "\n"


def summary_rows(result, label):
    """The board's rows as docs/workloads.md shows them, first column ``label``: real (with the ceiling of the
    two-sample test), then each source of fake queries."""
    def row(name, t, prof, land, cost, ratio):
        ratios = "" if ratio is None else f"{_x(ratio['ivf'])}, {_x(ratio['hnsw'])}"
        return (f"| {label} | {name} | {t['c2st']:.3f} / {t['c2st_real']:.3f} / {t['c2st_fake']:.3f} | "
                + " / ".join(f"{prof[str(d)]:.3f}" for d in DEPTHS)
                + f" | {_x(land, 3)} | {cost['ivf']:,.0f} | {cost['hnsw']:,.0f} | {ratios} |")

    rows = [row("real (c2st: the ceiling, real vs real)", result["c2st"]["ceiling"], result["profile"]["real"],
                None, result["cost"]["real"], None)]
    return rows + [row(name, result["c2st"][name], result["profile"][name], result["landing"][name],
                       result["cost"][name], result["ratios"][name]) for name in _sources(result)]


def _sources(result):
    """The query sources a board measured, in :data:`SOURCES`' order."""
    return [name for name in SOURCES if name in result["c2st"]]


def write_outputs(result, folder):
    """``query-model.json`` and ``query-model.md`` in ``folder``; returns the paths."""
    return write_board(result, folder, "query-model", markdown)
