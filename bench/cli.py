"""The ``bench`` command: search cost at equal recall on real, fake, fog and random corpora."""

import functools
import json
from pathlib import Path

import click

from synth.cli import Group, force_folder_option, metric_option, progress, reports, seed_option
from synth.io.formats import check_folder


def force_out(f):
    """--force, and without it a non-empty --out folder refused before the command does any work."""
    @functools.wraps(f)
    def run(*args, force, **kwargs):
        check_folder(kwargs["out"], force)
        return f(*args, **kwargs)
    return force_folder_option(run)


def installed_indexes(ctx, param, value):
    """--index callback: a plug-in whose library is missing stops the command at once, in one line, with the
    install command (SynthError, turned into "Error: ..." by the group), before any corpus is built."""
    from .indexes import require

    require(value)
    return value


def index_option(f, default_text="all installed"):
    from .indexes import registry

    return click.option("--index", "indexes", multiple=True, type=click.Choice(list(registry())),
                        callback=installed_indexes,
                        help=f"Index plug-in to run (repeatable; default: {default_text}; `bench indexes` "
                             "lists them).")(f)


def common_options(f):
    f = click.option("--html", "html", is_flag=True,
                     help="Also write OUT/report.html, the page `bench report OUT` writes.")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")(f)
    f = click.option("--target-recall", "targets", multiple=True, type=click.FloatRange(0, 1, min_open=True),
                     help="Recall at which cost is interpolated (repeatable; default 0.90 0.95 0.99).")(f)
    f = click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
                     help="Timed passes per setting; QPS is their median.")(f)
    f = click.option("--out", required=True, type=click.Path(file_okay=False),
                     help="Folder for results.json, results.md and the plots.")(f)
    return index_option(f)


def benchmark(corpora, indexes, targets, k, repeats, out, as_json, suite_info, html=False, metric=None):
    """Run the indexes (default: every installed one) on the corpora, write the outputs (with ``html`` also
    the report page), print the tables or JSON. By default a plug-in whose library is missing is listed as
    skipped, with the install command."""
    from synth.progress import begin

    from .indexes import available, registry
    from .page import write_report
    from .report import markdown, public, write_outputs
    from .runner import TARGETS, run

    missing = {} if indexes else {name: f"not run: {spec.unavailable()}" for name, spec in registry().items()
                                  if spec.unavailable()}
    if metric is None:  # the corpora's (bench run reads it from the files' distance attribute)
        metric = next((c.metric for c in corpora.values() if getattr(c, "metric", "cosine") != "cosine"), "cosine")
    if not indexes and metric != "cosine":  # by default, the installed plug-ins that search by the metric
        cannot = {name for name in available() if metric not in getattr(registry()[name].index_class(), "metrics",
                                                                          ("cosine",))}
        missing.update({name: f"not run: cannot search by metric {metric}" for name in cannot})
        indexes = [name for name in available() if name not in cannot]
    begin("bench")  # in `bench compare`, after the suite
    result = run(corpora, list(indexes) or available(), targets=list(targets) or TARGETS, k=k,
                 repeats=repeats, verbose=progress())
    result["suite"] = suite_info
    result["skipped"].update(missing)
    for key, reason in result["skipped"].items():
        click.echo(f"skipped {key}: {reason}", err=True)
    paths = write_outputs(result, out)
    if html:
        paths.append(write_report(out))
    if as_json:
        click.echo(json.dumps(public(result), indent=2))
    else:
        click.echo(markdown(result))
        click.echo("wrote " + ", ".join(str(p) for p in paths))


@click.group("bench", cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="synth-embeddings")
def main():
    """ANN index benchmarks: search cost at equal recall on real, fake, fog and random corpora.

    Queries are never in the base; ground truth is exact (faiss flat, cosine); recall@k is tie-tolerant.
    Each index's query parameter is swept and the cost (distance computations per query, single-thread
    QPS) is interpolated at the target recalls, or reported as not reached.
    """


@main.command("indexes")
def indexes_cmd():
    """List the index plug-ins: name, whether its library is installed (else the command that installs it),
    what it is, and what its distance counter counts."""
    from .indexes import registry

    for name, spec in registry().items():
        reason = spec.unavailable()
        click.echo(f"{name}: {'unavailable, ' + reason if reason else 'installed'}")
        click.echo(f"  {spec.description}")
        click.echo(f"  counter: {spec.counter or 'null (' + (spec.counter_note or 'no counter') + ')'}")


@main.command()
@click.argument("real")
@click.option("--model", type=click.Path(exists=True, dir_okay=False),
              help="Model file for the fake corpus (default: a patch model fitted on leftover real rows).")
@click.option("--n", "n", type=click.IntRange(min=100), default=10_000, show_default=True,
              help="Base vectors per corpus.")
@click.option("--queries", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Queries per corpus (never in the base).")
@click.option("--k", "k", type=click.IntRange(min=1, max=100), default=10, show_default=True,
              help="Neighbours per query (recall@k).")
@click.option("--real-queries", metavar="FILE",
              help="Real queries of another kind than REAL's rows (a file or named set, e.g. words against "
                   "definitions; held out from any query model's fit): the real corpus's queries are drawn from "
                   "them, and the fake corpus's from the model's query model (synth fit --queries) if it has one.")
@common_options
@metric_option("Ground truth, recall and the indexes use it; ip / l2 keep REAL's norms and need a --model fitted "
               "with that metric (or fit one on the leftover rows); default: the model's metric, else cosine.",
               default=None)
@seed_option
@reports(estimate=True)
@force_out
def compare(real, model, n, queries, k, real_queries, indexes, targets, repeats, out, as_json, html, metric, seed):
    """Build real, fake, fog and random corpora of equal size from REAL and benchmark indexes on each.

    REAL holds held-out real embeddings (any format `synth fit` reads, or a named set: `bundled` for the
    bundled MiniLM-WordNet sample, `minilm-word-table` for all-MiniLM-L6-v2's word-embedding table,
    `minilm-wordnet-all` for all 117,033 WordNet glosses embedded once and cached; the last two need the
    [embed] extra). The corpora are saved to OUT/suite/*.h5 (ann-benchmarks layout) so that `bench run
    OUT/suite` reproduces the numbers.
    """
    from synth.bundled import load_real
    from synth.io.artifact import load_model
    from synth.metric import check_metric
    from synth.progress import plan

    from .indexes import require
    from .runner import bench_steps
    from .suites import build_suite, save_suite

    gen = load_model(model) if model else None
    if metric is None:
        metric = getattr(gen, "metric", "cosine")
    check_metric(metric)
    require(indexes, metric=metric)  # a plug-in that cannot search by it stops here, before any corpus
    X = load_real(real, raw=metric != "cosine")
    Q = load_real(real_queries, raw=metric != "cosine") if real_queries else None
    if Q is not None and gen is not None and getattr(gen, "query_model_", None) is None:
        click.echo(f"Warning: {model}: the model has no query model (synth fit --queries): its fake queries come "
                   "from the corpus model while the real ones are --real-queries", err=True)
    with plan(bench_steps(n, queries, indexes, model=gen, repeats=repeats)):
        suite = build_suite(X, model=gen, n=n, n_queries=queries, random_state=seed, verbose=progress(),
                            metric=metric, real_queries=Q)
        save_suite(suite, Path(out) / "suite")
        benchmark(suite, indexes, targets, k, repeats, out, as_json,
                  {"real": real, "model": model, "n": n, "queries": queries, "seed": seed, "d": int(X.shape[1]),
                   **({"real_queries": real_queries} if real_queries else {}),
                   "files": str(Path(out) / "suite"), **({"metric": metric} if metric != "cosine" else {})},
                  html, metric=metric)



@main.command("run")
@click.argument("suite", nargs=-1, required=True)
@click.option("--k", "k", type=click.IntRange(min=1, max=100), default=10, show_default=True)
@common_options
@reports(estimate=True)
@force_out
def run_cmd(suite, k, indexes, targets, repeats, out, as_json, html):
    """Benchmark indexes on saved corpora: ann-benchmarks .h5 files, or a folder of them (OUT/suite)."""
    from .suites import load_suite

    benchmark(load_suite(suite), indexes, targets, k, repeats, out, as_json, {"files": list(suite)}, html)


@main.command("report")
@click.argument("folder", metavar="DIR")
@click.option("-o", "--out", metavar="FILE", help="HTML file to write (default: DIR/report.html).")
@click.option("--force", is_flag=True, help="Replace the HTML file if it exists.")
def report_cmd(folder, out, force):
    """Write one static HTML page of the run in DIR, a folder that `bench compare` or `bench run` wrote.

    The page is drawn from DIR/results.json: recall against distance computations and against QPS for each
    index, every corpus (real, fake, fog, random) on one plot, with the target recalls marked; the tables
    of cost at each target recall; build time and index size; the query-hardness table and per-query
    histograms; the index plug-ins; and the run's parameters (source, n, queries, k, seed, versions).

    The file is self-contained and fetches nothing, so it opens offline or as an attachment: the plots are
    inline SVG (hover a point for its setting and costs, click a corpus to hide it). A results.json from
    before the histograms were recorded gets DIR/hardness.png embedded instead. `bench compare --html`
    and `bench run --html` write the same page at the end of a run.

    \b
    Example:
      bench report docs/bench            # writes docs/bench/report.html
      bench report results/ -o run.html --force
    """
    from .page import write_report

    click.echo(f"wrote {write_report(folder, out, force=force)}")


def model_option(f):
    """--model FILE of the scoreboards: a model file scored beside (or instead of) the --config fits."""
    f = click.option("--all-heldout", is_flag=True,
                     help="With --model: REAL holds only rows the model was not fitted on; all of it is held out "
                          "and the memorization check is not run (no training rows).")(f)
    return click.option("--model", type=click.Path(dir_okay=False),
                        help="A model file `synth fit` wrote, scored as one more configuration named after the "
                             "file, with its metric. Its training rows must be the first N rows of the board's "
                             "permutation of REAL, found by the file's fingerprint (docs/cost.md, 'A model file'); "
                             "the rest is held out and --config fits use the same rows. Else --all-heldout.")(f)


def given_size(name, value, model):
    """N for a board: the option's value, but with a model file only when the user gave it (the model's own
    training rows set N, and a different N given is refused)."""
    from click.core import ParameterSource

    if model is None or click.get_current_context().get_parameter_source(name) != ParameterSource.DEFAULT:
        return value
    return None


def model_and_metric(path, metric):
    """The model file read and checked (None without one) and the board's metric: --metric, else the model's,
    else cosine; a --metric other than the model's is a one-line error naming the file."""
    from synth.errors import SynthError
    from synth.io.artifact import load_model
    from synth.metric import check_metric

    gen = load_model(path) if path else None
    fitted = getattr(gen, "metric", "cosine")
    if metric is None:
        metric = fitted
    check_metric(metric)
    if gen is not None and metric != fitted:
        raise SynthError(f"fitted with metric {fitted}, but --metric {metric} was asked for: drop --metric (the "
                         f"model's is used) or refit with --metric {metric}", path)
    return gen, metric


def parse_sizes(ctx, param, value):
    try:
        sizes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 20:
        raise click.BadParameter(f"{value!r}: expected comma-separated sizes >= 20, e.g. 1000,2000,5000,10000")
    return sizes


@main.command()
@click.argument("real")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for fidelity.json, fidelity.md and fidelity.png.")
@click.option("--config", "configs", multiple=True, metavar="NAME=KIND[:key=value,...]",
              help="A generator configuration (repeatable), e.g. 'big=patch:n_patches=240,rank=48' or "
                   "'plain=patch:noise_scale=1'. Default: seed, default, K240-r48, K120-r16, fog, random.")
@click.option("--train", "n_train", type=click.IntRange(min=100), default=10_000, show_default=True,
              help="Real rows to fit on; the rest are held out (with --model: the rows it was fitted on).")
@click.option("--sizes", default="1000,2000,5000,10000", show_default=True, callback=parse_sizes,
              help="n per side of the two-sample test; the largest the held-out rows allow is added.")
@click.option("--k", "k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--no-hnsw", is_flag=True, help="Skip the HNSW search-cost ratio (the slowest part).")
@click.option("--queries", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Queries of the HNSW runs (held-out rows outside the base).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@model_option
@metric_option("cosine: rows normalized. ip / l2: REAL keeps its norms, patch configurations are fitted with this "
               "metric (fog and random are cosine only), and the two-sample tests and HNSW use it. Default: the "
               "--model's metric, else cosine.", default=None)
@seed_option
@reports
@force_out
def fidelity(real, out, configs, n_train, sizes, k, no_hnsw, queries, as_json, model, all_heldout, metric, seed):
    """Fit generator configurations on part of REAL and score each against the held-out rest.

    REAL is any format `synth fit` reads or a named set (see `bench compare --help`): `bundled`,
    `minilm-word-table` or `minilm-wordnet-all`. Reports per
    configuration the c2st at each n with the real-vs-real ceiling, the memorization check, the geometry
    statistics, the model file size, the fit time and the HNSW cost ratio at recall 0.95.
    """
    from synth.bundled import load_real

    from .fidelity import DEFAULT_CONFIGS, markdown, scoreboard, write_outputs

    gen, metric = model_and_metric(model, metric)
    chosen = parse_configs(configs, DEFAULT_CONFIGS) if configs else None
    X = load_real(real, raw=metric != "cosine")
    result = scoreboard(X, chosen, n_train=given_size("n_train", n_train, gen), sizes=sizes, k=k, hnsw=not no_hnsw, n_queries=queries,
                        random_state=seed, verbose=progress(), source=real, metric=metric, model=gen,
                        all_heldout=all_heldout)
    echo_board(result, write_outputs(result, out), markdown, as_json)


def echo_board(result, paths, to_markdown, as_json):
    """Print a scoreboard as JSON, or as Markdown followed by the files written."""
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(to_markdown(result))
        click.echo("wrote " + ", ".join(str(p) for p in paths))


def parse_configs(configs, default):
    """``--config`` texts to ``{name: (kind, params)}``; ``default`` when none were given."""
    from .fidelity import parse_config

    if not configs:
        return dict(default)
    chosen = {}
    for text in configs:
        name, kind, params = parse_config(text)
        chosen[name] = (kind, params)
    return chosen


@main.command("scaling")
@click.argument("real")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for scaling.json, scaling.md and scaling.png.")
@click.option("--train", "train_sizes", default="2500,5000,10000", show_default=True, callback=parse_sizes,
              help="Training sizes N (nested: each is the first N rows of one seeded permutation).")
@click.option("--heldout", "n_heldout", type=click.IntRange(min=20), default=10_000, show_default=True,
              help="Held-out rows, the same for every N; the largest N plus this must fit in REAL.")
@click.option("--config", "configs", multiple=True, metavar="NAME=KIND[:key=value,...]",
              help="A generator configuration (repeatable), as in `bench fidelity`. Default: "
                   "'default=patch', the configuration of `synth fit`.")
@click.option("--sizes", default="500,1000,2000,5000,10000", show_default=True, callback=parse_sizes,
              help="n per side of the two-sample test (at most --heldout).")
@click.option("--k", "k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@seed_option
@reports
@force_out
def scaling_cmd(real, out, train_sizes, n_heldout, configs, sizes, k, as_json, seed):
    """c2st over training size N and test size n: fit on nested training sets of REAL, score each fit at
    every n against one fixed held-out set, with the memorization check.

    Answers at which n the k-NN test tells a model fitted on N points from new real points, and whether
    more training data moves that n. REAL as in `bench fidelity`.
    """
    from synth.bundled import load_real

    from .scaling import markdown, scaling, write_outputs

    chosen = parse_configs(configs, {"default": ("patch", {})})
    X = load_real(real)
    result = scaling(X, train_sizes, chosen, n_heldout=n_heldout, sizes=sizes, k=k, random_state=seed,
                     verbose=progress(), source=real)
    echo_board(result, write_outputs(result, out), markdown, as_json)


@main.command("cost")
@click.argument("real")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for cost.json, cost.md and cost.png.")
@click.option("--fit", "n_fit", type=click.IntRange(min=100), default=10_000, show_default=True,
              help="N: real rows every configuration is fitted on (with --model: the rows it was fitted on).")
@click.option("--sizes", default="10000,30000,100000", show_default=True, callback=parse_sizes,
              help="Base sizes n (real and fake alike); sizes the rows left after fitting and queries cannot "
                   "fill are dropped.")
@click.option("--queries", "n_queries", type=click.IntRange(min=1), default=500, show_default=True,
              help="Queries per corpus (never in the base).")
@click.option("--config", "configs", multiple=True, metavar="NAME=KIND[:key=value,...]",
              help="A generator configuration (repeatable), as in `bench fidelity`. Default: "
                   "'default=patch', the configuration of `synth fit` (none with --model).")
@model_option
@functools.partial(index_option, default_text="faiss-hnsw, faiss-ivf, faiss-ivfsq8, hnswlib")
@click.option("--queries-from", type=click.Choice(["model", "jitter"]), default="model", show_default=True,
              help="Fake queries: model samples, or model samples plus isotropic noise (--jitter).")
@click.option("--jitter", type=click.FloatRange(min=0), default=0.05, show_default=True,
              help="With --queries-from jitter: q = normalize(s + jitter * g / sqrt(d)), g standard normal.")
@click.option("--k", "k", type=click.IntRange(min=1, max=100), default=10, show_default=True,
              help="Neighbours per query (recall@k and the cell diagnostics).")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed passes per query setting; QPS is their median.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@metric_option("cosine: rows normalized. ip / l2: REAL keeps its norms, each patch configuration is fitted with "
               "this metric, and ground truth, recall, the indexes and the two-sample test use it. Default: the "
               "--model's metric, else cosine.", default=None)
@seed_option
@reports
@force_out
def cost_cmd(real, out, n_fit, sizes, n_queries, configs, model, all_heldout, indexes, queries_from, jitter, k, repeats, as_json,
             metric, seed):
    """Search cost of fake corpora relative to real ones of the same size n, as n grows past the fitting size N.

    One seeded permutation of REAL gives N fitting rows, the real queries and the real base (nested over
    n). Each configuration is fitted once; at each n every index is built on the real and on the fake corpus
    and its cost at recall 0.90 / 0.95 / 0.99 (distance computations, single-thread QPS) is reported as the
    ratio fake / real, with diagnostics that explain a gap (IVF cell spread of the true neighbours, relative
    contrast, LID, hubness) and the two-sample and memorization checks. REAL as in `bench fidelity`.

    \b
    Example:
      bench cost bundled --fit 10000 --sizes 5000,10000 --queries 300 \\
          --config default=patch --config bridge=patch:bridge=0.75 --out results/cost
    """
    from synth.bundled import load_real

    from .cost import INDEXES, cost_board, markdown, write_outputs
    from .indexes import require

    chosen = parse_configs(configs, {} if model else {"default": ("patch", {})})
    gen, metric = model_and_metric(model, metric)
    require(indexes or INDEXES, metric=metric)  # a plug-in that cannot search by it stops here, in one line
    X = load_real(real, raw=metric != "cosine")
    result = cost_board(X, chosen, n_fit=given_size("n_fit", n_fit, gen), sizes=sizes, n_queries=n_queries, indexes=indexes or INDEXES, k=k,
                        queries_from=queries_from, jitter=jitter, repeats=repeats, random_state=seed,
                        verbose=progress(), source=real, metric=metric, model=gen, all_heldout=all_heldout)
    echo_board(result, write_outputs(result, out), markdown, as_json)


@main.command("fit-speed")
@click.option("--n", "n", type=click.IntRange(min=1000), default=100_000, show_default=True)
@click.option("--d", "d", type=click.IntRange(min=2), default=1024, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
              help="Fits per configuration; the median is reported.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@seed_option
@reports(estimate=True)
def fit_speed_cmd(n, d, repeats, as_json, seed):
    """Time the default patch fit (with its noise-scale calibration) and the seed's plain local PCA on N x D
    synthetic clustered unit vectors, in one run; prints seconds, model size and the ratio."""
    from .fitspeed import fit_speed, markdown

    result = fit_speed(n=n, d=d, repeats=repeats, random_state=seed)
    click.echo(json.dumps(result, indent=2) if as_json else markdown(result))


@main.command("standard-measures")
@click.argument("real")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for standard-measures.json and standard-measures.md.")
@click.option("--train", "n_train", type=click.IntRange(min=100), default=10_000, show_default=True,
              help="Real rows to fit on; n more form the independent real sample, the rest are held out.")
@click.option("--n", "n", type=click.IntRange(min=20), default=4000, show_default=True,
              help="Rows per measured set (and held-out rows per test); on the bundled sample 4,000 leaves "
                   "10,000 held out, as many as --train.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@seed_option
@reports(estimate=True)
@force_out
def standard_measures_cmd(real, out, n_train, n, as_json, seed):
    """The field's standard privacy and fidelity measures on REAL: an independent real sample, the default
    patch model, a deliberately copying one and noisy copies of the training rows.

    Meehan et al.'s data-copying test C_T, authenticity, alpha-precision and beta-recall (synthcity),
    SDMetrics' DCR overfitting protection (cosine, and SDMetrics' own distance for 500 rows) and detection
    score, next to the memorization check. REAL as in `bench fidelity`.
    """
    from synth.bundled import load_real

    from .standard import board, markdown, write_outputs

    X = load_real(real)
    result = board(X, n_train=n_train, n=n, random_state=seed, source=real)
    echo_board(result, write_outputs(result, out), markdown, as_json)


@main.command()
@click.option("--size", "sizes", multiple=True, default=("1000000x384", "1000000x1024"), show_default=True,
              help="NxD to time (repeatable).")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed runs per figure; the median is reported.")
@click.option("--threads", type=click.IntRange(min=1), help="Threads of the threaded sampler (default: all cores).")
@click.option("--queries", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Queries of the ground-truth workload.")
@click.option("--k", "k", type=click.IntRange(min=1), default=100, show_default=True, help="Neighbours per query.")
@click.option("--method", "methods", multiple=True, help="Generators to time (repeatable; default all: "
                                                         "synth synth_threads numpy make_blobs faiss_synthetic).")
@click.option("--end-to-end", "end_to_end_n", type=click.IntRange(min=0), default=3_000_000, show_default=True,
              help="Rows (384-d) of the end-to-end runs: the `synth sample -o x.fbin` command against a numpy script "
                   "writing the same file, both fresh processes; 0 skips them.")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the markdown tables to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@seed_option
@reports(estimate=True)
def throughput(sizes, repeats, threads, queries, k, methods, end_to_end_n, out, as_json, seed):
    """Vectors/s and GB/s of the sampler against numpy random, make_blobs and faiss SyntheticDataset, of
    blockwise ground truth against one faiss flat search, and of the `synth sample` command writing a .fbin
    against a numpy script writing the same file; ratios from one run, medians of --repeats."""
    from synth.errors import SynthError
    from synth.io.formats import atomic_path

    from .throughput import METHODS, markdown, run_throughput

    try:
        grid = [tuple(int(v) for v in s.lower().split("x")) for s in sizes]
    except ValueError:
        raise SynthError(f"--size must look like 1000000x384, got {sizes}") from None
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise SynthError(f"unknown --method {bad} (known: {', '.join(METHODS)})")
    result = run_throughput(grid, repeats=repeats, threads=threads, n_queries=queries, k=k,
                            methods=tuple(methods) or METHODS, end_to_end_n=end_to_end_n, random_state=seed,
                            verbose=progress())
    text = markdown(result)
    if out:
        with atomic_path(out) as tmp:
            Path(tmp).write_text(text)
    click.echo(json.dumps(result, indent=2) if as_json else text)


@main.command()
@click.option("--n", "n", type=click.IntRange(min=1), default=10_000_000, show_default=True)
@click.option("--d", "d", type=click.IntRange(min=384), default=1024, show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True)
@click.option("--queries", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also write this many queries with exact ground truth (needs --neighbors).")
@click.option("--neighbors", "k", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), help="Sampler threads (default: all cores).")
@click.option("--corpus", type=click.Path(dir_okay=False),
              help="Where to write the .fbin (default: a temporary file). It is deleted unless --keep.")
@click.option("--keep", is_flag=True, help="Keep the corpus file.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for memory.json and memory.md.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@seed_option
@reports
def memory(n, d, dtype, queries, k, threads, corpus, keep, out, as_json, seed):
    """Peak RSS of `synth sample` streaming N x D rows to .fbin, against the corpus as one in-memory array.

    The sampler runs as a child process; its peak resident set size is compared, in the same run, with a
    child that only imports the sampler and loads the model (the floor). Needs N * D * 4 bytes of free disk.
    """
    from synth.errors import SynthError

    from .memory import markdown, sample_memory, write_outputs

    if bool(queries) != bool(k):
        raise SynthError("--queries and --neighbors go together")
    if corpus and Path(corpus).suffix.lower() != ".fbin":
        raise SynthError(f"{corpus}: --corpus must be a .fbin file")
    result = sample_memory(n, d, corpus, dtype, queries, k, threads, keep=keep, random_state=seed,
                           verbose=progress())
    if out:
        write_outputs(result, out)
    click.echo(json.dumps(result, indent=2) if as_json else markdown(result))



@main.command("query-bands")
@click.argument("real")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for bands.json, bands.md and bands.png.")
@click.option("--band", "bands", multiple=True, metavar="easy|medium|hard|LO-HI",
              help="A band of query hardness as `synth sample --query-hardness` takes it (repeatable, easiest "
                   "first). Default: easy, medium, hard.")
@click.option("--model", type=click.Path(exists=True, dir_okay=False),
              help="A model file to measure (its base and queries as `synth sample --seed SEED` draws them), "
                   "fitted on the first N rows of REAL's permutation at --seed (found by the file's fingerprint, "
                   "as in `bench cost --model`). Default: fit `synth fit`'s configuration on --fit rows of REAL.")
@click.option("--all-heldout", is_flag=True,
              help="With --model: REAL holds only rows the model never saw (taken on your word).")
@click.option("--fit", "n_fit", type=click.IntRange(min=100), default=None, show_default="10000, or the model's",
              help="N: real rows the model is fitted on.")
@click.option("-n", "n", type=click.IntRange(min=2), default=30_000, show_default=True,
              help="Base size of the real and the fake corpus.")
@click.option("--queries", "n_queries", type=click.IntRange(min=1), default=500, show_default=True,
              help="Queries per band (each band draws its candidates: 3 x this for a third).")
@click.option("--k", "k", type=click.IntRange(min=1, max=100), default=10, show_default=True,
              help="Neighbours per query (relative contrast at k, recall@k).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@seed_option
@reports
@force_out
def query_bands_cmd(real, out, bands, model, all_heldout, n_fit, n, n_queries, k, as_json, seed):
    """Search cost of queries of chosen hardness, on real data and on a model's corpus.

    For each band, the real base's and the fake base's queries of that band are chosen by the rule of `synth
    sample --query-hardness` (relative contrast against the base), and IVF and HNSW cost (distance
    computations on one thread, at recall 0.90 / 0.95 / 0.99, and each query's own cost to find 9 of its 10
    neighbours) is measured. The bands keep their promise when cost rises strictly from band to band, on real
    and on fake data. REAL as in `bench fidelity` (cosine).

    \b
    Example:
      bench query-bands minilm-wordnet-all --fit 10000 -n 30000 --out results/bands
    """
    from synth.bundled import load_real
    from synth.io.artifact import load_model

    from .querybands import BANDS, band_board, markdown, write_outputs

    gen = load_model(model) if model else None
    X = load_real(real)
    result = band_board(X, bands=bands or BANDS, model=gen, n_fit=n_fit, n=n, n_queries=n_queries, k=k,
                        random_state=seed, verbose=progress(), source=real, all_heldout=all_heldout)
    echo_board(result, write_outputs(result, out), markdown, as_json)



@main.command("query-model")
@click.argument("corpus")
@click.argument("queries")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for query-model.json and query-model.md.")
@click.option("--fit", "n_fit", type=click.IntRange(min=100), default=10_000, show_default=True,
              help="N: corpus rows the corpus model is fitted on.")
@click.option("--fit-queries", "n_fit_queries", type=click.IntRange(min=100), default=10_000, show_default=True,
              help="Nq: query rows the query model is fitted on.")
@click.option("-n", "n", type=click.IntRange(min=2), default=30_000, show_default=True,
              help="Base size of the real and the fake corpus.")
@click.option("--test", "n_test", type=click.IntRange(min=1), default=500, show_default=True,
              help="Held-out real queries for the costs and the similarity profile.")
@click.option("--c2st", "n_c2st", type=click.IntRange(min=20), default=1_000, show_default=True,
              help="Rows per side of the two-sample tests.")
@click.option("--config", "configs", multiple=True, metavar="NAME=KIND[:key=value,...]",
              help="The configuration of both models (once), as in `bench fidelity`. Default: `synth fit`'s.")
@click.option("--k", "k", type=click.IntRange(min=1, max=100), default=10, show_default=True,
              help="Neighbours per query (recall@k, the two-sample test's k).")
@click.option("--tie", is_flag=True, help="Also measure the query model's queries pulled by the query tie, as "
                                         "`synth sample --query-tie pull` writes them.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@seed_option
@reports
@force_out
def query_model_cmd(corpus, queries, out, n_fit, n_fit_queries, n, n_test, n_c2st, configs, k, tie, as_json, seed):
    """Fake queries from a query model (`synth fit --queries`) against fake queries from the corpus model.

    CORPUS and QUERIES are real sets of one embedding space (files or named sets, e.g. minilm-wordnet-all
    and minilm-wordnet-lemmas). Each is split by a seeded permutation; a corpus model and a query model are
    fitted, and the board reports the two-sample test of held-out real queries against each source of fake
    queries, their similarity to the base (1st, 10th, 100th neighbour), which corpus patches they land in,
    and IVF and HNSW cost at recall 0.95 against real queries on the real base.

    \b
    Example:
      bench query-model minilm-wordnet-all minilm-wordnet-lemmas --out results/query-model
    """
    from synth.bundled import load_real
    from synth.errors import SynthError

    from .querymodel import markdown, query_model_board, write_outputs

    chosen = parse_configs(configs, {"default": ("patch", {})})
    if len(chosen) != 1:
        raise SynthError("--config: one configuration, for both models")
    C, Q = load_real(corpus), load_real(queries)
    result = query_model_board(C, Q, config=next(iter(chosen.values())), n_fit=n_fit, n_fit_queries=n_fit_queries,
                               n=n, n_test=n_test, n_c2st=n_c2st, k=k, random_state=seed, source=corpus,
                               query_source=queries, tie=tie)
    echo_board(result, write_outputs(result, out), markdown, as_json)


def parse_selectivities(ctx, param, value):
    try:
        out = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"comma-separated shares in (0, 1], got {value!r}") from None
    if not out or any(not 0 < v <= 1 for v in out):
        raise click.BadParameter(f"comma-separated shares in (0, 1], got {value!r}")
    return out


@main.command("filtered")
@click.argument("real")
@functools.partial(index_option, default_text="none; plug-ins that can filter: the faiss ones, hnswlib, "
                   "pgvector-hnsw, pgvector-ivfflat")
@click.option("--labels", metavar="FILE|lexname|pos",
              help="One real label per row of REAL: a file (.npy, or text with one per line), or lexname / pos for "
                   "the WordNet sets (bundled, minilm-wordnet-all).")
@click.option("--attribute", metavar="FILE|gloss-words",
              help="Instead of --labels: one real number per row of REAL (a file, or gloss-words for the WordNet "
                   "sets); each selectivity is then a range of values holding about that share of the training "
                   "rows (a range filter), and the model's attribute model gives the fakes theirs.")
@click.option("--range-per-query", is_flag=True,
              help="With --attribute: each query has a range of its own per selectivity (the ranges `synth sample "
                   "--range-selectivity S,query --seed SEED` gives its queries; query i of the real and of the fake "
                   "side under the same one), measured on the built-in IVF and HNSW (not with --index).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for filtered.json, filtered.md and filtered.png.")
@click.option("--selectivity", "selectivities", default="0.001,0.01,0.1,0.5", show_default=True,
              callback=parse_selectivities,
              help="Target shares of rows a filter keeps (comma-separated); each filter is the set of classes whose "
                   "training share is nearest the target.")
@click.option("--model", type=click.Path(exists=True, dir_okay=False),
              help="A model file with a label model (`synth fit --labels`), fitted on the first N rows of REAL's "
                   "permutation at --seed (found by its fingerprint). Default: fit --config and a label model on "
                   "--fit rows of REAL.")
@click.option("--config", "configs", multiple=True, metavar="NAME=KIND[:key=value,...]",
              help="The corpus model's configuration (once), as in `bench fidelity`. Default: `synth fit`'s.")
@click.option("--fit", "n_fit", type=click.IntRange(min=100), default=10_000, show_default=True,
              help="N: real rows the models are fitted on.")
@click.option("-n", "n", type=click.IntRange(min=2), default=30_000, show_default=True,
              help="Base size of the real and the fake corpus.")
@click.option("--queries", "n_queries", type=click.IntRange(min=1), default=500, show_default=True,
              help="Queries, each searched under every filter.")
@click.option("--k", "k", type=click.IntRange(min=1, max=100), default=10, show_default=True,
              help="Neighbours per query (recall@k among the rows the filter keeps).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed passes per --index setting (QPS is the median).")
@seed_option
@reports
@force_out
def filtered_cmd(real, labels, attribute, out, selectivities, model, configs, n_fit, n, n_queries, k, as_json, seed,
                 indexes, repeats, range_per_query):
    """Filtered search on real data and on a labelled model's corpus: cost per selectivity, real vs fake.

    A filter keeps the rows whose label is in a set of classes chosen for each target selectivity (with
    --attribute, the rows whose value lies in a range holding that share of the training rows). Every query is
    searched under every filter with exact filtered ground truth, on IVF (rows the filter rejects cost nothing, as
    in faiss with an IDSelector) and HNSW (faiss with an IDSelectorBitmap), one thread; the board reports distance
    computations at recall 0.90 / 0.95 / 0.99, fake / real at 0.95, and the label purity of the 10 nearest
    neighbours of each base. REAL as in `bench fidelity` (cosine).

    --index runs index plug-ins under the same filters as their libraries filter (faiss: an ID selector; hnswlib:
    its filter callback; pgvector: WHERE label = ANY(...) with iterative index scans, in a throw-away server; with
    --attribute, pgvector loads the values as a double precision column and filters WHERE value BETWEEN lo AND hi):
    recall, distance computations where counted, and QPS per selectivity, real vs fake.

    \b
    Example:
      bench filtered minilm-wordnet-all --labels lexname -n 30000 --out results/filtered
      bench filtered minilm-wordnet-all --attribute gloss-words -n 30000 --out results/range
    """
    from synth.bundled import load_attribute, load_labels, load_real
    from synth.errors import SynthError
    from synth.io.artifact import load_model

    from .filtered import check_range_per_query, filtered_board, markdown, require_filtering, write_outputs
    from .indexes import require

    chosen = parse_configs(configs, {"default": ("patch", {})})
    if len(chosen) != 1:
        raise SynthError("--config: one configuration")
    if model and configs:
        raise SynthError("--model and --config: one or the other")
    if (labels is None) == (attribute is None):
        raise SynthError("--labels or --attribute: one of the two")
    specs = require_filtering(require(indexes))
    check_range_per_query(range_per_query, attribute is not None, specs)
    gen = load_model(model) if model else None
    X = load_real(real)
    y = load_labels(labels, real, len(X)) if labels is not None else None
    v = load_attribute(attribute, real, len(X)) if attribute is not None else None
    result = filtered_board(X, y, model=gen, config=next(iter(chosen.values())), n_fit=n_fit, n=n,
                            n_queries=n_queries, k=k, selectivities=selectivities, random_state=seed,
                            verbose=progress(), source=real, indexes=specs, repeats=repeats, attribute=v,
                            attribute_source=attribute, range_per_query=range_per_query)
    echo_board(result, write_outputs(result, out), markdown, as_json)

if __name__ == "__main__":
    main()
