"""The dataset card (README.md) of a published corpus: Hub YAML metadata plus a body from cards/dataset_card.md."""

from importlib import resources
from pathlib import Path
from string import Template

from .. import __version__
from ..report import FIDELITY_MEASURES, PRIVACY_MEASURES, membership_table, standard_table

DEFAULT_CITATION = """```bibtex
@software{synth_embeddings,
  title = {synth: synthetic embedding corpora that behave like real ones},
  version = {%s},
  note = {k-NN two-sample test: Schilling 1986, Henze 1988; probabilistic PCA: Tipping and Bishop 1999}
}
```""" % __version__


def template_text():
    """The card body template: the repository's cards/dataset_card.md, installed as the package synth.cards."""
    try:
        return resources.files("synth.cards").joinpath("dataset_card.md").read_text()
    except ModuleNotFoundError:  # running from a checkout that is not installed
        return (Path(__file__).resolve().parents[2] / "cards" / "dataset_card.md").read_text()


def size_category(n):
    """The Hub's size_categories label for n rows."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"),
                         (1_000_000_000, "100M<n<1B")):
        if n < limit:
            return label
    return "1B<n<10B"


def card_data(result, feats, fields):
    """The YAML metadata block as a huggingface_hub ``DatasetCardData``."""
    import datasets
    from huggingface_hub import DatasetCardData

    def info(config, split, rows, nbytes):
        i = datasets.DatasetInfo(features=feats[config], dataset_size=nbytes, download_size=nbytes,
                                 splits=datasets.SplitDict({split: datasets.SplitInfo(split, num_bytes=nbytes,
                                                                                      num_examples=rows)}))
        return {"config_name": config, **i._to_yaml_dict()}

    configs = [{"config_name": "corpus", "default": True,
                "data_files": [{"split": "train", "path": "corpus/train-*.parquet"}]}]
    dataset_info = [info("corpus", "train", result["n"], result["bytes"]["corpus"])]
    if result["queries"]:
        for config in ("queries", "neighbors"):
            configs.append({"config_name": config, "data_files": [{"split": "test", "path": f"{config}/test-*.parquet"}]})
            dataset_info.append(info(config, "test", result["queries"], result["bytes"][config]))
    return DatasetCardData(
        license=fields.get("license", "mit"),
        task_categories=fields.get("task_categories", ["feature-extraction", "sentence-similarity"]),
        size_categories=[size_category(result["n"])],
        tags=["synthetic", "embeddings", "vector-search", "ann-benchmarks", *fields.get("tags", [])],
        pretty_name=fields.get("pretty_name", f"Synthetic {result['d']}-d embeddings ({result['n']:,} vectors)"),
        configs=configs,
        dataset_info=dataset_info,
    )


def _fmt(v, spec=".3f"):
    return "n/a" if v is None else format(v, spec)


def fidelity_text(result):
    a = result["audit"]
    if a is None:
        return ("**Not measured**: the corpus was published without real data to compare with (no `--train` "
                "and `--heldout`). Nothing on this card says how close it is to real embeddings.")
    s = a["score"]
    stats = s["stats"]
    lines = [f"k-NN two-sample test (k = {s['k']}, n = {s['n']:,} per side) of the first corpus rows against "
             f"held-out real embeddings the model never saw: **c2st {s['c2st']:.3f}** (real side "
             f"{s['c2st_real']:.3f}, fake side {s['c2st_fake']:.3f}; 0.5 = indistinguishable). Ceiling, two real "
             f"samples at n = {s['ceiling_n']:,}: {s['ceiling']:.3f}. Permutation p-value {s['p_value']:.3g}.", "",
             "| statistic | held-out real | this corpus |", "|---|---:|---:|"]
    for key, label, spec in (("twonn_id", "TwoNN intrinsic dimension", ".1f"), ("isoscore", "IsoScore", ".4f"),
                             ("participation_ratio", "participation ratio", ".1f"),
                             ("anisotropy", "anisotropy (mean pairwise cosine)", ".4f"),
                             ("nn_cosine", "mean nearest-neighbour cosine", ".3f")):
        if key in stats["real"]:
            lines.append(f"| {label} | {_fmt(stats['real'][key], spec)} | {_fmt(stats['fake'][key], spec)} |")
    table = standard_table(s.get("standard", {}), FIDELITY_MEASURES)
    if table:
        lines += ["", f"Standard fidelity measures (detection: {s['standard']['n']:,} corpus rows against as many "
                      "held-out real rows; alpha-precision and beta-recall: against the training rows; definitions "
                      "in synth's docs/measures.md):", "", *table, "",
                  "alpha-precision and beta-recall are synthcity's estimator on the unit rows; its min-max scaled "
                  "variant (`alpha_precision_synthcity` in audit.json) divides by each coordinate's range, which "
                  "near-constant embedding coordinates make meaningless."]
    h = a.get("hnsw")
    lines.append("")
    if h is None:
        lines.append("HNSW search cost: not measured.")
    elif h["ratio"] is None:
        lines.append(f"HNSW search cost (faiss HNSW, {h['n']:,} base rows, recall@{h['k']} = 0.95): not reached "
                     f"on {'real' if not h['real_ndis'] else 'this corpus'} within the efSearch sweep.")
    else:
        build = ", ".join(f"{key}={v}" for key, v in h["build_params"].items())
        lines.append(f"HNSW search cost (faiss HNSW {build}, {h['n']:,} base rows, {h['queries']} "
                     f"queries, recall@{h['k']} = 0.95): {h['fake_ndis']:.0f} distance computations per query "
                     f"on this corpus vs {h['real_ndis']:.0f} on real, **ratio {h['ratio']:.2f}x**.")
    return "\n".join(lines)


def privacy_text(result):
    p = result["privacy"]
    a = result["audit"]
    mp = result["model"]["params"].get("min_points")
    lines = []
    if a is not None:
        d = a["score"]["dcr"]
        lines += [f"Distance to closest record: for every tested corpus row and every held-out real row, the "
                  f"cosine to its nearest training point. Median: **{d['fake_median']:.3f}** for this corpus, "
                  f"{d['heldout_median']:.3f} for held-out real. Memorization rate (corpus rows closer to a "
                  f"training point than the 95th percentile of held-out real, {d['threshold']:.3f}): "
                  f"**{d['memorization_rate']:.3f}** (about 0.05 for a generator that does not copy).", ""]
        table = standard_table(a["score"].get("standard", {}), PRIVACY_MEASURES)
        if table:
            lines += ["The field's standard copying measures, against the training rows and held-out real rows "
                      "(definitions: synth's docs/measures.md):", "", *table, ""]
    mem = (a or {}).get("membership")
    if mem is not None:
        lines += [f"Membership inference (`synth audit`): an attacker holding the model file (published with this "
                  f"corpus) scores {mem['n']:,} training rows and {mem['n']:,} held-out rows; a high score says "
                  f"\"training row\"; nearest_fake searches this corpus's first {mem['n_fakes']:,} rows. AUC 0.5 and a "
                  "true-positive rate of 0.01 at 1% false positives mean no leak."
                  + (f" shadow_lira is the shadow-model attack (offline LiRA, Carlini et al. 2022) with "
                     f"{mem['shadow']['shadows']} shadow models fitted like this one on {mem['shadow']['rows']:,} "
                     "held-out rows each." if (mem.get("shadow") or {}).get("ran") else ""),
                  "", *membership_table(mem["attacks"]), ""]
        if not mem["passed"]:
            lines += ["**An attacker with the model file can tell which real rows it was fitted on.** Do not "
                      "publish a model fitted on rows whose membership is itself private. A model that passes "
                      "every attack exists from about 25,000 training rows, at a price in fidelity: directions "
                      "shared by all patches and patches of hundreds of rows (`synth fit --shared-rank 64 --rank 0 "
                      "--min-points 200` from about 50,000 rows; none was found at 10,000; measured in synth's "
                      "docs/privacy.md, 'The privacy / fidelity frontier').", ""]
    lines.append(f"**Check {p['check']}.** Rule: memorization rate "
                 f"<= {p['max_memorization_rate']} and corpus median <= held-out median + {p['max_median_gap']}"
                 + (f"; every membership attack at AUC <= {mem['max_auc']} and TPR <= {mem['max_tpr']}."
                    if mem is not None else "."))
    lines += ["", f"No stored mean or covariance summarises fewer than {mp} real points (minimum points per "
                  f"patch in this model: {_fmt((a or {}).get('min_points_per_patch'), 'd')})."
              if mp is not None else "The model has no per-patch statistics."]
    held = holdings_text(result["model"])
    if held:
        lines += ["", held]
    return "\n".join(lines)


def holdings_text(m):
    """What the model file holds, in words, and what that lets its holder learn (patch models)."""
    if m.get("kind") != "patch" or not m.get("patches"):
        return ""
    params = m["params"]
    rank, shared = params.get("rank", 40), params.get("shared_rank", 0)
    fit_n = (m.get("fit_data") or {}).get("n")
    per = f", about {fit_n / m['patches']:,.0f} rows each" if fit_n else ""
    own = ["the cell's weight", "mean"]
    own += [f"up to {rank} principal directions of its own with their variances"] if rank else []
    own += [f"its variances along {shared} shared directions"] if shared else []
    text = (f"What the model file holds: for each of its {m['patches']} patches (k-means cells of the training rows"
            f"{per}) {', '.join(own)} and one residual variance")
    if shared:
        text += f"; the {shared} shared directions, fitted on all {f'{fit_n:,} ' if fit_n else ''}training rows"
    text += (". No row is stored (whether a fake sits on one is the memorization check above); but every statistic "
             "is an average over its rows, and a row leaves a trace in it: the membership attacks above measure how "
             "readable that trace is.")
    return text


def render_card(result, feats, fields):
    """README.md text: YAML metadata and the body template filled from the audit ``result``."""
    from huggingface_hub import DatasetCard

    m = result["model"]
    params = m["params"]
    fit = m.get("fit_data") or {}
    load = fields.get("repo_id") or "path/to/this/folder"
    values = {
        "pretty_name": fields.get("pretty_name", f"Synthetic {result['d']}-d embeddings"),
        "description": fields.get("description", "").strip() or "Synthetic embeddings for vector-search benchmarks.",
        "n": f"{result['n']:,}", "d": result["d"], "queries": f"{result['queries']:,}", "k": result["k"],
        "source_model": fields.get("source_model", "not stated"),
        "source_data": fields.get("source_data", fit.get("source") or "not stated"),
        "synth_version": result["synth_version"], "kind": m["kind"], "patches": m.get("patches"),
        "rank": params.get("rank"), "noise_scale": _fmt(m.get("noise_scale")), "min_points": params.get("min_points"),
        "model_mb": f"{m['file_bytes'] / 1e6:.1f}", "fit_n": f"{fit.get('n', 0):,}", "fit_sha": fit.get("sha256", "")[:16],
        "seed": result["seed"], "n_raw": result["n"], "query_seed": result["query_seed"], "generated_seconds": result["generated_seconds"],
        "fidelity": fidelity_text(result), "privacy": privacy_text(result),
        "load_path": load, "load_ref": f"hf:{load}" if fields.get("repo_id") else load,
        "citation": fields.get("citation", DEFAULT_CITATION).strip(),
        "corpus_label": (f", `label` class id (`ClassLabel` of {len(feats['corpus']['label'].names)} classes, drawn by a "
                         "label model learned from real labels: a class backed by fewer than min_points real rows is "
                         "not kept)") if "label" in feats["corpus"] else "",
    }
    extra = [name for name in feats["corpus"] if name not in ("id", "vector", "label")]
    if extra:  # an attribute model's column
        values["corpus_label"] += (f", `{extra[0]}` (float64, a numeric attribute drawn by an attribute model learned "
                                   "from real values: its quantile levels each average at least min_points real rows)")
    body = Template(template_text()).substitute(values)
    return str(DatasetCard(f"---\n{card_data(result, feats, fields).to_yaml()}\n---\n\n{body}"))
