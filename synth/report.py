"""Readable tables for the results of score and demo."""

STAT_NAMES = {"twonn_id": "TwoNN dim", "isoscore": "IsoScore", "participation_ratio": "part. ratio",
              "anisotropy": "anisotropy", "nn_cosine": "NN cosine"}


def _fmt(v, digits=3):
    return "-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def format_score(r):
    """The result of :func:`synth.metrics.twosample.score` as a few aligned lines."""
    metric = r.get("metric", "cosine")
    lines = [f"k-NN two-sample test: n = {r['n']} real vs {r['n']} fake, k = {r['k']} "
             "(0.5 = indistinguishable, 0 = separable)" + (f", metric {metric} on the raw rows" if metric != "cosine"
                                                          else ""),
             f"  {'':<22}{'pooled':>8}{'real side':>11}{'fake side':>11}",
             f"  {'real vs fake':<22}{r['c2st']:>8.3f}{r['c2st_real']:>11.3f}{r['c2st_fake']:>11.3f}"
             f"   p = {r['p_value']:.3g}",
             f"  {'ceiling (real/real)':<22}{r['ceiling']:>8.3f}{r['ceiling_real']:>11.3f}{r['ceiling_fake']:>11.3f}"
             f"   n = {r['ceiling_n']}",
             "", f"statistics (n = {r['stats']['real']['n']}" + (", on the directions: rows normalized)"
                                                                 if metric != "cosine" else ")"),
             f"  {'':<14}{'real':>10}{'fake':>10}"]
    for key, label in STAT_NAMES.items():
        lines.append(f"  {label:<14}{r['stats']['real'][key]:>10.4g}{r['stats']['fake'][key]:>10.4g}")
    if r.get("norms"):
        m = r["norms"]
        lines += ["", f"row norms (quantiles {', '.join(f'{q}%' for q in m['quantiles'])}; KS statistic "
                      f"{m['ks']:.3f}, 0 = same distribution)",
                  "  real " + " ".join(f"{v:.4g}" for v in m["real"]),
                  "  fake " + " ".join(f"{v:.4g}" for v in m["fake"])]
    if r.get("dcr"):
        d = r["dcr"]
        lines += ["", "memorization: cosine to the nearest training point (median)",
                  f"  fake {d['fake_median']:.4f}   held-out real {d['heldout_median']:.4f}   "
                  f"memorization rate {d['memorization_rate']:.3f} (about 0.05 if nothing is copied)"]
    if r.get("standard"):
        lines += ["", f"standard measures (n = {r['standard']['n']} held-out and generated rows)",
                  *standard_table(r["standard"])]
    return "\n".join(lines)


def _demo_rows(r):
    header = ["set", *STAT_NAMES.values(), "c2st", "c2st real", "c2st fake", "memorization"]
    rows = []
    for name, row in r["rows"].items():
        s = row["stats"]
        rows.append([name, *(_fmt(s[k], 4 if k in ("isoscore", "anisotropy") else 3 if k == "nn_cosine" else 1)
                             for k in STAT_NAMES),
                     _fmt(row.get("c2st")), _fmt(row.get("c2st_real")), _fmt(row.get("c2st_fake")),
                     _fmt(row["dcr"]["memorization_rate"]) if "dcr" in row else "-"])
    c = r["ceiling"]
    rows.append(["ceiling (real/real)", *[""] * len(STAT_NAMES), _fmt(c["c2st"]), _fmt(c["c2st_real"]),
                 _fmt(c["c2st_fake"]), ""])
    return header, rows


def format_demo_markdown(r):
    """The demo table in Markdown."""
    header, rows = _demo_rows(r)
    lines = [f"Held-out real vs fakes fitted on {r['n_train']} points; statistics and k-NN two-sample test at "
             f"n = {r['n']} per side, k = {r['k']}; ceiling = training vs held-out real at n = {r['ceiling']['n']}.",
             "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def format_demo(r):
    """The demo table as aligned text for the terminal."""
    header, rows = _demo_rows(r)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    def line(cells):
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([format_demo_markdown(r).splitlines()[0], "", line(header), *map(line, rows)])


def membership_table(attacks):
    """Markdown table lines of membership attacks: AUC and TPR at 1% FPR with their 95% intervals (the
    ``attacks`` of :func:`synth.metrics.privacy.membership_attacks`; ``synth audit`` and the dataset card)."""
    return ["| attack | AUC [95% CI] | TPR at 1% FPR [95% CI] |", "|---|---|---|"] + [
        f"| {name} | {a['auc']:.3f} [{a['auc_ci'][0]:.3f}-{a['auc_ci'][1]:.3f}] | "
        f"{a['tpr_at_1pct_fpr']:.3f} [{a['tpr_ci'][0]:.3f}-{a['tpr_ci'][1]:.3f}] |" for name, a in attacks.items()]


def format_membership(result):
    """The membership attacks of :func:`synth.metrics.privacy.membership_attacks` as a Markdown table and a verdict."""
    lines = [f"Membership inference: {result['n']:,} training rows (members) against {result['n']:,} held-out rows "
             f"(non-members); nearest_fake searches {result['n_fakes']:,} sampled rows. AUC 0.5 and TPR 0.01 "
             "= no leak.", "", *membership_table(result["attacks"])]
    sh = result.get("shadow")
    if sh:
        lines += ["", f"shadow_lira: {sh['shadows']} shadow models of {sh['n_patches']} patches, each fitted on "
                      f"{sh['rows']:,} of {sh['pool']:,} held-out rows not scored" if sh["ran"]
                  else f"shadow_lira did not run: {sh['why']}"]
    lines += ["", f"Check (every attack AUC <= {result['max_auc']} and TPR <= {result['max_tpr']}): {result['check']}"]
    return "\n".join(lines)


def _data_copying_row(std):
    c = std["data_copying"]
    value = "-" if c["c_t"] is None else f"{c['c_t']:.2f}"
    return ("data-copying test C_T (Meehan et al. 2020)",
            f"{value} over {c['cells_used']} of {c['n_cells']} cells (global Z_U {c['z_u']:.1f})",
            "about 0; far below 0 (the paper: below -3): generated rows sit closer to training rows than new real "
            "rows do")


def _dcr_row(std):
    d = std["dcr_overfitting_protection"]
    return (f"DCR overfitting protection (SDMetrics; {d['distance']} distance)",
            f"{d['score']:.3f} ({d['closer_to_training']:.3f} of generated rows closer to training than to held-out)",
            "1 (about half closer to training); 0: every generated row is nearer a training row")


def _authenticity_row(std):
    return ("authenticity (Alaa et al. 2022; synthcity's estimator, unit rows)",
            f"{std['alpha_precision']['authenticity']:.3f}",
            "about 0.5 for rows as far from the training rows as real rows are; near 0: rows on training rows")


def _detection_row(std):
    d = std["detection"]
    return ("detection score (SDMetrics LogisticDetection)", f"{d['score']:.3f} (AUC {d['auc']:.3f})",
            "1: a logistic regression cannot tell generated from held-out real rows; 0: it always can")


def _alpha_row(std):
    return ("alpha-precision (Alaa et al. 2022; synthcity's estimator, unit rows)",
            f"{std['alpha_precision']['alpha_precision']:.3f}",
            "1: generated rows fill the real rows' typical region as real rows do")


def _beta_row(std):
    return ("beta-recall (Alaa et al. 2022; synthcity's estimator, unit rows)",
            f"{std['alpha_precision']['beta_recall']:.3f}",
            "higher: more real rows have a generated row within their nearest-neighbour distance; two real "
            "samples score well below 1 on this estimator")


STANDARD_ROWS = {"data_copying": (_data_copying_row, "data_copying"),
                 "dcr_overfitting_protection": (_dcr_row, "dcr_overfitting_protection"),
                 "authenticity": (_authenticity_row, "alpha_precision"),
                 "detection": (_detection_row, "detection"),
                 "alpha_precision": (_alpha_row, "alpha_precision"),
                 "beta_recall": (_beta_row, "alpha_precision")}
PRIVACY_MEASURES = ("data_copying", "dcr_overfitting_protection", "authenticity")
FIDELITY_MEASURES = ("detection", "alpha_precision", "beta_recall")


def standard_table(std, names=tuple(STANDARD_ROWS)):
    """Markdown table lines of the standard measures (the ``standard`` of :func:`synth.metrics.twosample.score`, from
    :func:`synth.metrics.standard_measures.standard_measures`) named in ``names`` that ``std`` holds; ``synth score``
    and the dataset card. Empty when none is there."""
    rows = [STANDARD_ROWS[name][0](std) for name in names if STANDARD_ROWS[name][1] in std]
    if not rows:
        return []
    return ["| measure | value | no copying / faithful |", "|---|---|---|",
            *(f"| {a} | {b} | {c} |" for a, b, c in rows)]
