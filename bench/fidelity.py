"""The fidelity scoreboard: how close each generator configuration comes to real data, and at what price.

Real embeddings are split once into training and held-out rows. Every configuration is fitted on the
training rows (a model file the user fitted is scored beside them, :mod:`bench.split`) and scored against
held-out real only (REFERENCE "The k-NN two-sample test"): the c2st at
several n with the real-vs-real ceiling at the same n, the memorization check against the training rows,
the geometry statistics, the model file's size, the fit time and the HNSW search cost at recall 0.95
relative to real's.
"""

import time
from pathlib import Path

import numpy as np
import yaml
from tqdm.auto import tqdm

from synth.errors import SynthError
from synth.io.arrays import unit_rows
from synth.io.artifact import model_bytes
from synth.io.formats import atomic_path, write_json
from synth.metrics.statistics import geometry_stats, hubness
from synth.metrics.twosample import knn_two_sample, memorization
from synth.models import MODELS
from synth.models.fitting import make_model
from synth.progress import stage

SIZES = (1000, 2000, 5000, 10_000)
HNSW_INDEX = "faiss-hnsw"
HNSW_TARGET = 0.95
MEMORIZATION_LIMIT = 0.06  # rate above which a configuration is said to copy (issue 4)
MEDIAN_MARGIN = 0.01  # ... or fake median nearest-training cosine above held-out's + this

# name -> (kind, params). "seed" is the plain local PCA the project started from; "default" is `synth fit`'s.
DEFAULT_CONFIGS = {
    "seed": ("patch", {"n_patches": 120, "rank": 48, "noise_scale": 1.0}),
    "default": ("patch", {}),
    "K240-r48": ("patch", {"n_patches": 240, "rank": 48}),
    "K120-r16": ("patch", {"n_patches": 120, "rank": 16}),
    "fog": ("fog", {}),
    "random": ("random", {}),
}


def parse_config(text):
    """Parse ``NAME=KIND[:key=value,...]`` (values read as YAML scalars) into ``(name, kind, params)``.

    Examples: ``default=patch``, ``big=patch:n_patches=240,rank=48``, ``plain=patch:noise_scale=1``.
    """
    name, sep, rest = text.partition("=")
    kind, _, args = rest.partition(":")
    if not sep or not name or not kind:
        raise SynthError(f"configuration {text!r}: expected NAME=KIND[:key=value,...]")
    if kind not in MODELS:
        raise SynthError(f"configuration {text!r}: unknown kind {kind!r} (known: {', '.join(MODELS)})")
    params = {}
    for item in filter(None, args.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SynthError(f"configuration {text!r}: {item!r} is not key=value")
        params[key.strip()] = yaml.safe_load(value)
    known = set(MODELS[kind]._get_param_names()) - {"random_state", "verbose"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise SynthError(f"configuration {text!r}: {kind} has no parameter {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(known))})")
    return name, kind, params


def _stats(X):
    """The five geometry statistics plus hubness (skewness of k-occurrence), which bears on graph search."""
    return {**geometry_stats(X), "hubness": hubness(X)}


def _two_sample(a, b, k, n_permutations, seed, metric="cosine"):
    t = knn_two_sample(a, b, k=k, n_permutations=n_permutations, random_state=seed, metric=metric)
    return {key: t[key] for key in ("c2st", "c2st_real", "c2st_fake", "p_value")}


def fit_config(name, kind, params, train, random_state):
    """Fit one configuration on ``train``; returns the model and the fit's wall time in seconds."""
    stage(f"fitting {name} ({kind}) on {len(train):,} rows")
    model = make_model(kind, random_state=random_state, **params)
    t0 = time.perf_counter()
    try:
        model.fit(train)
    except TypeError as e:
        raise SynthError(f"configuration {name!r}: {e}") from None
    return model, time.perf_counter() - t0


def copies(mem):
    """Issue 4's copying rule on a memorization result: rate above the limit, or fake median
    nearest-training cosine above held-out's plus the margin."""
    return bool(mem["memorization_rate"] > MEMORIZATION_LIMIT
                or mem["fake_median"] > mem["heldout_median"] + MEDIAN_MARGIN)


def model_size(model, from_file):
    """Bytes of the model file: the file's own size for a model read from one, else those it would take."""
    path = getattr(model, "path_", None) if from_file else None
    return Path(path).stat().st_size if path else len(model_bytes(model))


def given_model(model, configs, metric, d):
    """Check a model read from its file against a board: its name (the file's stem) is not a configuration's,
    its metric is the board's, its dimension the rows'. Returns ``(name, (kind, params))``."""
    path = getattr(model, "path_", None)
    name = Path(path).stem if path else "model"
    if name in configs:
        raise SynthError(f"configuration {name!r}: the model file has that name")
    fitted = getattr(model, "metric", "cosine")
    if fitted != metric:
        raise SynthError(f"fitted with metric {fitted}, the board asks for {metric}: drop --metric (the model's is "
                         f"used) or refit with --metric {metric}", path)
    if model.n_features_ != d:
        raise SynthError(f"has dimension {model.n_features_}, the real rows {d}", path)
    return name, (model.kind, {k: v for k, v in model.get_params().items() if k != "verbose"})


def hnsw_cost(base, queries, k, metric="cosine"):
    """Distance computations per query of faiss HNSW at recall 0.95 (None when not reached), under ``metric``."""
    from .indexes import get
    from .runner import cost_at_target, measure_index
    from .suites import make_corpus

    spec = get(HNSW_INDEX)
    corpus = make_corpus("c", base, queries, metric=metric)
    r = measure_index(spec, spec.build_grid[0], corpus, k=k, repeats=1)
    return cost_at_target(r["curve"], HNSW_TARGET, "ndis"), r["build_params"]


def scoreboard(real, configs=None, n_train=None, sizes=SIZES, k=10, n_permutations=100, stats_n=5000,
               hnsw=True, n_queries=1000, random_state=0, verbose=0, source=None, metric="cosine", model=None,
               all_heldout=False):
    """Fit and score generator configurations on one real set.

    Parameters
    ----------
    real : ndarray of shape (n_samples, n_features)
        Real embeddings; rows are normalized. A seeded permutation puts ``n_train`` of them in training,
        the rest in held-out.
    configs : dict of str to (kind, params), optional
        Default :data:`DEFAULT_CONFIGS` (none when ``model`` is given).
    n_train : int, optional
        Default 10,000, or with ``model`` the rows it was fitted on.
    sizes : sequence of int
        n of the two-sample test; sizes above the held-out count are dropped and the held-out count itself
        is added (the largest test the data allow). The ceiling (training vs held-out) needs
        n <= ``n_train``; above that it is None.
    k, n_permutations : int
        Of the two-sample test.
    stats_n : int
        Rows for the geometry statistics (real and fake alike).
    hnsw : bool
        Measure HNSW search cost at recall 0.95 on held-out real and on each fake (equal n, queries
        outside the base); n is the largest size that leaves ``n_queries`` held-out rows as queries.
    n_queries : int
    random_state : int
    verbose : int
    source : str, optional
        Name of the real set, for the report.
    metric : {"cosine", "ip", "l2"}
        ip / l2: the rows keep their norms, patch configurations are fitted with the metric (the default
        configurations keep only their patch ones; fog and random models are cosine only and refused), the
        two-sample tests, ceiling and HNSW run use it; memorization and statistics are of the directions, and
        each configuration's ``norms`` compares the row norms.
    model : synth.models.Generator, optional
        A model read from its file, scored as one more configuration named after the file, with its own
        metric; its training rows must be the first N of the permutation (found by fingerprint), else
        ``all_heldout`` (:func:`bench.split.board_split`; then no configurations, no ceiling and no
        memorization check).
    all_heldout : bool

    Returns
    -------
    dict
        ``data``, ``split``, ``sizes``, ``ceiling`` (per n), ``real`` (statistics, HNSW cost) and
        ``configs``: per configuration ``c2st`` (per n: ``c2st``, ``c2st_real``, ``c2st_fake``,
        ``p_value``), ``memorization``, ``copies``, ``stats``, ``model_bytes``, ``fit_seconds``,
        ``n_patches``, ``noise_scale``, ``hnsw`` (with ``model``: its ``model`` file, ``fit_seconds`` None).
    """
    from synth.metric import check_metric, metric_rows
    from synth.metrics.twosample import norm_comparison

    from .split import board_split

    check_metric(metric)
    default = configs is None and model is None
    configs = dict(DEFAULT_CONFIGS if default else configs or {})
    if metric != "cosine":
        wrong = [name for name, (kind, _) in configs.items() if kind != "patch"]
        if wrong and not default:
            raise SynthError(f"configuration {wrong[0]!r}: metric {metric} needs kind patch (the others are "
                             "cosine only)")
        configs = {name: (kind, {**params, "metric": metric}) for name, (kind, params) in configs.items()
                   if kind == "patch"}
        real = metric_rows(real, metric, min_rows=2 * (k + 1), path=source)
    else:
        real = unit_rows(real, min_rows=2 * (k + 1))
    n, d = real.shape
    runs = {name: (kind, params, None) for name, (kind, params) in configs.items()}
    if model is not None:
        name, (kind, params) = given_model(model, configs, metric, d)
        runs[name] = (kind, params, model)
    train, heldout, split = board_split(real, n_train, random_state, model, source, metric, all_heldout)
    n_train = split["n_fit"]
    if train is not None and (not 0 < n_train < n - k):
        raise SynthError(f"{n} real rows: n_train={n_train} leaves no held-out rows to test against", source)
    if configs and train is None:
        raise SynthError(f"configurations are fitted on the rows the model was, which are not in {source or 'REAL'} "
                         "(--all-heldout): score the model alone, or pass the set it was fitted on")
    seeds = np.random.SeedSequence(random_state).generate_state(3)
    n_held = len(heldout)
    sizes = sorted({s for s in sizes if k < s <= n_held} | {n_held})
    n_fake = sizes[-1]
    n_mem = min(10_000, n_held)
    stats_n = min(stats_n, n_held)
    n_hnsw = min(sizes[-1], n_held - n_queries) if hnsw else 0
    if hnsw and n_hnsw < 10 * k:
        raise SynthError(f"{n_held} held-out rows are too few for an HNSW run with {n_queries} queries", source)

    bar = tqdm(total=len(runs) + 1, desc="fidelity", disable=not verbose, leave=False)
    bar.set_postfix_str("ceiling")
    stage(f"ceiling (training vs held-out) at n = {', '.join(f'{s:,}' for s in sizes)}")
    ceiling = {str(s): (_two_sample(heldout[:s], train[:s], k, 0, None, metric)
                        if train is not None and s <= n_train else None) for s in sizes}
    real_info = {"stats": _stats(heldout[:stats_n]), "heldout_median_nn_train": None if train is None else
                 memorization(train, heldout[:n_mem], heldout[:n_mem])["heldout_median"]}
    queries = heldout[n_hnsw:n_hnsw + n_queries] if hnsw else None
    if hnsw:
        cost, params = hnsw_cost(heldout[:n_hnsw], queries, k, metric)
        real_info["hnsw"] = {"index": HNSW_INDEX, "build_params": params, "n": n_hnsw, "queries": n_queries,
                             "ndis_at_0.95": cost}
    bar.update()

    rows = []
    for name, (kind, params, given) in runs.items():
        bar.set_postfix_str(name)
        gen, fit_seconds = (given, None) if given is not None else fit_config(name, kind, params, train, random_state)
        fake = gen.sample(n_fake, random_state=int(seeds[0]))
        stage(f"{name}: two-sample tests at n = {', '.join(f'{s:,}' for s in sizes)}, memorization, statistics")
        row = {"name": name, "kind": kind, "params": params,
               "fit_seconds": None if fit_seconds is None else round(fit_seconds, 2),
               "model_bytes": model_size(gen, given is not None),
               **({"model": getattr(gen, "path_", None)} if given is not None else {}),
               "n_patches": int(gen.n_patches_) if hasattr(gen, "n_patches_") else None,
               "noise_scale": getattr(gen, "noise_scale_", None),
               "calibration": getattr(gen, "calibration_", None),
               "bridge": getattr(gen, "bridge_", None),
               "bridge_calibration": getattr(gen, "bridge_calibration_", None),
               "c2st": {str(s): _two_sample(heldout[:s], fake[:s], k, n_permutations, int(seeds[1]), metric)
                        for s in sizes},
               "memorization": None if train is None else memorization(train, fake[:n_mem], heldout[:n_mem]),
               "stats": _stats(fake[:stats_n])}
        row["copies"] = None if train is None else copies(row["memorization"])
        if metric != "cosine":
            row["norms"] = norm_comparison(heldout[:stats_n], fake[:stats_n])
        if hnsw:
            cost, _ = hnsw_cost(fake[:n_hnsw], gen.sample(n_queries, random_state=int(seeds[2])), k, metric)
            ref = real_info["hnsw"]["ndis_at_0.95"]
            row["hnsw"] = {"ndis_at_0.95": cost, "ratio": cost / ref if cost and ref else None}
        rows.append(row)
        bar.update()
    bar.close()
    return {"data": {"source": source, "n": n, "d": d}, **({"metric": metric} if metric != "cosine" else {}),
            "split": {"n_train": n_train, "n_heldout": n_held, "random_state": random_state,
                      **({"model": getattr(model, "path_", None), "fit_rows": split["fit_rows"],
                          "note": split["note"]} if model is not None else {})},
            "k": k, "n_permutations": n_permutations, "sizes": sizes, "stats_n": stats_n, "n_memorization": n_mem,
            "limits": {"memorization_rate": MEMORIZATION_LIMIT, "median_margin": MEDIAN_MARGIN},
            "ceiling": ceiling, "real": real_info, "configs": rows}


def _pair(t):
    return "-" if t is None else f"{t['c2st']:.3f} / {min(t['c2st_real'], t['c2st_fake']):.3f}"


def markdown(result):
    """Three tables: the c2st curve over n, privacy and price, and the geometry statistics."""
    sizes = [str(s) for s in result["sizes"]]
    src = result["data"]["source"] or "real data"
    split = result["split"]
    head = (f"{src}: fitted on {split['n_train']:,} rows, tested against {split['n_heldout']:,} held-out rows "
            f"(k = {result['k']}, seed {split['random_state']})."
            + (f" Metric {result['metric']}: rows keep their norms; the two-sample test and HNSW use it, "
               "memorization and statistics are of the directions." if result.get("metric") else "")
            + ("" if not split.get("model") else f" Model file {split['model']}: " + (
                "the training rows, found by its fingerprint."
                if split["fit_rows"] == "split" else f"all of {src} is held out; ceiling and memorization "
                f"{split['note']}.")))
    lines = [head, "", "**c2st by n: pooled / weaker side** (0.5 = indistinguishable; ceiling = training vs "
             "held-out real at the same n)", "",
             "| config | " + " | ".join(f"n = {int(s):,}" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for row in result["configs"]:
        lines.append(f"| {row['name']} | " + " | ".join(_pair(row["c2st"][s]) for s in sizes) + " |")
    lines.append("| ceiling (real/real) | " + " | ".join(_pair(result["ceiling"][s]) for s in sizes) + " |")

    hn = result["real"].get("hnsw")
    lines += ["", f"**privacy and price** (memorization on {result['n_memorization']:,} fakes; copies = rate > "
              f"{result['limits']['memorization_rate']} or fake median > held-out's + "
              f"{result['limits']['median_margin']}" + (f"; HNSW = faiss HNSW M=16 distance computations at "
                                                        f"recall 0.95, n = {hn['n']:,}, ratio to real" if hn else "")
              + ")", "",
              "| config | patches | noise scale | memorization rate | NN-train cos fake / held-out | copies | "
              "model MB | fit s | HNSW ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for row in result["configs"]:
        mem = row["memorization"]
        ratio = row.get("hnsw", {}).get("ratio")
        cells = [row["name"], "-" if row["n_patches"] is None else str(row["n_patches"]),
                 "-" if row["noise_scale"] is None else f"{row['noise_scale']:.2f}",
                 *(["-"] * 3 if mem is None else [f"{mem['memorization_rate']:.3f}",
                                                   f"{mem['fake_median']:.3f} / {mem['heldout_median']:.3f}",
                                                   "yes" if row["copies"] else "no"]),
                 f"{row['model_bytes'] / 1e6:.2f}", "-" if row["fit_seconds"] is None else f"{row['fit_seconds']:.1f}",
                 ("not reached" if "hnsw" in row else "-") if ratio is None else f"{ratio:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    if hn:
        real_cost = hn["ndis_at_0.95"]  # None: the largest efSearch does not reach 0.95 on the real rows either
        lines.append("| real | | | | | | | | " + ("not reached" if real_cost is None else f"{real_cost:,.0f} per query")
                     + " |")

    normed = [row for row in result["configs"] if row.get("norms")]
    if normed:
        q = normed[0]["norms"]["quantiles"]
        lines += ["", f"**row norms** (quantiles {', '.join(f'{p}%' for p in q)} of {result['stats_n']:,} held-out "
                  "rows and as many fakes; KS = two-sample Kolmogorov-Smirnov statistic, 0 = same distribution)", "",
                  "| set | norms | KS |", "|---|---|---|",
                  "| real | " + " / ".join(f"{v:.3f}" for v in normed[0]["norms"]["real"]) + " | |"]
        lines += [f"| {row['name']} | " + " / ".join(f"{v:.3f}" for v in row["norms"]["fake"])
                  + f" | {row['norms']['ks']:.3f} |" for row in normed]

    names = [("twonn_id", "TwoNN dim", "{:.1f}"), ("isoscore", "IsoScore", "{:.4f}"),
             ("participation_ratio", "part. ratio", "{:.1f}"), ("anisotropy", "anisotropy", "{:.4f}"),
             ("nn_cosine", "NN cosine", "{:.3f}"), ("hubness", "hubness", "{:.2f}")]
    lines += ["", f"**geometry statistics** (n = {result['stats_n']:,})", "",
              "| set | " + " | ".join(n for _, n, _ in names) + " |", "|---|" + "---|" * len(names)]
    for label, stats in [("held-out real", result["real"]["stats"])] + [(r["name"], r["stats"])
                                                                        for r in result["configs"]]:
        lines.append(f"| {label} | " + " | ".join(f.format(stats[key]) for key, _, f in names) + " |")
    return "\n".join(lines) + "\n"


def plot(result, path):
    """c2st (pooled, solid; weaker side, dashed) against n for each configuration, with the ceiling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = result["sizes"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, row in enumerate(result["configs"]):
        color = f"C{i}"
        ax.plot(sizes, [row["c2st"][str(s)]["c2st"] for s in sizes], "-o", color=color, label=row["name"], ms=3)
        ax.plot(sizes, [min(row["c2st"][str(s)]["c2st_real"], row["c2st"][str(s)]["c2st_fake"]) for s in sizes],
                "--", color=color, lw=1)
    ceil = [(s, result["ceiling"][str(s)]["c2st"]) for s in sizes if result["ceiling"][str(s)]]
    if ceil:
        ax.plot(*zip(*ceil), "k:", lw=2, label="ceiling (real/real)")
    ax.set_xscale("log")
    ax.set_xlabel("n per side")
    ax.set_ylabel("c2st (solid: pooled, dashed: weaker side)")
    ax.set_ylim(0, 0.55)
    ax.set_title(f"{result['data']['source'] or 'real'}: k-NN two-sample test against held-out real", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_png(fig, path)


def write_board(result, folder, stem, to_markdown, to_png=None):
    """``STEM.json``, ``STEM.md`` and (with ``to_png``) ``STEM.png`` in ``folder``, each written atomically;
    returns the paths."""
    names = [f"{stem}.json", f"{stem}.md"] + ([f"{stem}.png"] if to_png is not None else [])
    stage(f"writing {', '.join(names[:-1])} and {names[-1]} to {folder}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in names]
    write_json(paths[0], result)
    with atomic_path(paths[1]) as tmp:
        Path(tmp).write_text(to_markdown(result))
    if to_png is not None:
        to_png(result, paths[2])
    return paths


def save_png(fig, path):
    """Write a matplotlib figure as PNG under a temporary name, rename it onto ``path``, close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_outputs(result, folder):
    """``fidelity.json``, ``fidelity.md`` and ``fidelity.png`` in ``folder``; returns the paths."""
    return write_board(result, folder, "fidelity", markdown, plot)
