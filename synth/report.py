"""Readable tables for the results of score and demo."""

STAT_NAMES = {"twonn_id": "TwoNN dim", "isoscore": "IsoScore", "participation_ratio": "part. ratio",
              "anisotropy": "anisotropy", "nn_cosine": "NN cosine"}


def _fmt(v, digits=3):
    return "-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def format_score(r):
    """The result of :func:`synth.twosample.score` as a few aligned lines."""
    lines = [f"k-NN two-sample test: n = {r['n']} real vs {r['n']} fake, k = {r['k']} "
             "(0.5 = indistinguishable, 0 = separable)",
             f"  {'':<22}{'pooled':>8}{'real side':>11}{'fake side':>11}",
             f"  {'real vs fake':<22}{r['c2st']:>8.3f}{r['c2st_real']:>11.3f}{r['c2st_fake']:>11.3f}"
             f"   p = {r['p_value']:.3g}",
             f"  {'ceiling (real/real)':<22}{r['ceiling']:>8.3f}{r['ceiling_real']:>11.3f}{r['ceiling_fake']:>11.3f}"
             f"   n = {r['ceiling_n']}",
             "", f"statistics (n = {r['stats']['real']['n']})", f"  {'':<14}{'real':>10}{'fake':>10}"]
    for key, label in STAT_NAMES.items():
        lines.append(f"  {label:<14}{r['stats']['real'][key]:>10.4g}{r['stats']['fake'][key]:>10.4g}")
    if r.get("dcr"):
        d = r["dcr"]
        lines += ["", "memorization: cosine to the nearest training point (median)",
                  f"  fake {d['fake_median']:.4f}   held-out real {d['heldout_median']:.4f}   "
                  f"memorization rate {d['memorization_rate']:.3f} (about 0.05 if nothing is copied)"]
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
    ``attacks`` of :func:`synth.privacy.membership_attacks`; ``synth audit`` and the dataset card)."""
    return ["| attack | AUC [95% CI] | TPR at 1% FPR [95% CI] |", "|---|---|---|"] + [
        f"| {name} | {a['auc']:.3f} [{a['auc_ci'][0]:.3f}-{a['auc_ci'][1]:.3f}] | "
        f"{a['tpr_at_1pct_fpr']:.3f} [{a['tpr_ci'][0]:.3f}-{a['tpr_ci'][1]:.3f}] |" for name, a in attacks.items()]


def format_membership(result):
    """The membership attacks of :func:`synth.privacy.membership_attacks` as a Markdown table and a verdict."""
    lines = [f"Membership inference: {result['n']:,} training rows (members) against {result['n']:,} held-out rows "
             f"(non-members); nearest_fake searches {result['n_fakes']:,} sampled rows. AUC 0.5 and TPR 0.01 "
             "= no leak.", "", *membership_table(result["attacks"])]
    lines += ["", f"Check (every attack AUC <= {result['max_auc']} and TPR <= {result['max_tpr']}): {result['check']}"]
    return "\n".join(lines)
