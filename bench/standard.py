"""The field's standard privacy and fidelity measures (:mod:`synth.metrics.standard_measures`) on one real set: two
reference rows that bound them and the generators between.

REAL is cut by one seeded permutation into ``n_train`` training rows, ``n`` rows of an *independent real*
sample and the held-out rest. Each set of ``n`` rows is then measured against the same training and held-out
rows:

- ``real (independent)``: real rows neither fitted on nor held out, what a perfect generator would give;
- ``default``: ``PatchPCA()`` fitted on the training rows, the model ``synth fit`` writes;
- ``copying``: ``PatchPCA(n_patches=n_train // 20, copy_guard=False, noise_scale=0.05)``, 20 rows per patch
  and 40 directions, so that each patch's samples lie in the span of its own 20 training rows;
- ``train copies``: training rows (drawn with replacement) plus Gaussian noise of ``COPY_NOISE`` per
  coordinate, a generator that returns its training points.

Besides :func:`synth.metrics.standard_measures.standard_measures` (cosine DCR), each row carries SDMetrics' DCR
overfitting protection with SDMetrics' own distance for ``SDMETRICS_ROWS`` of its rows against the whole
training and held-out sets (subsampling those, as SDMetrics' ``num_rows_subsample`` does, would hide the
copies of the training rows left out), and the project's memorization check, for comparison.
"""

import time

import numpy as np

from synth.errors import SynthError
from synth.io.arrays import unit_rows
from synth.metrics.standard_measures import dcr_overfitting_protection, standard_measures
from synth.metrics.twosample import memorization
from synth.progress import begin, planned, stage

from .fidelity import fit_config

COPY_NOISE = 0.005     # per-coordinate noise of the "train copies" row: cosine about 0.995 to its source row
SDMETRICS_ROWS = 500   # generated rows of the DCR with SDMetrics' distance (O(rows x reference x d))
ROWS = ("real (independent)", "default", "copying", "train copies")
# seconds of the committed board's fits and rows (docs/privacy/standard/standard-measures.json: 10,000 training rows,
# n = 4,000), for the estimate of the time left (synth.progress)
FIT_SECONDS = {"default": 13.1, "copying": 2.6}
ROW_SECONDS = {"real (independent)": 32.9, "default": 40.8, "copying": 40.2, "train copies": 42.6}


def copying_config(n_train):
    """The deliberately copying configuration: 20 rows per patch, no copy guard, little residual noise."""
    return "patch", {"n_patches": max(1, n_train // 20), "copy_guard": False, "noise_scale": 0.05}


def board_plan(n_train=10_000, n=4000, **_):
    """The steps of :func:`board` and their seconds (:mod:`synth.progress`): the fits grow with the training
    rows, the measures with neither size much (their k-means and SDMetrics' DCR with the training rows); of a
    row's time, the standard measures take about 0.6 (26 s in ``synth score`` at load 5), SDMetrics' DCR and
    the memorization check the rest (17 s of 25 s at 5,000 training rows and n = 1,000, load 4)."""
    r = n_train / 10_000
    return ([(("fit", name), FIT_SECONDS[name] * r) for name in FIT_SECONDS]
            + [((name, part), ROW_SECONDS[name] * r * share) for name in ROWS
               for part, share in (("standard", 0.6), ("sdmetrics", 0.4))])


@planned(board_plan)
def board(real, n_train=10_000, n=4000, random_state=0, source=None):
    """Measure the four sets of the module docstring; returns the JSON-ready result.

    Parameters
    ----------
    real : ndarray of shape (n_samples, n_features)
        Needs at least ``n_train + 2 n`` rows (rows are normalized).
    n_train, n : int
        The default n = 4,000 leaves the bundled sample's other 10,000 rows held out: as many as the
        training rows, so that the DCR comparisons are between equal sets.
    random_state : int
    source : str, optional
        Named in the result.

    Returns
    -------
    dict
        ``source``, ``split`` (``train``, ``independent``, ``heldout`` row counts), ``n``, ``copy_noise``,
        ``sdmetrics_rows`` and ``rows``: per set, ``standard`` (:func:`standard_measures`),
        ``dcr_sdmetrics`` (:func:`dcr_overfitting_protection` with SDMetrics' distance), ``memorization``
        and, for the generators, ``fit_seconds`` and ``params``.
    """
    X = unit_rows(real, min_rows=3)
    if len(X) < n_train + 2 * n:
        raise SynthError(f"{len(X):,} rows are too few for {n_train:,} training rows and two sets of n = {n:,}")
    order = np.random.default_rng(random_state).permutation(len(X))
    train, independent, heldout = X[order[:n_train]], X[order[n_train:n_train + n]], X[order[n_train + n:]]
    sets, info = {"real (independent)": independent}, {}
    for name, (kind, params) in (("default", ("patch", {})), ("copying", copying_config(n_train))):
        begin(("fit", name))
        model, seconds = fit_config(name, kind, params, train, random_state)
        stage(f"sampling {n:,} rows from {name}")
        sets[name] = model.sample(n, random_state=random_state + 1)
        info[name] = {"params": params, "fit_seconds": round(seconds, 2)}
    rng = np.random.default_rng(random_state + 2)
    copies = train[rng.choice(n_train, n)] + rng.normal(scale=COPY_NOISE, size=(n, X.shape[1]))
    sets["train copies"] = unit_rows(copies.astype(np.float32))

    k = min(SDMETRICS_ROWS, n)
    result = {"source": source, "split": {"train": n_train, "independent": n, "heldout": len(heldout)}, "n": n,
              "copy_noise": COPY_NOISE, "sdmetrics_rows": k, "rows": {}}
    for name, fake in sets.items():
        stage(f"standard measures of {name}", step=(name, "standard"))
        t0 = time.perf_counter()
        row = {"standard": standard_measures(heldout, fake, train=train, n=n, random_state=random_state)}
        stage(f"DCR with SDMetrics' distance, {k:,} rows of {name}", step=(name, "sdmetrics"))
        pick = np.random.default_rng(random_state + 3).choice(len(fake), k, replace=False)
        row["dcr_sdmetrics"] = dcr_overfitting_protection(train, fake[pick], heldout[:n_train], distance="sdmetrics")
        row["memorization"] = memorization(train, fake, heldout[:n])
        row["seconds"] = round(time.perf_counter() - t0, 1)
        row.update(info.get(name, {}))
        result["rows"][name] = row
    return result


def _cells(row):
    s = row["standard"]
    c, d, det, sd = s["data_copying"], s["dcr_overfitting_protection"], s["detection"], row["dcr_sdmetrics"]
    a, m = s["alpha_precision"], s["alpha_precision_synthcity"]
    c_t = "-" if c["c_t"] is None else f"{c['c_t']:.2f} ({c['cells_used']}/{c['n_cells']})"
    return [c_t, f"{c['z_u']:.1f}", f"{d['score']:.3f} ({d['closer_to_training']:.3f})",
            f"{sd['score']:.3f} ({sd['closer_to_training']:.3f})",
            *(f"{a[key]:.3f} / {m[key]:.3f}" for key in ("authenticity", "alpha_precision", "beta_recall")),
            f"{det['score']:.3f} ({det['auc']:.3f})", f"{row['memorization']['memorization_rate']:.3f}"]


def markdown(result):
    """The board as a caption and one Markdown table (the table docs/privacy.md shows)."""
    sp = result["split"]
    head = ["set", "C_T (cells used)", "global Z_U", "DCR protection, cosine (closer to train)",
            f"DCR protection, SDMetrics distance, {result['sdmetrics_rows']:,} rows (closer to train)",
            "authenticity, unit / min-max", "alpha-precision, unit / min-max", "beta-recall, unit / min-max",
            "detection (AUC)", "memorization rate"]
    lines = [f"{result['source'] or 'REAL'}: {sp['train']:,} training rows, {sp['heldout']:,} held-out rows, "
             f"{sp['independent']:,} independent real rows; n = {result['n']:,} rows per set (train copies: "
             f"training rows plus noise of {result['copy_noise']} per coordinate). unit / min-max: synthcity's "
             "estimator on the unit rows / with its min-max scaling.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += [f"| {name} | " + " | ".join(_cells(row)) + " |" for name, row in result["rows"].items()]
    return "\n".join(lines) + "\n"


def write_outputs(result, folder):
    """``standard-measures.json`` and ``standard-measures.md`` in ``folder``; returns the paths."""
    from .fidelity import write_board

    return write_board(result, folder, "standard-measures", markdown)
