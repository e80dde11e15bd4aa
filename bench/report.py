"""Outputs of a benchmark: one JSON, Markdown tables of cost at target recall, PNG plots."""

from pathlib import Path

import numpy as np

from synth.io.formats import atomic_path, write_json
from synth.progress import stage

COLORS = {"real": "#222222", "fake": "#1f77b4", "fog": "#ff7f0e", "random": "#2ca02c"}


def _cell(value, ref=None):
    """A cost, with its ratio to real's when ``ref`` is given."""
    if value is None:
        return "not reached"
    return f"{value:,.0f}" if not ref else f"{value:,.0f} ({value / ref:.2f}x)"


def cost_table(result, target, key):
    """Markdown table: one row per index, the cost at ``target`` on each corpus and its ratio to real."""
    t = f"{target:.2f}"
    corpora = list(next(iter(result["results"].values())))
    what = "distance computations per query" if key == "ndis" else "queries per second (1 thread)"
    lines = [f"**{what} at recall@{result['k']} = {t}** (ratio to real in brackets)", "",
             "| index | " + " | ".join(corpora) + " |", "|---|" + "---|" * len(corpora)]
    for index, per_corpus in result["results"].items():
        if key == "ndis" and result["indexes"][index]["counter"] is None:
            cells = ["null: " + (result["indexes"][index]["counter_note"] or "no counter")] + [""] * (len(corpora) - 1)
        else:
            ref = per_corpus.get("real", {}).get(f"{key}_at_target", {}).get(t)
            cells = [_cell(per_corpus[c][f"{key}_at_target"][t], ref if c != "real" else None)
                     for c in corpora]
        lines.append(f"| {index} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_table(result):
    """Markdown table: one row per index, build seconds and index size on each corpus (with the index's own
    split of the build time, e.g. a database's table load and index creation, where it reports one)."""
    corpora = list(next(iter(result["results"].values())))
    lines = ["**build time (1 thread) and index size**", "",
             "| index | " + " | ".join(corpora) + " |", "|---|" + "---|" * len(corpora)]
    for index, per_corpus in result["results"].items():
        cells = []
        for c in corpora:
            r = per_corpus[c]
            parts = ", ".join(f"{key.removesuffix('_seconds')} {v:.2f}" for key, v in r.get("build_details", {}).items())
            cells.append(f"{r['build_seconds']:.2f} s{f' ({parts})' if parts else ''}, "
                         f"{r['memory_bytes'] / 2**20:,.1f} MiB")
        lines.append(f"| {index} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def hardness_table(result):
    lines = [f"**query hardness at k = {result['k']}** (median [10th-90th percentile])", "",
             "| corpus | relative contrast | LID (MLE) |", "|---|---|---|"]
    for name, h in result["hardness"].items():
        rc, lid = h["rc"], h["lid"]
        lines.append(f"| {name} | {rc['median']:.3f} [{rc['p10']:.3f}-{rc['p90']:.3f}] | "
                     f"{lid['median']:.1f} [{lid['p10']:.1f}-{lid['p90']:.1f}] |")
    return "\n".join(lines)


def markdown(result):
    """All tables: cost at each target (distance computations, then QPS), build time and size, and hardness."""
    parts = []
    for key in ("ndis", "qps"):
        parts += [cost_table(result, t, key) for t in result["targets"]]
    parts += [build_table(result), hardness_table(result)]
    counters = [f"- `{name}`: {info['counter'] or 'null: ' + (info['counter_note'] or '')}"
                for name, info in result["indexes"].items()]
    parts.append("Distance counters:\n" + "\n".join(counters))
    if result.get("skipped"):
        parts.append("Not built on these corpora:\n" + "\n".join(
            f"- `{name}`: {reason}" for name, reason in result["skipped"].items()))
    return "\n\n".join(parts) + "\n"


def _savefig(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")


def plot_curves(result, folder):
    """One figure per index: recall vs distance computations and recall vs QPS, one line per corpus."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for index, per_corpus in result["results"].items():
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for name, r in per_corpus.items():
            recall = [p["recall"] for p in r["curve"]]
            for ax, key in zip(axes, ("ndis", "qps")):
                values = [p[key] for p in r["curve"]]
                if all(v is not None for v in values):
                    ax.plot(recall, values, marker=".", color=COLORS.get(name), label=name)
        axes[0].set_ylabel("distance computations per query")
        axes[1].set_ylabel("queries per second (1 thread)")
        if result["indexes"][index]["counter"] is None:
            axes[0].text(0.5, 0.5, "no distance counter\n(" + (result["indexes"][index]["counter_note"] or "")
                         + ")", ha="center", va="center", transform=axes[0].transAxes, fontsize=8, wrap=True)
        for ax in axes:
            ax.set_xlabel(f"recall@{result['k']}")
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
            for t in result["targets"]:
                ax.axvline(t, color="#bbbbbb", lw=0.8, ls=":")
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
        fig.suptitle(index)
        fig.tight_layout()
        path = Path(folder) / f"curves-{index}.png"
        _savefig(fig, path)
        plt.close(fig)
        paths.append(path)
    return paths


HARDNESS = (("rc", "relative contrast"), ("lid", "LID (MLE)"))


def hardness_histograms(result, bins=50):
    """Histograms of the per-query relative contrast and LID, on bins shared by the corpora.

    The bins span the 0.5th to the 99.5th percentile of the finite values of all corpora together (values
    outside are not counted), so that one outlier does not squeeze the rest into a few bins.

    Returns
    -------
    dict
        ``{"rc": {"edges": [...], "counts": {corpus: [...]}}, "lid": {...}}``: ``bins + 1`` edges and
        ``bins`` counts per corpus; ``{}`` when the result holds no per-query values.
    """
    if not all("per_query" in h for h in result["hardness"].values()):
        return {}
    out = {}
    for key, _ in HARDNESS:
        values = {n: np.asarray(h["per_query"][key], dtype=np.float64) for n, h in result["hardness"].items()}
        values = {n: v[np.isfinite(v)] for n, v in values.items()}
        edges = np.linspace(*np.percentile(np.concatenate(list(values.values())), [0.5, 99.5]), bins + 1)
        out[key] = {"edges": [float(e) for e in edges],
                    "counts": {n: [int(c) for c in np.histogram(v, bins=edges)[0]] for n, v in values.items()}}
    return out


def plot_hardness(result, folder):
    """Histograms of per-query relative contrast and LID, one per corpus (:func:`hardness_histograms`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (key, label), hist in zip(axes, HARDNESS, hardness_histograms(result).values()):
        for name, counts in hist["counts"].items():
            ax.stairs(counts, hist["edges"], color=COLORS.get(name), label=name)
        ax.set_xlabel(f"{label} at k = {result['k']}")
        ax.set_ylabel("queries")
        ax.legend()
    fig.tight_layout()
    path = Path(folder) / "hardness.png"
    _savefig(fig, path)
    plt.close(fig)
    return path


def public(result):
    """The result without per-query arrays, with their histograms instead (what goes into JSON)."""
    out = dict(result)
    out["hardness"] = {n: {k: v for k, v in h.items() if k != "per_query"} for n, h in result["hardness"].items()}
    histograms = hardness_histograms(result)
    if histograms:
        out["hardness_histograms"] = histograms
    return out


def write_outputs(result, folder):
    """Write ``results.json``, ``results.md``, the curve plots and ``hardness.png`` into ``folder``."""
    stage(f"writing results.json, results.md and the plots to {folder}", step="write")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "results.json", public(result))
    with atomic_path(folder / "results.md") as tmp:
        tmp.write_text(markdown(result))
    return [folder / "results.json", folder / "results.md", *plot_curves(result, folder),
            plot_hardness(result, folder)]
