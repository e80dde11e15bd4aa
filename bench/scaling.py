"""How the k-NN two-sample test's verdict depends on the training size: c2st over (n_train, n).

The fidelity scoreboard fits on one training size. Here one held-out set is fixed and each configuration
is fitted on nested training sets of growing size (the first N rows of one seeded permutation; the held-out
rows are its last rows, never used to fit). Every fit is scored at each test size n, with the memorization
check against its own training rows. The question it answers: at which n does the test tell a model fitted
on N real points from new real points, and does more training data push that n up?
"""

import numpy as np
from tqdm.auto import tqdm

from synth.errors import SynthError
from synth.io.arrays import unit_rows
from synth.io.artifact import model_bytes
from synth.metrics.twosample import memorization

from .fidelity import MEDIAN_MARGIN, MEMORIZATION_LIMIT, _two_sample, copies, fit_config, save_png, write_board

SIZES = (500, 1000, 2000, 5000, 10_000)
PASS_POOLED = 0.44  # issue 4's target: pooled c2st ...
PASS_WEAKER = 0.42  # ... and the weaker side


def passes(t):
    """Whether one two-sample result meets issue 4's bar (pooled >= 0.44 and weaker side >= 0.42)."""
    return t["c2st"] >= PASS_POOLED and min(t["c2st_real"], t["c2st_fake"]) >= PASS_WEAKER


def scaling(real, train_sizes, configs=None, n_heldout=10_000, sizes=SIZES, k=10, n_permutations=0,
            random_state=0, verbose=0, source=None):
    """Fit each configuration on nested training sets and score it against one fixed held-out set.

    Parameters
    ----------
    real : ndarray of shape (n_samples, n_features)
        Real embeddings; rows are normalized.
    train_sizes : sequence of int
        Training sizes N; the training set of size N is the first N rows of a seeded permutation, so the
        sets are nested. The largest N plus ``n_heldout`` must not exceed the rows available.
    configs : dict of str to (kind, params), optional
        Default: ``{"default": ("patch", {})}``, the configuration of `synth fit`.
    n_heldout : int
        Held-out rows (the last rows of the permutation), the same for every N.
    sizes : sequence of int
        n per side of the two-sample test; sizes above ``n_heldout`` are dropped.
    k, n_permutations : int
        Of the two-sample test (0 permutations: no p-value, much faster).
    random_state : int
    verbose : int
    source : str, optional

    Returns
    -------
    dict
        ``split``, ``sizes``, ``ceiling`` (held-out vs the first n training rows, per n) and ``runs``: per
        configuration and N, ``c2st`` per n, ``memorization``, ``copies``, ``largest_passing_n``,
        ``model_bytes``, ``fit_seconds``, ``n_patches``, ``noise_scale``.
    """
    configs = dict(configs or {"default": ("patch", {})})
    real = unit_rows(real, min_rows=2 * (k + 1))
    n, d = real.shape
    train_sizes = sorted({int(s) for s in train_sizes})
    if not train_sizes or train_sizes[0] <= k:
        raise SynthError(f"training sizes must exceed k = {k}, got {train_sizes}", source)
    if train_sizes[-1] + n_heldout > n:
        raise SynthError(f"{n} real rows: the largest training size {train_sizes[-1]:,} plus {n_heldout:,} "
                         f"held-out rows needs {train_sizes[-1] + n_heldout:,}", source)
    sizes = sorted({s for s in sizes if k < s <= n_heldout})
    if not sizes:
        raise SynthError(f"no test size n with {k} < n <= {n_heldout:,} held-out rows", source)
    order = np.random.default_rng(random_state).permutation(n)
    heldout = real[order[n - n_heldout:]]
    biggest = real[order[:train_sizes[-1]]]
    seeds = np.random.SeedSequence(random_state).generate_state(2)
    n_mem = min(10_000, n_heldout)

    bar = tqdm(total=len(configs) * len(train_sizes) + 1, desc="scaling", disable=not verbose, leave=False)
    bar.set_postfix_str("ceiling")
    ceiling = {str(s): (_two_sample(heldout[:s], biggest[:s], k, 0, None) if s <= len(biggest) else None)
               for s in sizes}
    bar.update()
    runs = []
    for name, (kind, params) in configs.items():
        for n_train in train_sizes:
            bar.set_postfix_str(f"{name} N={n_train:,}")
            train = biggest[:n_train]
            model, fit_seconds = fit_config(name, kind, params, train, random_state)
            fake = model.sample(max(sizes[-1], n_mem), random_state=int(seeds[0]))
            c2st = {str(s): _two_sample(heldout[:s], fake[:s], k, n_permutations, int(seeds[1])) for s in sizes}
            mem = memorization(train, fake[:n_mem], heldout[:n_mem])
            passing = [s for s in sizes if passes(c2st[str(s)])]
            runs.append({"name": name, "kind": kind, "params": params, "n_train": n_train, "c2st": c2st,
                         "memorization": mem,
                         "copies": copies(mem),
                         "largest_passing_n": max(passing) if passing else None,
                         "fit_seconds": round(fit_seconds, 2), "model_bytes": len(model_bytes(model)),
                         "n_patches": int(model.n_patches_) if hasattr(model, "n_patches_") else None,
                         "noise_scale": getattr(model, "noise_scale_", None)})
            bar.update()
    bar.close()
    return {"data": {"source": source, "n": n, "d": d},
            "split": {"train_sizes": train_sizes, "n_heldout": n_heldout, "random_state": random_state},
            "k": k, "n_permutations": n_permutations, "sizes": sizes, "n_memorization": n_mem,
            "limits": {"memorization_rate": MEMORIZATION_LIMIT, "median_margin": MEDIAN_MARGIN,
                       "pass_pooled": PASS_POOLED, "pass_weaker": PASS_WEAKER},
            "ceiling": ceiling, "runs": runs}


def markdown(result):
    """The c2st grid (rows: configuration and N; columns: n) and the memorization check, as Markdown."""
    split, sizes = result["split"], result["sizes"]
    src = result["data"]["source"] or "real"
    lim = result["limits"]
    lines = [f"{src}: nested training sets, one fixed set of {split['n_heldout']:,} held-out rows "
             f"(k = {result['k']}, seed {split['random_state']}).", "",
             f"**c2st by n: pooled / weaker side** (0.5 = indistinguishable; **bold** = meets issue 4's bar, "
             f"pooled >= {lim['pass_pooled']} and weaker side >= {lim['pass_weaker']}; ceiling = held-out vs "
             "real training rows at the same n)", "",
             "| config | N (train) | " + " | ".join(f"n = {s:,}" for s in sizes)
             + " | largest passing n | memorization rate | NN-train cos fake / held-out | copies | patches "
               "| noise scale | fit s |",
             "|---|---|" + "---|" * (len(sizes) + 7)]
    for r in result["runs"]:
        cells = []
        for s in sizes:
            t = r["c2st"][str(s)]
            cell = f"{t['c2st']:.3f} / {min(t['c2st_real'], t['c2st_fake']):.3f}"
            cells.append(f"**{cell}**" if passes(t) else cell)
        mem = r["memorization"]
        passing = f"{r['largest_passing_n']:,}" if r["largest_passing_n"] else "none"
        noise = f"{r['noise_scale']:.2f}" if r["noise_scale"] is not None else "-"
        lines.append(f"| {r['name']} | {r['n_train']:,} | " + " | ".join(cells)
                     + f" | {passing} | {mem['memorization_rate']:.3f} | {mem['fake_median']:.3f} / "
                       f"{mem['heldout_median']:.3f} | {'yes' if r['copies'] else 'no'} | {r['n_patches'] or '-'} | "
                       f"{noise} | {r['fit_seconds']:.1f} |")
    ceil = result["ceiling"]
    lines.append("| ceiling (real/real) | | " + " | ".join(
        f"{ceil[str(s)]['c2st']:.3f} / {min(ceil[str(s)]['c2st_real'], ceil[str(s)]['c2st_fake']):.3f}"
        if ceil[str(s)] else "-" for s in sizes) + " | | | | | | | |")
    return "\n".join(lines) + "\n"


def plot(result, path):
    """Pooled c2st against n / N, one line per configuration and training size N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = result["sizes"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    names = list(dict.fromkeys(r["name"] for r in result["runs"]))
    markers = "os^vDP*X"
    for r in result["runs"]:
        i = result["split"]["train_sizes"].index(r["n_train"])
        style = ("-", "--", ":", "-.")[names.index(r["name"]) % 4]
        ax.plot([s / r["n_train"] for s in sizes], [r["c2st"][str(s)]["c2st"] for s in sizes], style,
                marker=markers[i % len(markers)], color=f"C{i}", ms=4,
                label=f"{r['name']} N={r['n_train']:,}")
    ax.axhline(result["limits"]["pass_pooled"], color="k", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("n / N (test size per side / training size)")
    ax.set_ylabel("c2st, pooled")
    ax.set_ylim(0, 0.55)
    ax.set_title(f"{result['data']['source'] or 'real'}: two-sample test against held-out real", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_png(fig, path)


def write_outputs(result, folder):
    """``scaling.json``, ``scaling.md`` and ``scaling.png`` in ``folder``; returns the paths."""
    return write_board(result, folder, "scaling", markdown, plot)
