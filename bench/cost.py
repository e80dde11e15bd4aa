"""The search-cost scoreboard: what it costs to search fake data against real data, as n grows past N.

One seeded permutation of the real rows gives the fitting rows (the first N), the real queries (the next Q)
and the real base (the rest, nested: the base of size n is its first n rows). Every configuration is fitted
once on the N rows, and a model file the user fitted is scored beside them (its training rows found by
fingerprint, :mod:`bench.split`); at each n its fake base and fake queries are fresh model samples. Every index is built
on every corpus and its cost at equal recall (distance computations, single-thread QPS) is compared as the
ratio fake / real, with the diagnostics that explain a gap (:mod:`bench.mesoscale`) and the two-sample and
memorization checks that say whether the fake is faithful and private (REFERENCE "Search cost at equal
recall").
"""

import math

import numpy as np
from tqdm.auto import tqdm

from synth.errors import SynthError
from synth.metrics.statistics import geometry_stats
from synth.metrics.twosample import memorization
from synth.models.base import normalize
from synth.progress import stage

from .fidelity import _two_sample, copies, fit_config, given_model, model_size, save_png, write_board
from .indexes import require
from .mesoscale import diagnostics
from .runner import TARGETS, costs_at_targets, measure_index
from .split import board_split
from .suites import make_corpus

SIZES = (10_000, 30_000, 100_000)
INDEXES = ("faiss-hnsw", "faiss-ivf", "faiss-ivfsq8", "hnswlib")
QUERY_SOURCES = ("model", "jitter")
N_MEMORIZATION = 2000
N_STATS = 5000  # rows (real held-out and fake alike) for the geometry statistics
STATS = ("twonn_id", "isoscore", "participation_ratio", "anisotropy", "nn_cosine")
HEADLINE = "0.95"  # the target of the plot and of the absolute columns


def jitter_queries(model, n, jitter, sample_seed, noise_seed, metric="cosine"):
    """Model samples moved off the model's typical set by isotropic Gaussian noise.

    q = normalize(s + jitter * g / sqrt(d)), s a fresh model sample (never a base row), g ~ N(0, I_d):
    the noise has norm about ``jitter`` whatever d, so ``jitter`` is the typical step on the sphere.
    Real queries include atypical points that plain model samples lack; this is the simplest such query model.
    With ``metric`` ip or l2 the step is relative to the sample's norm and the row is not normalized:
    q = s + jitter * |s| * g / sqrt(d).

    Parameters
    ----------
    model : synth.models.Generator
    n : int
    jitter : float
    sample_seed, noise_seed : int

    Returns
    -------
    queries : ndarray of shape (n, d), float32 unit rows
    """
    s = model.sample(n, random_state=sample_seed)
    g = np.random.default_rng(noise_seed).standard_normal(s.shape, dtype=np.float32)
    if metric != "cosine":
        return s + np.float32(jitter / math.sqrt(s.shape[1])) * np.linalg.norm(s, axis=1, keepdims=True) * g
    return normalize(s + np.float32(jitter / math.sqrt(s.shape[1])) * g)


def _measure(corpus, specs, k, targets, repeats, bar):
    """Each index on one corpus, first build-grid point: its sweep and its cost at each target."""
    out = {}
    for spec in specs:
        bar.set_postfix_str(f"{spec.name} on {corpus.name}")
        out[spec.name] = costs_at_targets(measure_index(spec, spec.build_grid[0], corpus, k=k, repeats=repeats),
                                          targets)
        bar.update()
    return out


def _ratio(fake, real):
    return None if fake is None or real is None else fake / real


def ratios(fake_cost, real_cost):
    """fake / real per index, target and cost; None where either side is not reached or has no counter."""
    return {name: {key: {t: _ratio(v, real_cost[name][f"{key}_at_target"][t])
                         for t, v in fake_cost[name][f"{key}_at_target"].items()} for key in ("ndis", "qps")}
            for name in fake_cost}


def _corpus(name, base, queries, k, targets, repeats, specs, bar, random_state, metric="cosine"):
    corpus = make_corpus(name, base, queries, metric=metric)
    return {"cost": _measure(corpus, specs, k, targets, repeats, bar),
            "diagnostics": diagnostics(corpus, k, random_state)}


def cost_board(real, configs=None, n_fit=None, sizes=SIZES, n_queries=500, indexes=INDEXES, k=10,
               targets=TARGETS, queries_from="model", jitter=0.05, repeats=3, n_permutations=0, random_state=0,
               verbose=0, source=None, metric="cosine", model=None, all_heldout=False):
    """Search cost of fake corpora against real ones of the same size, for each configuration and n.

    Parameters
    ----------
    real : ndarray of shape (n_samples, n_features)
        Real embeddings; rows are normalized. Split by one seeded permutation into ``n_fit`` fitting rows,
        ``n_queries`` real queries and the real base (the rest; the base of size n is its first n rows).
    configs : dict of str to (kind, params), optional
        Default ``{"default": ("patch", {})}``, the configuration of `synth fit` (none when ``model`` is given).
    n_fit : int, optional
        N, the fitting rows: default 10,000, or with ``model`` the rows it was fitted on.
    sizes : sequence of int
        Base sizes n; those above the rows left for the base are dropped (``dropped_sizes``).
    n_queries : int
        Queries per corpus, never in its base.
    indexes : sequence of str
        Registered index plug-ins, each built with its first build-grid point.
    k : int
        Recall@k and the neighbours of the diagnostics.
    targets : sequence of float
        Recalls at which cost is interpolated.
    queries_from : {"model", "jitter"}
        Fake queries: model samples from their own seed, or those samples jittered
        (:func:`jitter_queries`).
    jitter : float
        Noise of the jittered queries.
    repeats : int
        Timed passes per query setting; QPS is their median.
    n_permutations : int
        Of the two-sample test (0: no p-value).
    random_state : int
    verbose : int
    source : str, optional
        Name of the real set, for errors and the report.
    metric : {"cosine", "ip", "l2"}
        Cosine: rows are normalized. ip / l2: the real rows keep their norms, every patch configuration is
        fitted with that metric (it learns the norms), and ground truth, recall, the indexes (faiss
        METRIC_L2 / METRIC_INNER_PRODUCT, hnswlib's space), the cell diagnostics (Euclidean k-means) and the
        two-sample test use it; the memorization check and the geometry statistics are of the directions,
        and ``norms`` compares the row norms.
    model : synth.models.Generator, optional
        A model read from its file (:func:`synth.io.artifact.load_model`), scored as one more configuration
        named after the file, with its own metric (another ``metric`` is refused). Its training rows are found
        in ``real`` by their fingerprint (:func:`bench.split.board_split`): the first N rows of the
        permutation, and the configurations are fitted on the same rows. Else the board is refused, unless
        ``all_heldout`` says ``real`` holds only rows the model never saw (then no configurations, and no
        memorization check).
    all_heldout : bool

    Returns
    -------
    dict
        ``data``, ``n_fit``, ``sizes``, ``dropped_sizes``, ``n_queries``, ``queries_from``, ``jitter``,
        ``indexes``, ``index_info``; ``real[n]`` with ``cost`` (per index: ``ndis_at_target``,
        ``qps_at_target``, ``curve``, ...) and ``diagnostics``; ``configs[name]`` with ``by_n[n]``
        (``cost``, ``diagnostics``, ``ratios[index]["ndis" | "qps"][target]``), ``c2st``, ``memorization``,
        ``copies``, ``n_patches``, ``noise_scale``, ``fit_seconds``, ``model_bytes`` (with ``model``: its
        ``model`` file, ``fit_seconds`` None, ``memorization`` and ``copies`` None when its training rows are
        not in ``real``); ``split`` (:func:`bench.split.board_split`'s ``info``, and ``model``).
    """
    from synth.metric import check_metric, metric_rows
    from synth.metrics.twosample import norm_comparison

    configs = dict(configs or ({} if model is not None else {"default": ("patch", {})}))
    check_metric(metric)
    if metric != "cosine":
        wrong = [name for name, (kind, _) in configs.items() if kind != "patch"]
        if wrong:
            raise SynthError(f"configuration {wrong[0]!r}: metric {metric} needs kind patch (the others are "
                             "cosine only)")
        configs = {name: (kind, {**params, "metric": metric}) for name, (kind, params) in configs.items()}
    if queries_from not in QUERY_SOURCES:
        raise SynthError(f"queries_from must be one of {', '.join(QUERY_SOURCES)}, got {queries_from!r}")
    if not jitter >= 0:
        raise SynthError(f"jitter must be >= 0, got {jitter}")
    specs = require(indexes, metric=metric)
    real = metric_rows(real, metric, 2, source)  # unit rows for cosine
    n, d = real.shape
    runs = {name: (kind, params, None) for name, (kind, params) in configs.items()}
    if model is not None:  # one more configuration, already fitted
        name, (kind, params) = given_model(model, configs, metric, d)
        runs[name] = (kind, params, model)
    fit_rows, heldout, split = board_split(real, n_fit, random_state, model, source, metric, all_heldout)
    if configs and fit_rows is None:
        raise SynthError(f"configurations are fitted on the rows the model was, which are not in {source or 'REAL'} "
                         "(--all-heldout): score the model alone, or pass the set it was fitted on")
    n_fit = split["n_fit"]
    n_base = len(heldout) - n_queries
    n_c2st = n_fit // 10
    if n_c2st <= k or n_queries < 1:
        raise SynthError(f"n_fit={n_fit:,}, n_queries={n_queries}: the two-sample test at n = N / 10 needs "
                         f"N > {10 * k} and at least one query is needed", source)
    kept = sorted({int(s) for s in sizes if k < s <= n_base})
    dropped = sorted({int(s) for s in sizes} - set(kept))
    if not kept:
        raise SynthError(f"{n:,} real rows: {n - len(heldout):,} to fit and {n_queries:,} queries leave "
                         f"{max(n_base, 0):,} for the base, fewer than any size "
                         f"({', '.join(f'{s:,}' for s in sorted(sizes))})", source)
    queries, rest = heldout[:n_queries], heldout[n_queries:]
    # one stream each: fake base, fake queries, jitter noise, privacy fakes, c2st permutations
    seed_b, seed_q, seed_g, seed_p, seed_t = (int(s) for s in np.random.SeedSequence(random_state).generate_state(5))
    n_mem = min(N_MEMORIZATION, len(rest))
    n_c2st = min(n_c2st, len(rest))

    bar = tqdm(total=len(kept) * (1 + len(runs)) * len(specs), desc="cost", disable=not verbose, leave=False)
    run = (k, targets, repeats, specs, bar, random_state, metric)
    # real corpora do not depend on the configuration: measured once per n, shared by all
    real_runs = {str(s): _corpus(f"real n={s:,}", rest[:s], queries, *run) for s in kept}
    n_stats = min(N_STATS, len(rest))
    real_stats = geometry_stats(rest[:n_stats])
    rows = {}
    for name, (kind, params, given) in runs.items():
        gen, fit_seconds = (given, None) if given is not None else fit_config(name, kind, params, fit_rows,
                                                                              random_state)
        # sample(n)[:m] == sample(m): one draw of the largest base gives every nested base
        fake_base = gen.sample(kept[-1], random_state=seed_b)
        fake_q = (jitter_queries(gen, n_queries, jitter, seed_q, seed_g, metric) if queries_from == "jitter"
                  else gen.sample(n_queries, random_state=seed_q))
        by_n = {}
        for s in kept:
            r = _corpus(f"{name} n={s:,}", fake_base[:s], fake_q, *run)
            by_n[str(s)] = {**r, "ratios": ratios(r["cost"], real_runs[str(s)]["cost"])}
        # held-out real rows for the privacy checks are base rows: never fitted
        stage(f"{name}: two-sample test, memorization, statistics")
        fake_p = gen.sample(max(n_c2st, n_mem, n_stats), random_state=seed_p)
        stats = geometry_stats(fake_p[:n_stats])
        mem = None if fit_rows is None else {"n": n_mem, **memorization(fit_rows, fake_p[:n_mem], rest[:n_mem])}
        rows[name] = {"kind": kind, "params": params, "by_n": by_n,
                      "c2st": {"n": n_c2st, **_two_sample(rest[:n_c2st], fake_p[:n_c2st], k, n_permutations, seed_t,
                                                          metric)},
                      "memorization": mem, "copies": None if mem is None else copies(mem),
                      "stats": {key: stats[key] for key in STATS},
                      "stats_ratio": {key: stats[key] / real_stats[key] for key in STATS},
                      "n_patches": int(gen.n_patches_) if hasattr(gen, "n_patches_") else None,
                      "noise_scale": getattr(gen, "noise_scale_", None),
                      "bridge": getattr(gen, "bridge_", None),
                      "bridge_calibration": getattr(gen, "bridge_calibration_", None),
                      "fit_seconds": None if fit_seconds is None else round(fit_seconds, 2),
                      "model_bytes": model_size(gen, given is not None),
                      **({"model": getattr(gen, "path_", None)} if given is not None else {}),
                      **({"norms": norm_comparison(rest[:n_stats], fake_p[:n_stats])} if metric != "cosine" else {})}
    bar.close()
    return {"data": {"source": source, "n": n, "d": d}, **({"metric": metric} if metric != "cosine" else {}),
            "n_fit": n_fit, "split": {**split, "model": getattr(model, "path_", None)}, "n_memorization": n_mem,
            "sizes": kept, "dropped_sizes": dropped,
            "n_base_available": n_base, "n_queries": n_queries, "queries_from": queries_from,
            "jitter": jitter if queries_from == "jitter" else None, "k": k, "targets": [float(t) for t in targets],
            "repeats": repeats, "n_permutations": n_permutations, "random_state": random_state,
            "indexes": [s.name for s in specs],
            "index_info": {s.name: {"description": s.description, "counter": s.counter,
                                    "counter_note": s.counter_note} for s in specs},
            "real": real_runs, "real_stats": {"n": n_stats, **{key: real_stats[key] for key in STATS}},
            "configs": rows}


def _x(v):
    return "not reached" if v is None else f"{v:.2f}x"


def _num(v):
    return "not reached" if v is None else f"{v:,.0f}"


def markdown(result):
    """Cost ratios per index, the diagnostics table and the privacy lines, as Markdown."""
    sizes, targets, k = result["sizes"], [f"{t:.2f}" for t in result["targets"]], result["k"]
    src = result["data"]["source"] or "real"
    queries = ("model samples" if result["queries_from"] == "model" else
               f"model samples jittered by {result['jitter']} (isotropic, per-dimension sigma jitter / sqrt(d))")
    metric = result.get("metric", "cosine")
    lines = [f"{src}: every configuration fitted on N = {result['n_fit']:,} real rows; real base = held-out "
             f"real rows, fake base = model samples, both of size n; {result['n_queries']:,} queries per "
             f"corpus, never in its base (real: held-out rows; fake: {queries}); recall@{k}, seed "
             f"{result['random_state']}, QPS = median of {result['repeats']} single-thread passes."
             + (f" Metric {metric}: rows keep their norms; ground truth, recall, the indexes, the cells and the "
                "two-sample test use it; memorization and the geometry statistics are of the directions."
                if metric != "cosine" else "")]
    split = result.get("split") or {}
    if split.get("model"):
        lines.append(f"Model file {split['model']}: " + (
            f"fitted on the board's N = {result['n_fit']:,} fitting rows (found by its fingerprint)"
            + (", as the other configurations." if len(result["configs"]) > 1 else ".") if split["fit_rows"] == "split" else
            f"all of {result['data']['source'] or 'REAL'} is held out (the model's training rows are not in it); "
            f"memorization {split['note']}."))
    if result["dropped_sizes"]:
        lines.append(f"Dropped sizes (more than the {result['n_base_available']:,} rows left for the base): "
                     + ", ".join(f"{s:,}" for s in result["dropped_sizes"]) + ".")
    for index in result["indexes"]:
        info = result["index_info"][index]
        # an index without a distance counter gets QPS columns instead of a table of "no counter" cells
        key, what = ("ndis", "ndis") if info["counter"] is not None else ("qps", "QPS")
        note = ("ndis = distance computations per query, below 1 = the fake is easier" if key == "ndis" else
                f"{info['counter_note']}, so QPS only, above 1 = the fake is faster")
        lines += ["", f"**{index}**: fake / real cost at equal recall@{k} ({note})", "",
                  "| config | n | " + " | ".join(f"{what} ratio @{t}" for t in targets)
                  + (f" | QPS ratio @{HEADLINE}" if key == "ndis" else "")
                  + f" | real {what} @{HEADLINE} | fake {what} @{HEADLINE} |",
                  "|---|---|" + "---|" * (len(targets) + 2 + (key == "ndis"))]
        for name, row in result["configs"].items():
            for s in sizes:
                r, fake = row["by_n"][str(s)]["ratios"][index], row["by_n"][str(s)]["cost"][index]
                real = result["real"][str(s)]["cost"][index]
                lines.append(f"| {name} | {s:,} | " + " | ".join(_x(r[key][t]) for t in targets)
                             + (f" | {_x(r['qps'][HEADLINE])}" if key == "ndis" else "")
                             + f" | {_num(real[key + '_at_target'][HEADLINE])} | "
                               f"{_num(fake[key + '_at_target'][HEADLINE])} |")

    cells = "spherical k-means" if metric == "cosine" else f"Euclidean k-means ({metric} probe order)"
    nbr = {"cosine": "cos", "ip": "dot", "l2": "-dist^2"}[metric]
    lines += ["", f"**why: cells and hardness** (cells = {cells} of the base, nlist = round(sqrt(n)); "
              f"per query, over its {k} true neighbours: share in its own cell, cells holding them, cells probed "
              f"in centroid order to hold {math.ceil(0.9 * k - 1e-9)} of them; median / worst 5% of queries)", "",
              "| corpus | n | own-cell share | cell spread | cells to reach | RC median | LID median | hubness "
              f"| {nbr} to nbr 1 / 10 / 100 |", "|---|---|---|---|---|---|---|---|---|"]
    for s in sizes:
        sets = [("real", result["real"][str(s)])] + [(name, row["by_n"][str(s)])
                                                      for name, row in result["configs"].items()]
        for label, run in sets:
            g = run["diagnostics"]
            cos = " / ".join("-" if c is None else f"{c:.3f}" for c in g["neighbor_cosine"].values())  # the metric's
            lines.append(f"| {label} | {s:,} | {g['own_cell_share']['median']:.2f} / "
                         f"{g['own_cell_share']['worst5']:.2f} | {g['cell_spread']['median']:.1f} / "
                         f"{g['cell_spread']['worst5']:.1f} | {g['cells_to_reach']['median']:.1f} / "
                         f"{g['cells_to_reach']['worst5']:.1f} | {g['rc']['median']:.3f} | "
                         f"{g['lid']['median']:.1f} | {g['hubness']:.2f} | {cos} |")

    first = next(iter(result["configs"].values()))
    n_mem = result.get("n_memorization") or first["memorization"]["n"]  # boards before model files lack the key
    lines += ["", f"**fidelity and privacy** (fitted on N = {result['n_fit']:,}; c2st = k-NN two-sample test, "
              f"n = {first['c2st']['n']:,} held-out real base rows vs n fakes, pooled / real side / fake side, "
              f"0.5 = indistinguishable; memorization on n = {n_mem:,} fakes and {n_mem:,} held-out rows, about "
              "0.05 for a generator that does not copy"
              + ("; - = not run)" if any(r["memorization"] is None for r in result["configs"].values()) else ")"), "",
              "| config | c2st | memorization rate | NN-train cos fake / held-out | copies | patches | noise scale "
              "| fit s | model MB |", "|---|---|---|---|---|---|---|---|---|"]
    for name, row in result["configs"].items():
        t, mem = row["c2st"], row["memorization"]
        lines.append(f"| {name} | {t['c2st']:.3f} / {t['c2st_real']:.3f} / {t['c2st_fake']:.3f} | "
                     + ("- | - | - | " if mem is None else
                        f"{mem['memorization_rate']:.3f} | {mem['fake_median']:.3f} / {mem['heldout_median']:.3f} | "
                        f"{'yes' if row['copies'] else 'no'} | ")
                     + f"{row['n_patches'] or '-'} | "
                     + ("-" if row["noise_scale"] is None else f"{row['noise_scale']:.2f}")
                     + " | " + ("-" if row["fit_seconds"] is None else f"{row['fit_seconds']:.1f}")
                     + f" | {row['model_bytes'] / 1e6:.2f} |")
    chosen = {name: row for name, row in result["configs"].items() if row.get("bridge_calibration")}
    if chosen:
        lines += ["", "**bridge chosen at fit time** (`bridge=auto`: fake / real distance computations at recall "
                  f"{next(iter(chosen.values()))['bridge_calibration']['recall']:g} against training rows, IVF / "
                  "HNSW, per amount tried; the chosen amount in bold)", ""]
        for name, row in chosen.items():
            cal = row["bridge_calibration"]
            cells = [(f"**{b:g}**" if b == row["bridge"] else f"{b:g}") + ": "
                     + " / ".join("-" if v is None else f"{v:.2f}" for v in (i, h))
                     for b, i, h in zip(cal["grid"], cal["ivf"], cal["hnsw"])]
            lines.append(f"- {name}: " + ", ".join(cells))
    normed = {name: row["norms"] for name, row in result["configs"].items() if row.get("norms")}
    if normed:
        q = next(iter(normed.values()))["quantiles"]
        lines += ["", f"**row norms** (quantiles {', '.join(f'{p}%' for p in q)} of {result['real_stats']['n']:,} "
                  "held-out real rows and as many fakes; KS = two-sample Kolmogorov-Smirnov statistic, 0 = same "
                  "distribution)", "", "| set | norms | KS |", "|---|---|---|",
                  "| real | " + " / ".join(f"{v:.3f}" for v in next(iter(normed.values()))["real"]) + " | |"]
        for name, m in normed.items():
            lines.append(f"| {name} | " + " / ".join(f"{v:.3f}" for v in m["fake"]) + f" | {m['ks']:.3f} |")
    rs = result["real_stats"]
    lines += ["", f"**geometry statistics** (n = {rs['n']:,} held-out real rows and {rs['n']:,} fakes; fake / real "
              "in brackets)", "", "| set | TwoNN dim | IsoScore | part. ratio | anisotropy | NN cosine |",
              "|---|---|---|---|---|---|",
              f"| real | {rs['twonn_id']:.1f} | {rs['isoscore']:.4f} | {rs['participation_ratio']:.1f} | "
              f"{rs['anisotropy']:.4f} | {rs['nn_cosine']:.3f} |"]
    for name, row in result["configs"].items():
        v, q = row["stats"], row["stats_ratio"]
        lines.append(f"| {name} | {v['twonn_id']:.1f} ({q['twonn_id']:.2f}) | {v['isoscore']:.4f} ({q['isoscore']:.2f}) | "
                     f"{v['participation_ratio']:.1f} ({q['participation_ratio']:.2f}) | "
                     f"{v['anisotropy']:.4f} ({q['anisotropy']:.2f}) | {v['nn_cosine']:.3f} ({q['nn_cosine']:.2f}) |")
    return "\n".join(lines) + "\n"


def plot(result, path):
    """Top row, one panel per index: ratio fake / real at recall 0.95 against n, one line per configuration.
    Bottom row, the trade-off: each configuration's two-sample weaker side (c2st at n = N/10) against the
    same ratio, one marker per n (larger for larger n).

    Distance computations where the index counts them, else QPS (said in the panel's title).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes, indexes = result["sizes"], result["indexes"]
    fig, axes = plt.subplots(2, len(indexes), figsize=(3.3 * len(indexes), 6.6), squeeze=False)
    for top, low, index in zip(axes[0], axes[1], indexes):
        key = "ndis" if result["index_info"][index]["counter"] is not None else "qps"
        what = "distance computations" if key == "ndis" else "QPS (no distance counter)"
        for i, (name, row) in enumerate(result["configs"].items()):
            y = [row["by_n"][str(s)]["ratios"][index][key][HEADLINE] for s in sizes]
            y = [np.nan if v is None else v for v in y]
            top.plot(sizes, y, "-o", color=f"C{i}", ms=4, label=name)
            weaker = min(row["c2st"]["c2st_real"], row["c2st"]["c2st_fake"])
            low.scatter(y, [weaker] * len(y), s=[12 + 12 * j for j in range(len(y))], color=f"C{i}", label=name)
            low.plot(y, [weaker] * len(y), color=f"C{i}", lw=0.8)
        top.axhspan(0.9, 1.1, color="0.88", zorder=0)
        top.axhline(1.0, color="k", lw=0.8, ls=":")
        top.set_xscale("log")
        top.set_xticks(sizes, [f"{s:,}" for s in sizes], fontsize=7)
        top.minorticks_off()
        top.set_xlabel("n (base size)", fontsize=8)
        top.set_title(f"{index}\n{what}, fake / real @{HEADLINE}", fontsize=8)
        low.axvspan(0.9, 1.1, color="0.88", zorder=0)
        low.set_xlabel(f"{key} ratio fake / real @{HEADLINE} (n = {', '.join(f'{s:,}' for s in sizes)})", fontsize=7)
    axes[0][0].set_ylabel("ratio fake / real (band: 0.9-1.1)", fontsize=8)
    axes[0][0].legend(fontsize=7)
    n_c2st = next(iter(result["configs"].values()))["c2st"]["n"]
    axes[1][0].set_ylabel(f"c2st weaker side, n = {n_c2st:,} (0.5 = indistinguishable)", fontsize=8)
    fig.suptitle(f"{result['data']['source'] or 'real'}: search cost, fitted on N = {result['n_fit']:,}; "
                 "below: the two-sample test against the cost ratio", fontsize=9)
    fig.tight_layout()
    save_png(fig, path)


def write_outputs(result, folder):
    """``cost.json``, ``cost.md`` and ``cost.png`` in ``folder``; returns the paths."""
    return write_board(result, folder, "cost", markdown, plot)
