"""The N/5 test (n = 10,000 fakes against 10,000 held-out rows, model fitted on N = 50,000) for one or more
PatchPCA configurations: one fit each, then the noise scale set by hand on the fitted patches.

For each configuration the model is fitted once (product code as imported: run with PYTHONPATH set to the
worktree), and its file size measured. Then, on the same patches, the noise scale is set to
- ``auto``: what the fit calibrated;
- ``cal FIT:TEST``: what calibrate_noise_scale picks with CALIBRATION_FIT / CALIBRATION_TEST patched to FIT / TEST
  (the sub-model's patch count scaled from the fit's asked count, as the product does);
- each fixed scale of --scales;
and each line prints c2st pooled (real side / fake side), the weaker side, and synth.metrics' memorization
check against the training rows (rate; median nearest-training cosine of fakes / of held-out rows).

Usage: PYTHONPATH=. python docs/fidelity/scratch/n5_grid.py CORPUS [--train N] [--n N_HELDOUT] [--scales 0.5,0.7]
           [--cal 10000:2000,...] [--fake-seeds 1,2,3] CONFIG ...
CORPUS: ``wordnet`` (minilm-wordnet-all) or a .npy file of rows. Rows in the seed-0 order of the set
(np.random.default_rng(0).permutation): training rows 0..N-1 (N = 50,000 unless --train), held-out rows
N..N+n-1 (n = 10,000 unless --n); fakes with seed 1 (or each seed of --fake-seeds), as many as held-out rows.
CONFIG: ``default`` or comma-separated PatchPCA parameters (after an optional ``default``), e.g. ``rank=24`` or
``rank=32,group_size=20,max_mb=16``; random_state 0 unless given, e.g. ``default,random_state=1``.
"""
import argparse
import os
import tempfile
import time

import faiss
import numpy as np

import synth.models.patch as patch
from synth.bundled import load_real
from synth.io import save_model
from synth.metrics.twosample import knn_two_sample, memorization
from synth.models import PatchPCA

faiss.omp_set_num_threads(1)


def split(corpus, N, n):
    X = load_real("minilm-wordnet-all") if corpus == "wordnet" else np.load(corpus)
    X = X.astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X = X[np.random.default_rng(0).permutation(len(X))]
    if len(X) < N + n:
        raise SystemExit(f"{corpus}: {len(X)} rows, fewer than {N} + {n}")
    return X[:N], X[N:N + n]


def parse(config):
    out = {}
    for item in config.split(","):
        if item == "default":
            continue
        key, value = item.split("=")
        out[key] = None if value == "None" else (float(value) if "." in value else int(value))
    return out


def file_mb(model):
    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, os.path.join(tmp, "m.safetensors"))
        return os.path.getsize(os.path.join(tmp, "m.safetensors")) / 1e6


def calibrated(model, T, fit, test):
    """calibrate_noise_scale's pick for the fitted model's parameters, with the calibration sizes patched."""
    params = {k: getattr(model, k) for k in ("rank", "min_points", "n_iter", "bridge", "softness", "group_size")}
    params["n_patches"] = (model.copy_check_[-1]["n_patches"] if model.copy_check_ else model.n_patches)
    old = patch.CALIBRATION_FIT, patch.CALIBRATION_TEST
    patch.CALIBRATION_FIT, patch.CALIBRATION_TEST = fit, test
    try:
        return patch.calibrate_noise_scale(T, params, model.random_state)[0]
    finally:
        patch.CALIBRATION_FIT, patch.CALIBRATION_TEST = old


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("configs", nargs="+")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--train", type=int, default=50000)
    ap.add_argument("--scales", default="")
    ap.add_argument("--cal", default="")
    ap.add_argument("--fake-seeds", default="1")
    args = ap.parse_args()
    T, H = split(args.corpus, args.train, args.n)
    print(f"{args.corpus}: train {len(T)}, held-out {len(H)}, fakes {args.n}", flush=True)
    for config in args.configs:
        t0 = time.time()
        model = PatchPCA(**{"random_state": 0, **parse(config)}).fit(T)
        fit_s = time.time() - t0
        auto = model.noise_scale_
        print(f"[{config}] {model.n_patches_} patches, {model.n_groups_} groups, {file_mb(model):.2f} MB, "
              f"fit {fit_s:.0f} s, auto noise {auto:.3f}, copy guard tried "
              f"{[c['n_patches'] for c in model.copy_check_ or []]}", flush=True)
        scales = [("auto", auto)]
        for spec in filter(None, args.cal.split(",")):
            fit, test = (int(v) for v in spec.split(":"))
            scales.append((f"cal {fit}:{test}", calibrated(model, T, fit, test)))
        scales += [("fixed", float(a)) for a in filter(None, args.scales.split(","))]
        for (label, a), seed in ((s, int(f)) for s in scales for f in args.fake_seeds.split(",")):
            model.noise_scale_, model._cache = a, None
            F = model.sample(args.n, random_state=seed)
            r = knn_two_sample(H, F, k=10, n_permutations=0)
            m = memorization(T, F, H)
            print(f"[{config}] {label:>16} noise {a:.3f} fakes seed {seed}: c2st {r['c2st']:.3f} (real {r['c2st_real']:.3f} / fake "
                  f"{r['c2st_fake']:.3f}) weaker {min(r['c2st_real'], r['c2st_fake']):.3f}; memorization rate "
                  f"{m['memorization_rate']:.3f}, NN-train cos fake {m['fake_median']:.3f} / held-out "
                  f"{m['heldout_median']:.3f}", flush=True)


if __name__ == "__main__":
    main()
