"""Which label model brings filtered search cost closest to real's: one temperature for all classes, per-class
calibration (each class's purity among fakes matched to the training rows'), or a background share of labels drawn
regardless of place (with the temperature recalibrated for purity)?

Usage: python docs/workloads/scratch/label_classes.py NAME LABELS n SELECTIVITIES VARIANT... (e.g.
minilm-wordnet-all lexname 30000 0.01,0.1 global per-class bg0.1). Runs `bench filtered`'s board
(bench.filtered.filtered_board, seed 0, N = 10,000, 500 queries) once per variant; prints the per-class purity
error and the board's lines (fake / real at recall 0.95, and the median depth of the filtered answers).
"""
import sys

import numpy as np

import synth.models.fitting as fitting
from bench.filtered import filtered_board
from synth.bundled import load_labels, load_real
from synth.models.labels import class_purity

real_fit_labels = fitting.fit_labels


def main(name, labels, n, selectivities, variants):
    X = load_real(name)
    y = load_labels(labels, name, len(X))
    for variant in variants:
        per_class = variant == "per-class"
        background = float(variant[2:]) if variant.startswith("bg") else 0.0

        def fit_labels(model, rows, ys, random_state=0, path=None):
            from synth.models.labels import LabelModel

            lm = LabelModel(min_points=20, per_class=per_class, background=background, random_state=random_state)
            lm.fit(rows, ys, model.sample(len(rows), random_state=random_state + 1))
            F = model.sample(len(rows), random_state=random_state + 7)
            from synth.models.labels import label_uniforms
            fy = lm.labels(F, label_uniforms(7, 0, len(F)))
            ry = np.array([lm.classes_.index(v) if v in lm.classes_ else -1 for v in ys])
            keep = ry >= 0
            rp = class_purity(rows[keep], ry[keep], len(lm.classes_))
            fp = class_purity(F, fy, len(lm.classes_))
            ok = np.isfinite(rp) & np.isfinite(fp)
            print(f"{variant}: temperature {lm.temperature_:.3f}; per-class purity rms error {np.sqrt(np.mean((rp[ok] - fp[ok]) ** 2)):.3f}, "
                  f"largest class real {rp[np.argmax(np.bincount(ry[keep]))]:.3f} fake "
                  f"{fp[np.argmax(np.bincount(ry[keep]))]:.3f}", flush=True)
            return lm

        fitting.fit_labels = fit_labels
        r = filtered_board(X, y, n=n, n_queries=500, selectivities=selectivities, verbose=False, source=name)
        cells = [f"{k}: sel {r['real'][k]['selectivity']:.2%}/{r['fake'][k]['selectivity']:.2%} ivf "
                 f"{r['ratios'][k]['ivf']:.2f} hnsw {r['ratios'][k]['hnsw']:.2f} depth "
                 f"{r['real'][k]['depth']['median']:,.0f}/{r['fake'][k]['depth']['median']:,.0f}" for k in r["filters"]]
        print(f"{variant}: purity real {r['purity']['real']:.3f} fake {r['purity']['fake']:.3f} | "
              + " | ".join(cells), flush=True)
    fitting.fit_labels = real_fit_labels


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), [float(v) for v in sys.argv[4].split(",")], sys.argv[5:])
