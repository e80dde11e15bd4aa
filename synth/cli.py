"""The ``synth`` command: fit, sample, stats, score, demo. Each command parses, calls the library, prints."""

import contextlib
import functools
import json
import os
import signal
import threading
import time
from pathlib import Path

import click

from .errors import SynthError


class Group(click.Group):
    """Turn input problems into a one-line error and exit status 1, without a traceback."""

    def invoke(self, ctx):
        with exit_on_sigterm():
            try:
                return super().invoke(ctx)
            except SynthError as e:
                raise click.ClickException(str(e)) from None


def usable_cores():
    """Cores this process may run on (its CPU affinity where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def exit_on_sigterm():
    """SIGTERM unwinds like an exception (exit status 143), so writers remove their temporaries and release
    their locks; the default action would kill the process where it stands."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def input_options(f):
    """--key/--column/--split: where the vectors are inside a file."""
    f = click.option("--split", help="Dataset split (datasets folders and hf: ids; default train).")(f)
    f = click.option("--column", help="Vector column of a parquet file or dataset (default: the only one).")(f)
    return click.option("--key", help="Array in an .npz, dataset in an .h5 (default train), Hub config.")(f)


def metric_option(text, default="cosine"):
    """--metric cosine|ip|l2, checked by the command (a bad value is a one-line error)."""
    return click.option("--metric", default=default, show_default=default is not None, metavar="cosine|ip|l2",
                        help=text)


def seed_option(f):
    return click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                        help="Random seed; the same seed gives the same bytes.")(f)


def force_option(f):
    return click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")(f)


def force_folder_option(f):
    return click.option("--force", is_flag=True, help="Write into OUT even if it holds files (they may be "
                                                       "overwritten).")(f)


def check_output(path, force):
    if Path(path).exists() and not force:
        raise SynthError("exists already (use --force to overwrite)", path)


def progress():
    """Progress bars only for a person watching a terminal (and not under --quiet)."""
    from .progress import show_bars

    return int(show_bars())


def command_name(ctx):
    """``synth demo``, ``bench compare``, ``synth recipe run``: the group's own name, not how it was run."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join([ctx.command.name, *reversed(names)])


def reports(f=None, *, estimate=False):
    """--quiet, and otherwise the command's stages on stderr while it runs (:mod:`synth.progress`); with
    ``estimate``, and the library's plans covering the command's work, an estimate of the time left on a
    terminal.

    Goes directly above the command function, below its options: ``@reports`` or ``@reports(estimate=True)``.
    """
    if f is None:
        return functools.partial(reports, estimate=estimate)

    @functools.wraps(f)
    def run(*args, quiet, **kwargs):
        from .progress import reporting

        with reporting(command_name(click.get_current_context()), quiet=quiet, estimate=estimate):
            return f(*args, **kwargs)
    return click.option("-q", "--quiet", is_flag=True, help="Print no progress on stderr.")(run)


def auto_or(convert, minimum, what):
    """A click callback for options that take 'auto' or a number: ``convert(value) >= minimum``."""
    def parse(ctx, param, value):
        if value == "auto":
            return value
        try:
            number = convert(value)
        except ValueError:
            number = None
        if number is None or not number >= minimum:
            raise click.BadParameter(f"{value!r} is neither 'auto' nor {what}")
        return number
    return parse


def parse_noise_scale(ctx, param, value):
    """--noise-scale: the model's own rule (:func:`synth.models.patch.noise_scale_problem`)."""
    from .models.patch import noise_scale_problem

    try:
        value = value if value == "auto" else float(value)
    except ValueError:
        pass
    problem = noise_scale_problem(value)
    if problem:
        raise click.BadParameter(f"{value!r} {problem}")
    return value


parse_patches = auto_or(int, 1, "an integer >= 1")


def parse_bridge(ctx, param, value):
    """--bridge: 'auto' or a number between 0 and 1."""
    if value == "auto":
        return value
    try:
        number = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not 'auto' or a number between 0 and 1") from None
    if not 0 <= number <= 1:
        raise click.BadParameter(f"{value!r} is not between 0 and 1")
    return number


def echo_json(obj):
    click.echo(json.dumps(obj, indent=2))


@click.group("synth", cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="synth-embeddings")
def main():
    """Synthetic embedding corpora that behave like real ones.

    Fit a small patch model to real embeddings (rows are L2-normalized: cosine geometry), share the model
    file instead of the data, sample corpora of any size from it, and score how close fake is to real.

    \b
    Quick start:
      synth demo                              # the whole job on the bundled real sample
      synth fit real.npy -o model.safetensors
      synth sample model.safetensors -n 1000000 -o fake.fbin
      synth score heldout.npy fake.fbin --train real.npy
    """


@main.command()
@click.argument("real")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Model file to write.")
@click.option("--kind", type=click.Choice(["patch", "fog", "random"]), default="patch", show_default=True,
              help="patch: local-PCA patch model; fog: statistics-matched Gaussian mixture; random: uniform.")
@click.option("--patches", default="auto", show_default=True, callback=parse_patches,
              help="Patch count (patch model) before small patches are merged away; 'auto' = 160 up to 10,000 "
                   "training points, then one per 62.5 points, within --max-mb.")
@click.option("--rank", type=click.IntRange(min=0), default=40, show_default=True,
              help="Principal directions kept per patch.")
@click.option("--min-points", type=click.IntRange(min=10), default=20, show_default=True,
              help="No patch summarises fewer training points (privacy bound; never below 10).")
@click.option("--noise-scale", default="auto", show_default=True, callback=parse_noise_scale,
              help="Scale of the residual noise outside the kept directions; 'auto' calibrates it with the "
                   "two-sample test on a split of REAL (1 = plain probabilistic PCA).")
@click.option("--bridge", default="0", show_default=True, callback=parse_bridge,
              help="Move each sample's mean up to this fraction of the way towards a partner patch's mean, "
                   "partners drawn by how often training rows sit between the two patches: fills the borders "
                   "real data crosses, so IVF and HNSW search cost on the fakes come closer to real's. 'auto' "
                   "picks the amount (0, 0.25, ..., 1) whose fakes cost what REAL's own rows cost to search "
                   "with IVF and HNSW, measured at fit time (for search benchmarks; docs/cost). Costs spectrum "
                   "fidelity (IsoScore 5-12% low). 0 = off.")
@click.option("--bridge-match", type=click.Choice(["both", "ivf", "hnsw"]), default="both", show_default=True,
              help="With --bridge auto, whose search cost to match: both (the amount whose worse ratio, IVF or "
                   "HNSW, is nearest 1), or one index family alone (ivf, hnsw): one amount often cannot match "
                   "both, so fit one model per family you benchmark.")
@click.option("--softness", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Tempered patches: each training row also weighs in its neighbouring patches, with weight "
                   "exp(cosine gap / (softness x the patches' mean squared radius)). Patches then overlap as "
                   "real data does between k-means cells, which brings IVF and HNSW search cost on the fakes "
                   "closer to real's (see `bench cost`); 0.1 is a measured choice, 0 = disjoint cells.")
@click.option("--recolor/--no-recolor", default=False, show_default=True,
              help="Map the fakes onto REAL's mean and covariance with the Gaussian optimal-transport map "
                   "(stored in the model file, d x d float16): keeps anisotropy, IsoScore and participation "
                   "ratio on real's when --bridge or --softness would move them.")
@click.option("--max-mb", type=click.FloatRange(min=0, min_open=True), default=16.0, show_default=True,
              help="With --patches auto, the largest model file in MB (16 MB: 184 patches at 1024-d, 491 at "
                   "384-d).")
@click.option("--group-size", type=click.IntRange(min=10), default=None,
              help="Group centres: cut each patch's rows into groups of about this many (none under "
                   "--min-points) and centre each fake on a group's mean, the patch giving only the shape. "
                   "Measured on MiniLM-WordNet at 100,000 training rows, groups of 20: two-sample test 0.460 "
                   "vs 0.453 by default, no copying. The group means take ~N/G rows of the --max-mb budget, "
                   "and fewer patches lose the gain: raise --max-mb by about N/G x 4d bytes. Not with "
                   "--softness. Default: off.")
@click.option("--calibration-ratio", type=click.IntRange(min=1), default=None,
              help="With --noise-scale auto, balance the two-sample test for n = N / R fakes: the calibration's "
                   "sub-model (fitted on min(N/2, 10,000) rows) is tested on 1/R as many other rows instead of up "
                   "to 5,000 (about n = N / 2). With --rank 24, R = 5 passes the test at n = N / 5 at 50,000 rows "
                   "(weaker side 0.44-0.45 on three MiniLM corpora; docs/fidelity.md, 'Past N/10'). Default: off.")
@click.option("--shared-rank", type=click.IntRange(min=0), default=0, show_default=True,
              help="Directions shared by every patch, fitted on all training rows (each patch keeps its own "
                   "variances along them); --rank local directions are fitted on what they leave. Shared "
                   "directions are statistics of all N rows, so the membership attacks of `synth audit` can "
                   "hardly read a row in them: with --rank 0 they trade fidelity for privacy (docs/privacy.md, "
                   "'The privacy / fidelity frontier'). 0 = off.")
@click.option("--copy-guard/--no-copy-guard", default=True, show_default=True,
              help="With --patches auto, lower the patch count while the fakes sit closer to the training rows "
                   "than the rows sit to each other (the memorization check's median rule, on REAL alone).")
@metric_option("The distance the corpus is searched by: cosine (rows normalized), ip or l2 (rows keep their norms; "
               "the patch model also learns each patch's norm distribution).")
@click.option("--queries", "queries", metavar="REAL_QUERIES",
              help="Real queries (a file or named set, as REAL; e.g. short questions against REAL's passages): a "
                   "second model, of the same kind and options, is fitted on them and written into OUT as its "
                   "query model; `synth sample --queries` then draws the queries from it (docs/workloads.md).")
@click.option("--labels", "labels", metavar="FILE|lexname|pos|classes=C,...",
              help="Real labels of REAL's rows, for filtered search: a file of one label per row (.npy, or text with "
                   "one per line), or, for the WordNet sets (bundled, minilm-wordnet-all and their :train / :heldout), "
                   "lexname or pos. Without real labels, set them by knobs: classes=C[,purity=P][,zipf=S] (C classes "
                   "with Zipf shares, label purity P of the 10 nearest neighbours; defaults 20, 0.4, 1). A label "
                   "model is written into OUT and `synth sample` labels every row (docs/workloads.md, 'Filtered "
                   "search').")
@click.option("--multi-label", "multi_label", is_flag=True,
              help="The --labels FILE holds several labels (tags) per row: text, one line per row, its tags "
                   "comma-separated (an empty line: no tag). A tag model (one logistic regression per tag carried "
                   "by >= --min-points rows) is written into OUT and `synth sample` gives every row a set of tags "
                   "(big-ann-benchmarks' filtered track; docs/workloads.md, 'Several labels per row'). Without it a "
                   "labels file is one label per line, as before.")
@click.option("--tag-bundles", "tag_bundles", type=click.IntRange(min=0), default=0, show_default=True, metavar="M",
              help="With --multi-label, model which tags go together: the tagged rows' tag sets are clustered into "
                   "at most M bundles (each of >= --min-points rows), a row draws a bundle by its place and then "
                   "each tag at the bundle's own rate, shares and tag purity still matched (docs/workloads.md, "
                   "'Several labels per row'). 0: tags drawn independently given the row.")
@click.option("--attribute", "attribute", metavar="FILE|gloss-words",
              help="A real numeric attribute of REAL's rows, for range filters (a size, a date, a price): a file of "
                   "one number per row (.npy, or text with one per line), or, for the WordNet sets, gloss-words "
                   "(words in each gloss). An attribute model (its quantile table and its dependence on place) is "
                   "written into OUT and `synth sample` gives every row a value (docs/workloads.md, 'Range "
                   "filters').")
@input_options
@seed_option
@force_option
@reports(estimate=True)
def fit(real, out, kind, patches, rank, min_points, noise_scale, bridge, bridge_match, softness, recolor, max_mb,
        group_size, calibration_ratio, shared_rank, copy_guard, metric, queries, labels, multi_label, tag_bundles,
        attribute, key, column, split, seed, force):
    """Fit a model to the real embeddings in REAL and write it to OUT.

    REAL is a file (.npy .npz .fvecs .fbin .h5 .parquet), a datasets folder or hf:owner/name. OUT is a
    safetensors file holding the arrays, the parameters, a fingerprint and statistics of the fit data, and
    a checksum; share it instead of the data.
    """
    from .metric import check_metric
    from .models.fitting import fit_model

    check_metric(metric)
    if metric != "cosine" and kind != "patch":
        raise SynthError(f"--metric {metric} needs --kind patch ({kind} models are cosine only)")
    if multi_label and labels is None:
        raise SynthError("--multi-label needs --labels FILE (a tags file)")
    if tag_bundles and not multi_label:
        raise SynthError("--tag-bundles needs --multi-label (a tags file)")
    check_output(out, force)
    t0 = time.perf_counter()
    params = {"patch": dict(n_patches=patches, rank=rank, min_points=min_points, noise_scale=noise_scale,
                            bridge=bridge, softness=softness, recolor=recolor, max_mb=max_mb,
                            copy_guard=copy_guard, group_size=group_size, bridge_match=bridge_match)}.get(kind, {})
    if metric != "cosine":
        params["metric"] = metric
    if shared_rank and kind == "patch":
        params["shared_rank"] = shared_rank
    if calibration_ratio and kind == "patch":
        params["calibration_ratio"] = calibration_ratio
    model, info, size = fit_model(real, out, kind=kind, params=params, random_state=seed, verbose=progress(),
                                  key=key, column=column, split=split, queries=queries, labels=labels,
                                  attribute=attribute, multi_label=multi_label, tag_bundles=tag_bundles)
    click.echo(f"read {info['n']} x {info['d']} from {real} ({info['n_duplicates']} duplicate rows)")
    if kind == "patch":
        click.echo(f"fitted {model.n_patches_} patches (rank <= {rank}, >= {model.counts_.min()} points each"
                   + (f"; {shared_rank} shared directions" if shared_rank else "") + "), "
                   f"noise scale {model.noise_scale_:.3g}" + (" (calibrated)" if model.calibration_ else "")
                   + (f", {model.n_groups_} group centres (>= {model.group_counts_.min()} points each)"
                      if model.n_groups_ else ""))
        cal = getattr(model, "bridge_calibration_", None)
        if cal:
            pick = cal["grid"].index(model.bridge_)
            show = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            click.echo(f"bridge {model.bridge_:g} (calibrated, matching {cal['match']}): fakes cost "
                       f"{show(cal['ivf'][pick])} x (IVF) and "
                       f"{show(cal['hnsw'][pick])} x (HNSW) what {cal['n_base']:,} training rows cost to search "
                       f"at recall {cal['recall']:g}")
        if metric != "cosine":
            click.echo(f"metric {metric}: each patch also keeps a {model.norm_table_.shape[1]}-level table of its "
                       f"rows' norms (model norms {model.norm_table_[:, 0].min():.3g} .. "
                       f"{model.norm_table_[:, -1].max():.3g})")
        tried = model.copy_check_ or []
        if len(tried) > 1:
            click.echo(f"patch count lowered from {tried[0]['n_patches']} to {tried[-1]['n_patches']}: with more "
                       "patches the fit failed the memorization check on its training rows")
    elif kind == "fog":
        click.echo(f"fog knobs {model.knobs_}, largest statistic mismatch {model.match_error_:.1%}")
    q = getattr(model, "query_model_", None)
    if q is not None:
        q_info = info["queries"]
        click.echo(f"query model: read {q_info['n']} x {q_info['d']} from {queries}"
                   + (f", fitted {q.n_patches_} patches, noise scale {q.noise_scale_:.3g}" if kind == "patch" else ""))
        if q.fit_check_["warning"]:
            click.echo(f"Warning: {out}: query model: {q.fit_check_['warning']}", err=True)
        tie = q.tie_
        click.echo(f"query tie: nearest corpus row at cosine median {tie['median']['real']:.3f} for the real queries, "
                   f"{tie['median']['fake']:.3f} for the query model's (among {tie['rows']:,} rows; synth sample "
                   "--query-tie pull pulls them)"
                   + (f"; the patches they land in {tie['landing']['distance']:.3f} from real's (total variation)"
                      if "landing" in tie else ""))
    lm = getattr(model, "label_model_", None)
    if lm is not None and getattr(lm, "multi_label", False):
        f = lm.fit_info_
        click.echo(f"tag model: {f['tags']} tags from {labels} ({f['dropped_tags']} rarer tags dropped, "
                   f"{f['untagged_rows']} rows without a kept tag; {f['mean_tags']:.2f} tags per row real, "
                   f"{f['fake_mean_tags']:.2f} fake); tag purity of the 10 nearest rows {f['real_purity']:.3f} "
                   f"real, {f['fake_purity']:.3f} fake (temperature {f['temperature']:.3g})"
                   + (f"; {f['bundles']} bundles of tags that go together" if "bundles" in f else ""))
    elif lm is not None:
        f = lm.fit_info_
        click.echo(f"label model: {len(lm.classes_)} classes from {labels}"
                   + (f" ({f['pooled_rows']} rows of rarer labels pooled as {lm.classes_[-1]})" if f["pooled_rows"] else "")
                   + (f" ({f['left_out_rows']} rows of rarer labels left out)" if f["left_out_rows"] else "")
                   + (f"; label purity of the 10 nearest rows {f['real_purity']:.3f} real, {f['fake_purity']:.3f} fake "
                      if "real_purity" in f else f" (set by knobs); label purity of the 10 nearest rows "
                      f"{f['fake_purity']:.3f} (asked {f['knob']['purity']:g}) ")
                   + f"(temperature {f['temperature']:.3g})")
        if "knob" in f and abs(f["fake_purity"] - f["knob"]["purity"]) > 0.02:
            click.echo(f"Warning: {out}: label purity {f['knob']['purity']:g} is out of reach for "
                       f"{len(lm.classes_)} classes placed by anchors here; the nearest reached is "
                       f"{f['fake_purity']:.3f} (fewer classes cluster more)", err=True)
    am = getattr(model, "attribute_model_", None)
    if am is not None:
        f = am.fit_info_
        click.echo(f"attribute model '{am.name}' from {attribute}: {f['levels']} quantile levels of >= "
                   f"{f['rows_per_level']} rows ({'whole numbers, ' if f['integer'] else ''}{f['range'][0]:g} .. "
                   f"{f['range'][1]:g}); neighbour correlation of the 10 nearest rows "
                   f"{f['real_neighbour_correlation']:.3f} real, {f['fake_neighbour_correlation']:.3f} fake")
        if not f["reached"]:
            click.echo(f"Warning: {out}: the attribute clusters more among real rows than the model can make it "
                       "cluster among fakes (its regression on the embedding is too weak)", err=True)
    click.echo(f"wrote {out}: {size / 1e6:.2f} MB in {time.perf_counter() - t0:.1f} s")
    if model.fit_check_["warning"]:
        click.echo(f"Warning: {out}: {model.fit_check_['warning']}", err=True)


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("-n", "n", type=click.IntRange(min=1), required=True, help="Number of vectors (of the whole corpus).")
@click.option("-o", "--out", required=True, type=click.Path(),
              help="Output file; format by extension: .npy .fbin .fvecs .h5 .parquet. A name without extension "
                   "is a VectorDBBench folder: train.parquet, or train-00-of-N.parquet ... for N files.")
@click.option("--dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True)
@click.option("--chunk-size", type=click.IntRange(min=1), default=65536, show_default=True,
              help="Rows generated per step (memory); does not change the output.")
@click.option("--shard", help="i/N: write only rows [i*n/N, (i+1)*n/N) of the corpus (same bytes as that slice "
                              "of a whole run). For a folder OUT, the file train-0i-of-N.parquet (N = 1: "
                              "train.parquet).")
@click.option("--threads", type=click.IntRange(min=1), default=None, show_default=f"all cores, here {usable_cores()}",
              help="Threads generating blocks; does not change the output.")
@click.option("--files", type=click.IntRange(min=1), help="Folder OUT: number of parquet shards "
                                                          "(default: one per million rows).")
@click.option("--queries", "n_queries", type=click.IntRange(min=0), default=0,
              help="Also write this many queries (their own seed stream) ...")
@click.option("--neighbors", "k", type=click.IntRange(min=0), default=0,
              help="... and their exact top-K neighbours among the corpus by the model's metric (cosine, or ip / "
                   "l2 for a model fitted with --metric; blockwise, faiss).")
@click.option("--query-hardness", metavar="easy|medium|hard|LO-HI",
              help="... keeping only queries of this hardness: of 3 x --queries model queries ranked by relative "
                   "contrast at k = --neighbors against the corpus, the easiest, middle or hardest third; LO-HI is "
                   "a band of difficulty rank in percent (90-100: the hardest tenth, drawn from 10 x --queries). "
                   "Default: the first --queries of the query stream, any hardness.")
@click.option("--query-tie", type=click.Choice(["none", "pull"]), default="none", show_default=True,
              help="... from a model fitted with --queries: 'pull' moves each query towards its nearest row among the "
                   "corpus's first N rows (N: the model's fitting rows) until its cosine to it follows real queries' "
                   "(the tie stored at fit); nearer, cheaper and easier to tell from real queries (docs/workloads.md, "
                   "'Query models').")
@click.option("--filter-selectivity", "filter_selectivity", metavar="S[,S...]",
              help="... and, from a model with a label model (synth fit --labels), for each target share S of rows "
                   "(e.g. 0.001,0.01,0.1,0.5) a filter (the classes whose training share is nearest S) and every "
                   "query's exact top-K among the rows it keeps; S = query: each query filters by a label of its own, "
                   "drawn as rows' are (big-ann-benchmarks' filtered track; the queries' labels are written too) "
                   "(docs/workloads.md, 'Filtered search'). From a tag model (fit --multi-label): S keeps the rows "
                   "carrying the tag whose training share is nearest S, and query gives each query one or two tags "
                   "and keeps the rows carrying all of them (docs/workloads.md, 'Several labels per row').")
@click.option("--range-selectivity", "range_selectivity", metavar="S[,S...]",
              help="... and, from a model with an attribute model (synth fit --attribute), for each target share S a "
                   "range filter (the range of values holding about S of the training rows) and every query's exact "
                   "top-K among the rows whose value lies in it; with 'query' among them (S,...,query), per S also "
                   "a filter range-query-S where each query has a range of its own holding about S (written beside "
                   "the queries) and its top-K among the rows in it (docs/workloads.md, 'Range filters').")
@click.option("--workers", type=click.IntRange(min=1), help="Run on a local Dask cluster of this many processes "
                                                            "(one task per shard; same bytes).")
@click.option("--scheduler", help="Run on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786); "
                                  "OUT must be on a filesystem all workers share.")
@click.option("--tasks", type=click.IntRange(min=1), help="With Dask: number of shards / tasks "
                                                          "(default: --files, or 2 per worker).")
@seed_option
@force_option
def sample(model, n, out, dtype, chunk_size, shard, threads, files, n_queries, k, query_hardness, query_tie,
           filter_selectivity, range_selectivity, workers, scheduler, tasks, seed, force):
    """Sample N vectors from MODEL into OUT, streaming, deterministically for a given --seed.

    Memory is bounded by --chunk-size, not N. Row r depends only on (seed, r), so --chunk-size, --threads,
    --shard and Dask give the same bytes. Files are written under a temporary name; a rerun after a kill
    resumes .npy/.fbin/.fvecs files and parquet folders where they stopped. A model with a label model (synth
    fit --labels) also labels every row (docs/workloads.md, "Filtered search"), one with an attribute model (synth
    fit --attribute) gives every row a value ("Range filters").
    """
    from .io.formats import output_lock

    if (n_queries > 0) != (k > 0):
        raise SynthError("--queries and --neighbors go together")
    selectivities = None
    if filter_selectivity:
        try:
            selectivities = [v.strip() if v.strip() == "query" else float(v)
                             for v in filter_selectivity.split(",") if v.strip()]
        except ValueError:
            raise SynthError(f"--filter-selectivity: comma-separated shares in (0, 1] or 'query', got "
                             f"{filter_selectivity!r}") from None
        if not n_queries:
            raise SynthError("--filter-selectivity needs --queries and --neighbors (it writes filtered ground truth)")
    ranges = None
    if range_selectivity:
        try:
            ranges = [v.strip() if v.strip() == "query" else float(v) for v in range_selectivity.split(",")
                      if v.strip()]
        except ValueError:
            raise SynthError(f"--range-selectivity: comma-separated shares in (0, 1] and 'query', got "
                             f"{range_selectivity!r}") from None
        if not n_queries:
            raise SynthError("--range-selectivity needs --queries and --neighbors (it writes filtered ground truth)")
    # a folder written in shards is locked file by file by the library, so that shards run at once
    with output_lock(out) if Path(out).suffix or not shard else contextlib.nullcontext():
        _sample(model, n, out, dtype, chunk_size, shard, threads, files, n_queries, k, query_hardness, workers,
                scheduler, tasks, seed, force, selectivities, ranges, query_tie == "pull")


def _sample(model, n, out, dtype, chunk_size, shard, threads, files, n_queries, k, query_hardness, workers,
            scheduler, tasks, seed, force, selectivities=None, ranges=None, query_tie=False):
    from tqdm.auto import tqdm

    from .io.artifact import load_model, read_header
    from .sampling.labels import label_files, plan_filters, write_label_outputs
    from .sampling.stream import output_files, parse_shard, sample_to_file, write_partial_truth, write_truth

    threads = threads or usable_cores()
    part = parse_shard(shard) if shard else None
    header = read_header(model)
    labelled = isinstance(header.get("labels"), dict)
    tagged = labelled and header["labels"].get("kind") == "tags"
    attributed = isinstance(header.get("attribute"), dict)
    if ranges and not attributed:
        raise SynthError("--range-selectivity needs a model with an attribute model (synth fit --attribute)", model)
    if tagged:
        from .sampling.labels import check_tag_output

        check_tag_output(tagged, out, part, dask=bool(workers or scheduler))
    paths = output_files(out, n_queries, k, part)
    if labelled and Path(out).suffix:  # a folder's own files are its manifest's business
        paths += [p for p in label_files(out, part, tagged).values() if p not in paths]
    if attributed and Path(out).suffix:
        from .sampling.attributes import attribute_files

        paths += [p for p in attribute_files(out, part).values() if p not in paths]
    for path in paths:  # all of them before writing any
        check_output(path, force)
    if (selectivities or ranges) and part and part[1] > 1:
        raise SynthError(f"--{'filter' if selectivities else 'range'}-selectivity is not written for a shard of "
                         "several: sample on Dask (--workers) to spread the work, or in one run")
    t0 = time.perf_counter()
    if workers or scheduler:
        from .sampling.distributed import sample_on_dask

        with tqdm(total=n, unit="vec", unit_scale=True, disable=not progress(), leave=False) as bar:
            info = sample_on_dask(model, out, n, random_state=seed, dtype=dtype, chunk_size=chunk_size,
                                  n_tasks=tasks or files, threads=threads, n_queries=n_queries, k=k,
                                  scheduler=scheduler, n_workers=workers, force=force, progress=bar.update,
                                  query_hardness=query_hardness, selectivities=selectivities, ranges=ranges,
                                  query_tie=query_tie)
        click.echo(f"wrote {n} x {info['d']} {dtype} to {out} with {info['tasks']} Dask tasks "
                   f"in {time.perf_counter() - t0:.1f} s")
        _echo_hardness(info)
        _echo_tie(info)
        if "label_paths" in info:
            click.echo(f"wrote the labels ({info['classes']} classes) to {info['label_paths']['labels']}, the class "
                       f"names to {info['label_paths']['classes']}")
        if "attribute_paths" in info:
            click.echo(f"wrote the attribute to {info['attribute_paths']['values']}, its description to "
                       f"{info['attribute_paths']['info']}")
        if "filters_path" in info:
            click.echo(f"wrote filtered top-{k} neighbours for {len(info['filtered'])} filters, listed in "
                       f"{info['filters_path']}")
        if "query_labels_path" in info:
            click.echo(f"wrote the queries' own labels (the per-query filter's) to {info['query_labels_path']}")
        _echo_query_ranges(out, info.get("filters"))
        return
    gen = load_model(model)
    filters = plan_filters(gen, selectivities) if selectivities else None
    if ranges:
        from .sampling.attributes import plan_ranges

        filters = {**(filters or {}), **plan_ranges(gen, ranges, seed, n_queries)}
    with tqdm(total=n, unit="vec", unit_scale=True, disable=not progress(), leave=False) as bar:
        info = sample_to_file(gen, out, n, random_state=seed, dtype=dtype, chunk_size=chunk_size, shard=part,
                              threads=threads, n_queries=n_queries, k=k, files=files, force=force,
                              progress=bar.update, query_hardness=query_hardness, filters=filters,
                              query_tie=query_tie)
    rows = info["stop"] - info["start"]
    resumed = f" (resumed after {info['resumed_rows']} rows)" if info["resumed_rows"] else ""
    click.echo(f"wrote rows {info['start']}..{info['stop'] - 1} ({rows} x {gen.n_features_} {dtype}) to {out}"
               f"{resumed} in {time.perf_counter() - t0:.1f} s")
    if n_queries:
        if part and part[1] > 1:
            path = write_partial_truth(out, info["queries"], info["neighbors"], info["scores"], part,
                                       metric=gen.metric if hasattr(gen, "metric") else "cosine")
            click.echo(f"wrote this shard's partial ground truth to {path} (merge: synth merge-neighbors)")
        else:
            paths = write_truth(out, info["queries"], info["neighbors"], info["scores"], dtype=dtype,
                                metric=gen.metric if hasattr(gen, "metric") else "cosine")
            source = " (from the query model)" if getattr(gen, "query_model_", None) is not None else ""
            click.echo(f"wrote {n_queries} queries{source} to {paths['queries']}, top-{k} neighbours to "
                       f"{paths['neighbors']}")
            _echo_hardness(info)
            _echo_tie(info)
    written = write_label_outputs(out, info, getattr(gen, "label_model_", None), filters, dtype=dtype,
                                  metric=gen.metric if hasattr(gen, "metric") else "cosine", shard=part)
    if written["labels"]:
        what = (f"{info['labels'].nnz / max(info['labels'].shape[0], 1):.2f} of {len(gen.label_model_.classes_)} "
                "tags per row" if tagged else f"{len(gen.label_model_.classes_)} classes")
        click.echo(f"wrote the labels of rows {info['start']}..{info['stop'] - 1} ({what}) to "
                   f"{written['labels']['labels']}, the class names to {written['labels']['classes']}")
    if written["filters"]:
        shares = ", ".join(f"{name}: {share:.2%} kept" for name, (_, _, share) in info["filtered"].items())
        click.echo(f"wrote filtered top-{k} neighbours for {len(filters)} filters ({shares}), listed in "
                   f"{written['filters']}")
    if written["query_labels"]:
        click.echo(f"wrote the queries' own {'tags' if tagged else 'labels'} (the per-query filter's) to "
                   f"{written['query_labels']}")
    _echo_query_ranges(out, filters)
    if "attribute" in info:
        from .sampling.attributes import write_attribute

        am = gen.attribute_model_
        apaths = write_attribute(out, info["attribute"], am, info["start"], part)
        click.echo(f"wrote the attribute '{am.name}' of rows {info['start']}..{info['stop'] - 1} to "
                   f"{apaths['values']}, its description to {apaths['info']}")


def _echo_query_ranges(out, filters):
    """Say where the queries' own ranges of each range-per-query filter went."""
    from .sampling.attributes import query_ranges_path

    for name, f in (filters or {}).items():
        if f.get("query_ranges") is not None:
            path, dataset = query_ranges_path(out, name)
            click.echo(f"wrote the queries' own ranges of {name} to {path}{f' (dataset {dataset})' if dataset else ''}")


def _echo_hardness(info):
    """The realized hardness of a query set of chosen hardness, one line."""
    h = info.get("hardness")
    if h:
        lo, hi = h["ranks_percent"]
        rc, every = h["rc"], h["rc_candidates"]
        click.echo(f"query hardness {h['band']}: difficulty ranks {lo:.1f}-{hi:.1f}% of {h['candidates']:,} model "
                   f"queries; relative contrast at k = {h['k']} (over the corpus's first {h['reference_rows']:,} "
                   f"rows) median {rc['median']:.3f} [p10 {rc['p10']:.3f}, p90 {rc['p90']:.3f}], all candidates "
                   f"{every['median']:.3f} [{every['p10']:.3f}, {every['p90']:.3f}]")


def _echo_tie(info):
    """What `--query-tie pull` did, one line."""
    t = info.get("tie")
    if t:
        click.echo(f"query tie: {t['moved']:.0%} of the queries pulled towards their nearest of the corpus's first "
                   f"{t['rows']:,} rows (median cosine to where they were drawn {t['median_move_cosine']:.3f}); "
                   f"nearest-row cosine median {t['nearest_median_before']:.3f} -> {t['nearest_median_after']:.3f} "
                   f"(real queries at fit {t['nearest_median_real']:.3f})")


def parse_card_fields(ctx, param, values):
    fields = {}
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{text!r}: expected KEY=VALUE, e.g. pretty_name='My corpus'")
        fields[key.strip()] = value
    if "tags" in fields:
        fields["tags"] = [t.strip() for t in fields["tags"].split(",") if t.strip()]
    return fields


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--n", "-n", "n", type=click.IntRange(min=1), required=True, help="Corpus vectors.")
@click.option("--queries", "n_queries", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Query vectors (config 'queries'); 0 for a corpus only.")
@click.option("--k", "k", type=click.IntRange(min=1), default=100, show_default=True,
              help="Exact neighbours per query (config 'neighbors').")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--train", type=click.Path(exists=True),
              help="The rows MODEL was fitted on (checked by fingerprint): for the memorization check.")
@click.option("--heldout", type=click.Path(exists=True),
              help="Real rows MODEL never saw: for the two-sample test, statistics and HNSW cost ratio.")
@click.option("--audit-n", type=click.IntRange(min=100), default=5000, show_default=True,
              help="Rows per side of the audit's tests.")
@click.option("--shadows", type=click.IntRange(min=0), default=0, show_default=True,
              help="Shadow models for the audit's shadow-model attack (as synth audit --shadows; its row joins the "
                   "card's membership table and the privacy check).")
@click.option("--no-hnsw", is_flag=True, help="Skip the HNSW cost ratio in the audit.")
@click.option("--card", "card", multiple=True, callback=parse_card_fields, metavar="KEY=VALUE",
              help="Card field (repeatable): pretty_name, license, source_model, source_data, description, "
                   "citation, tags (comma-separated).")
@click.option("--repo-id", help="Upload the folder to this Hub dataset repository (owner/name).")
@click.option("--private", is_flag=True, help="Create the Hub repository private.")
@click.option("--dry-run", is_flag=True, help="Write the folder only, even with --repo-id.")
@click.option("--allow-unsafe", is_flag=True,
              help="Upload even though the privacy check (memorization, membership inference) failed or was "
                   "not run.")
@seed_option
@force_option
@reports(estimate=True)
def publish(model, n, n_queries, k, out, train, heldout, audit_n, shadows, no_hnsw, card, repo_id, private, dry_run,
            allow_unsafe, seed, force):
    """Write a Hub-ready dataset folder of N vectors sampled from MODEL, with queries, exact neighbours, the
    model, an audit and a dataset card; with --repo-id, upload it.

    The folder has three configs that `datasets.load_dataset(OUT, CONFIG)` reads: corpus (split train),
    queries and neighbors (split test). With --train and --heldout the card carries the measured fidelity
    (c2st with its ceiling, statistics, HNSW cost ratio) and privacy figures; uploading is refused when the
    privacy check fails (the memorization check, or a membership-inference attack of `synth audit` above
    AUC 0.55 or 2% true positives at 1% false positives) or was not run, unless --allow-unsafe. The token
    comes from huggingface_hub's usual sources (HF_TOKEN, `huggingface-cli login`).
    """
    from .io.formats import load_embeddings
    from .publish.hub import publish as run_publish

    if (train is None) != (heldout is None):
        raise SynthError("--train and --heldout go together (the audit needs both)")
    X_train = X_held = None
    if train is not None:
        X_train = load_embeddings(train)[0]
        X_held = load_embeddings(heldout)[0]
    if repo_id:
        card = dict(card, repo_id=repo_id)
    info = run_publish(model, out, n, n_queries=n_queries, k=k, random_state=seed, train=X_train,
                       heldout=X_held, audit_n=audit_n, shadows=shadows, hnsw=not no_hnsw, card=card, repo_id=repo_id,
                       private=private, dry_run=dry_run, allow_unsafe=allow_unsafe, force=force,
                       verbose=progress(), heldout_path=heldout)
    a = info["audit"]
    if a["audit"]:
        s = a["audit"]["score"]
        click.echo(f"audit: c2st {s['c2st']:.3f} (ceiling {s['ceiling']:.3f}, n={s['n']}), memorization rate "
                   f"{s['dcr']['memorization_rate']:.3f}")
    click.echo(f"privacy check {info['reason']}")
    click.echo(f"wrote {out}: {n} vectors, {n_queries} queries, top-{k} neighbours, card README.md")
    if info["uploaded"]:
        click.echo(f"uploaded to {info['uploaded']}")
    elif repo_id and dry_run:
        click.echo(f"dry run: not uploaded to {repo_id}")


@main.group()
def recipe():
    """Run a whole job described by a YAML recipe (see recipes/*.yml)."""


@recipe.command("check")
@click.argument("file", type=click.Path())
def recipe_check(file):
    """Validate FILE without running it: unknown keys, wrong types, bad values and missing files are
    reported with their line."""
    from .publish.recipe import load_recipe

    r = load_recipe(file)
    steps = ["source", "fit"] + [s for s in ("score", "sample", "bench", "publish") if r[s]]
    network = " (needs the network)" if r["requires_network"] else ""
    click.echo(f"{file}: recipe {r['name']!r} is valid{network}; steps: {', '.join(steps)}")


@recipe.command("run")
@click.argument("file", type=click.Path())
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Folder for everything the recipe writes.")
@click.option("--no-upload", is_flag=True,
              help="Run every step, the publish folder included, but do not upload it to the Hub (the recipe's "
                   "publish.repo_id is ignored). Nothing else is skipped: this is not a quick check; "
                   "`synth recipe check` validates without running.")
@click.option("--dry-run", "dry_run", is_flag=True, hidden=True, help="Old name of --no-upload.")
@force_option
@reports(estimate=True)
def recipe_run(file, out, no_upload, dry_run, force):
    """Run recipe FILE into folder OUT: read or embed the source, split, fit, score, sample, benchmark and
    publish, as the recipe asks. OUT/recipe.json lists what was written and how long each step took."""
    from .publish.recipe import run_recipe

    summary = run_recipe(file, out, force=force, dry_run=no_upload or dry_run, verbose=progress())
    for path in summary["written"]:
        click.echo(f"wrote {path}")
    total = sum(summary["seconds"].values())
    click.echo(f"recipe {summary['name']!r} done in {total:.0f} s: " +
               ", ".join(f"{k} {v:.0f} s" for k, v in summary["seconds"].items()))


@main.command("merge-neighbors")
@click.argument("out", type=click.Path())
@click.argument("parts", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--neighbors", "k", type=click.IntRange(min=1), required=True, help="K of the parts.")
@click.option("--dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True)
def merge_neighbors(out, parts, k, dtype):
    """Merge the partial ground truth of shards (PARTS: *neighbors-part-*.npz) into the files of corpus OUT.

    OUT names the corpus as `synth sample -o` would (its extension picks the ground-truth format). Without
    PARTS, every shard's part of OUT is found where `synth sample --shard` wrote it (inside a corpus folder,
    beside a corpus file), and all N of them must be there.
    """
    from .sampling.stream import find_partial_truth, merge_partial_truth, partial_truth_metric, write_truth

    parts = parts or find_partial_truth(out)
    queries, ids, scores = merge_partial_truth(parts, k)
    paths = write_truth(out, queries, ids, scores, dtype=dtype, metric=partial_truth_metric(parts))
    click.echo(f"merged {len(parts)} parts: {len(queries)} queries to {paths['queries']}, top-{k} neighbours "
               f"to {paths['neighbors']}")


@main.command()
@click.argument("x")
@click.option("--n", "n", type=click.IntRange(min=3), default=None, help="Use a random subset of n rows.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--dims", type=click.IntRange(min=2), default=None,
              help="Matryoshka truncation: keep the first DIMS coordinates, re-normalized, before measuring.")
@input_options
@seed_option
@reports
def stats(x, n, as_json, dims, key, column, split, seed):
    """Geometry statistics of the embeddings in X (rows L2-normalized).

    TwoNN intrinsic dimension, IsoScore, participation ratio, anisotropy (mean pairwise cosine) and mean
    nearest-neighbour cosine. All but the spectrum depend on n: compare sets at equal n. With --dims m the
    rows are cut to their first m coordinates and re-normalized first (how a Matryoshka model is used short).
    """
    from .io.formats import count_duplicates, load_embeddings
    from .metrics.statistics import geometry_stats, truncate_dims
    from .progress import stage

    stage(f"reading {x}")
    X, info = load_embeddings(x, key=key, column=column, split=split, min_points=3)
    if dims is not None:
        X = truncate_dims(X, dims)
        info = {**info, "d": dims, "n_duplicates": count_duplicates(X)}
    stage(f"statistics on {min(n, len(X)) if n else len(X):,} rows (TwoNN and nearest neighbours: exact k-NN)")
    result = geometry_stats(X, n=n, random_state=seed)
    result["n_duplicates"] = info["n_duplicates"]
    if dims is not None:
        result["dims"] = dims
    if as_json:
        echo_json(result)
    else:
        click.echo(f"{x}: {info['n']} x {info['d']}, {info['n_duplicates']} duplicate rows")
        for name, value in result.items():
            click.echo(f"  {name:<22}{value:.4g}" if isinstance(value, float) else f"  {name:<22}{value}")


@main.command()
@click.argument("real")
@click.argument("fake")
@click.option("--train", help="The real points the model was fitted on: adds the memorization check and "
                               "makes the ceiling TRAIN vs REAL.")
@click.option("--n", "n", type=click.IntRange(min=11), default=5000, show_default=True,
              help="Points per side (capped by what the files hold).")
@click.option("--k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Neighbours.")
@click.option("--permutations", type=click.IntRange(min=1), default=200, show_default=True,
              help="Label shuffles for the p-value.")
@click.option("--standard/--no-standard", default=True, show_default=True,
              help="The field's standard measures: SDMetrics' detection score; with --train also Meehan et "
                   "al.'s data-copying test, alpha-precision, beta-recall and authenticity, and SDMetrics' DCR "
                   "overfitting protection (REAL is the held-out set).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@metric_option("cosine: rows normalized. ip / l2: the two-sample test and its ceiling on the raw rows by that "
               "metric; statistics, memorization and standard measures on the directions, plus a comparison of "
               "the row norms.")
@seed_option
@reports(estimate=True)
def score(real, fake, train, n, k, permutations, standard, as_json, metric, seed):
    """How close FAKE is to REAL (held-out real embeddings, not used to fit).

    The k-NN two-sample test pools n real and n fake points and measures the share of each point's k
    neighbours that come from the other set: 0.5 means indistinguishable, 0 separable. It is reported
    pooled and per side (judge by the smaller side) next to the ceiling, the same test on two disjoint
    real samples. With --train, the memorization check compares each fake point's nearest training cosine
    with held-out real's. The standard measures (docs/measures.md) come last, under "standard" in --json.
    """
    from .io.formats import load_embeddings
    from .metric import check_metric
    from .metrics.twosample import score as run_score
    from .progress import stage
    from .report import format_score

    unit = check_metric(metric) == "cosine"
    stage(f"reading {', '.join(x for x in (real, fake, train) if x)}")
    R, _ = load_embeddings(real, normalize=unit)
    F, _ = load_embeddings(fake, normalize=unit)
    T = load_embeddings(train, normalize=unit)[0] if train else None
    for name, A in (("FAKE", F), ("TRAIN", T)):
        if A is not None and A.shape[1] != R.shape[1]:
            raise SynthError(f"{name} has dimension {A.shape[1]}, REAL has {R.shape[1]}",
                             fake if name == "FAKE" else train)
    result = run_score(R, F, train=T, n=n, k=k, n_permutations=permutations, random_state=seed, standard=standard,
                       metric=metric)
    click.echo(json.dumps(result, indent=2) if as_json else format_score(result))


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--train", required=True, help="The real rows MODEL was fitted on (the members).")
@click.option("--heldout", required=True, help="Real rows MODEL never saw (the non-members).")
@click.option("--n", "n", type=click.IntRange(min=20), default=5000, show_default=True,
              help="Members and non-members scored (capped by what the files hold).")
@click.option("--fakes", type=click.IntRange(min=100), default=100_000, show_default=True,
              help="Rows sampled from MODEL for the nearest-fake attack.")
@click.option("--shadows", type=click.IntRange(min=0), default=0, show_default=True,
              help="Patch models: also run the shadow-model attack (offline LiRA) with this many shadow models, each "
                   "fitted like MODEL on as many held-out rows (those not scored); about 10 s each at 10,000 x 384.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@seed_option
@reports(estimate=True)
def audit(model, train, heldout, n, fakes, shadows, as_json, seed):
    """Membership inference against MODEL: can its holder tell the training rows from other real rows?

    Each attack scores n training rows (members) and n held-out rows (non-members); a higher score says
    "member". Patch models face four attacks: the share of a row's offset from its nearest patch mean
    outside the patch's directions (subspace_residual), the row's log-density under the patches
    (likelihood), its cosine to the nearest patch mean, and its cosine to the nearest of --fakes sampled
    rows (nearest_fake, the attack on a published corpus alone); other models face the last. With --shadows,
    patch models face the shadow-model attack too (shadow_lira: offline LiRA, Carlini et al. 2022). Reported: ROC
    AUC (0.5 = no leak) and the true-positive rate at 1% false positives (0.01 = no leak) with 95% bootstrap
    intervals, and the verdict against the bar AUC <= 0.55 and TPR <= 0.02 for every attack. Exits 0
    either way; the verdict is in the output.
    """
    from .io.artifact import load_model
    from .io.formats import load_embeddings
    from .metrics.privacy import membership_attacks
    from .progress import stage
    from .publish.hub import shared_rows
    from .report import format_membership

    gen = load_model(model)
    stage(f"reading {train}, {heldout}")
    T, _ = load_embeddings(train)
    H, _ = load_embeddings(heldout)
    for path, A in ((train, T), (heldout, H)):
        if A.shape[1] != gen.dim_:
            raise SynthError(f"has dimension {A.shape[1]}, the model {gen.dim_}", path)
    shared = shared_rows(T, H)
    if shared:
        raise SynthError(f"shares {shared} rows with --train: held-out rows must be real rows the model never "
                         "saw", heldout)
    stage(f"membership attacks on {min(n, len(T), len(H)):,} members and non-members")
    result = membership_attacks(gen, T, H, n=n, n_fakes=fakes, random_state=seed, shadows=shadows)
    click.echo(json.dumps(result, indent=2) if as_json else format_membership(result))


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default="synth-demo", show_default=True,
              help="Folder for demo.json, demo.md and clouds.png.")
@click.option("--n", "n", type=click.IntRange(min=100), default=5000, show_default=True,
              help="Points per side in the two-sample test and the statistics.")
@seed_option
@force_folder_option
@reports(estimate=True)
def demo(out, n, seed, force):
    """Fit patch, fog and random models on the bundled real sample and compare them with held-out real.

    The bundled sample is all-MiniLM-L6-v2 over WordNet glosses. Prints the statistics of real, patch
    fake, fog and random, their two-sample test against held-out real at the stated n with the real-vs-real
    ceiling, and the memorization check; writes a 2-D map of the four clouds.
    """
    from .demo import run_demo
    from .report import format_demo

    result = run_demo(out, n=n, random_state=seed, verbose=progress(), force=force)
    click.echo(format_demo(result))
    click.echo(f"\nwrote {Path(out) / 'demo.json'}, {Path(out) / 'demo.md'}, {Path(out) / 'clouds.png'}")


def _embedding_set(source, texts, max_texts, seed):
    """Sentence embeddings and their texts from a model folder ("minilm"), "bundled", or an embedding file."""
    from .io.formats import load_embeddings

    if source == "bundled":
        from .bundled import load_minilm_wordnet

        X, bundled_texts = load_minilm_wordnet(return_texts=True)
        return X[:max_texts], bundled_texts[:max_texts]
    if source == "minilm" or Path(source).is_dir() and any(
            (Path(source) / f).is_file() for f in ("config.json", "modules.json")):
        from .geometry.layers import load_model, load_texts, sentence_embeddings

        texts = load_texts(texts)[:max_texts]
        return sentence_embeddings(*load_model(source), texts), texts
    X, _ = load_embeddings(source)
    return X[:max_texts], None


@main.command()
@click.argument("model_path")
@click.option("--texts", type=click.Path(exists=True, dir_okay=False),
              help="One text per line (.gz ok; a .tsv takes its last column). Default: the bundled glosses.")
@click.option("--max-texts", type=click.IntRange(min=10), default=2000, show_default=True,
              help="Use the first N texts.")
@click.option("--max-tokens", type=click.IntRange(min=10), default=3000, show_default=True,
              help="Token vectors per layer, drawn with the seed from all ordinary tokens.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--fog-rounds", type=click.IntRange(min=1), default=2, show_default=True,
              help="Search rounds of each fog fit (the slowest step).")
@click.option("--permutations", type=click.IntRange(min=0), default=100, show_default=True,
              help="Label shuffles for the two-sample p-values (in the JSON).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the tables.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Folder for layers.json, layers.md and layers.png (plots of each measure against depth).")
@seed_option
@force_option
@reports(estimate=True)
def layers(model_path, texts, max_texts, max_tokens, batch_size, fog_rounds, permutations, as_json, out, seed,
           force):
    """Geometry of every layer of the transformer in MODEL_PATH, at token and sentence level.

    MODEL_PATH is a local transformers or sentence-transformers folder, or "minilm" for the offline
    all-MiniLM-L6-v2 (needs the [embed] extra). For the raw word table, the embedding layer and each
    transformer layer: TwoNN, IsoScore, participation ratio, anisotropy, nearest-neighbour cosine, hubness,
    share of the second moment on the cone axis and the axis' cosine to the previous layer's, Cayley-Menger
    volume CV, and the k-NN two-sample test of a patch fake and of a fog fitted on half the layer's points
    against the other half (pooled and weaker side, with n, and the real/real ceiling).
    Tokens are the non-special, non-padding ones; sentences are mean-pooled over the attention mask.
    """
    from .geometry.layers import format_layers_markdown, load_texts, run_layers, write_layers

    if out is not None:
        check_output(Path(out) / "layers.json", force)
    result = run_layers(model_path, load_texts(texts), max_texts=max_texts, max_tokens=max_tokens,
                        batch_size=batch_size, fog_rounds=fog_rounds, n_permutations=permutations,
                        random_state=seed, progress=bool(progress()))
    click.echo(json.dumps(result, indent=2) if as_json else format_layers_markdown(result))
    if out is not None:
        written = write_layers(result, out)
        if not as_json:
            click.echo(f"\nwrote {', '.join(str(p) for p in written)} ({result['seconds']})")


@main.command()
@click.argument("a")
@click.argument("b", required=False)
@click.option("--texts", type=click.Path(exists=True, dir_okay=False),
              help="Texts for model folders (default: the bundled glosses); names the rows of embedding files "
                   "holding as many rows.")
@click.option("--max-texts", type=click.IntRange(min=30), default=2000, show_default=True,
              help="Use the first N texts / rows.")
@click.option("--extremes", type=click.IntRange(min=1), default=5, show_default=True,
              help="Texts shown at each end of the axis.")
@click.option("--queries", type=click.IntRange(min=1), default=500, show_default=True,
              help="Queries of the centering retrieval check (at most a fifth of the rows).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@seed_option
@reports
def cone(a, b, texts, max_texts, extremes, queries, as_json, seed):
    """The cone axis of one or two embedding sets, and what centering changes.

    A and B are embedding files, model folders (sentence embedding = mean of the last layer over the
    attention mask), "minilm" (the offline all-MiniLM-L6-v2) or "bundled" (the bundled sample and its
    glosses). The axis is the top principal direction of the uncentred unit rows, signed towards the mean.
    Shown: the texts projecting highest and lowest; centering (subtract the corpus mean, re-normalize) and
    its effect on anisotropy, hubness and retrieval: overlap@10 = share of each query's raw cosine top-10
    found again when base and query are centred. With two sets: the cosine between the axes (same
    dimension only; meaningful for a model and its fine-tuned version) and, when both hold the same texts,
    the correlation of the texts' projections on the two axes.
    """
    from .progress import stage

    sets = {}
    row_texts = None
    for name in [x for x in (a, b) if x is not None]:
        stage(f"embeddings of {name}")
        X, t = _embedding_set(name, texts, max_texts, seed)
        sets[name if name not in sets else name + " (2)"] = X
        row_texts = row_texts or t
    if row_texts is None and texts is not None:
        from .geometry.layers import load_texts

        row_texts = load_texts(texts)[:max_texts]
    from .geometry.cone import cone_report

    stage("cone axis, centering, and retrieval before and after it")
    result = cone_report(sets, texts=row_texts, n_extremes=extremes, n_queries=queries, random_state=seed)
    if as_json:
        echo_json(result)
        return
    for name, r in result["sets"].items():
        c = r["centering"]
        click.echo(f"{name}: {r['n']} x {r['d']}; axis carries {r['axis_share']:.3f} of the second moment "
                   f"(1/d = {1 / r['d']:.4f}), cosine to the mean direction {r['mean_cosine']:.3f}")
        for title, rows in (("highest on the axis", r["highest"]), ("lowest on the axis", r["lowest"])):
            click.echo(f"  {title}:")
            for row in rows:
                label = row["text"] if row["text"] is not None else f"row {row['row']}"
                click.echo(f"    {row['cosine']:+.3f}  {label}")
        click.echo(f"  centering: anisotropy {c['anisotropy_before']:.4f} -> {c['anisotropy_after']:.4f}, "
                   f"hubness {c['hubness_before']:.2f} -> {c['hubness_after']:.2f}, "
                   f"overlap@{c['k']} of raw and centred neighbours {c['overlap_at_k']:.3f} "
                   f"({c['n_queries']} queries, {c['n_base']} base)")
    if "comparison" in result:
        cmp = result["comparison"]
        fmt = lambda v: "n/a" if v is None else f"{v:+.3f}"  # noqa: E731
        click.echo(f"axis cosine {fmt(cmp['axis_cosine'])}, projection correlation "
                   f"{fmt(cmp['projection_correlation'])}")


@main.command("cm-sweep")
@click.argument("real", required=False)
@click.option("--dims", help="Comma-separated dimensions (default 4, 8, 16, ... and the full dimension).")
@click.option("--n", "n", type=click.IntRange(min=5), default=2000, show_default=True, help="Points per set.")
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True,
              help="Random sets per dimension (the band).")
@click.option("--simplices", type=click.IntRange(min=2), default=2000, show_default=True,
              help="Random 5-point draws per CV.")
@click.option("--plot", type=click.Path(dir_okay=False), help="PNG of the band and the real curves.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@input_options
@seed_option
@reports
def cm_sweep(real, dims, n, repeats, simplices, plot, as_json, key, column, split, seed):
    """Cayley-Menger band sweep: CV of 4-simplex volumes against dimension, random vs REAL.

    Uniform random unit vectors give a narrow band that falls with dimension (volumes concentrate). REAL
    (default: the bundled sample) is brought to each dimension by top-d PCA projection and by Matryoshka
    truncation (first d coordinates), re-normalized; real data crowding onto patches sits above the band.
    """
    from .geometry.simplex import cm_sweep as run_sweep
    from .geometry.simplex import plot_cm_sweep

    if real is None:
        from .bundled import load_minilm_wordnet

        X = load_minilm_wordnet()
    else:
        from .io.formats import load_embeddings

        X, _ = load_embeddings(real, key=key, column=column, split=split, min_points=5)
    try:
        dim_list = [int(x) for x in dims.split(",")] if dims else None
    except ValueError:
        raise SynthError(f"--dims must be comma-separated integers, got {dims!r}") from None
    result = run_sweep(X, dims=dim_list, n=n, repeats=repeats, n_simplices=simplices, random_state=seed)
    if plot:
        plot_cm_sweep(result, plot)
    if as_json:
        echo_json(result)
        return
    click.echo(f"CV of 4-simplex volumes, n = {result['n']} points, {simplices} draws; random band over "
               f"{repeats} sets")
    click.echo(f"{'dims':>6} {'random min':>11} {'mean':>7} {'max':>7} {'real PCA':>9} {'real first-d':>13}")
    for r in result["rows"]:
        click.echo(f"{r['dims']:>6} {r['random_min']:>11.4f} {r['random_mean']:>7.4f} {r['random_max']:>7.4f} "
                   f"{r['real_pca']:>9.4f} {r['real_truncated']:>13.4f}")


if __name__ == "__main__":
    main()
