"""Scratch (issue 18): the privacy / fidelity frontier of patch models with directions shared by every patch.

Usage: python docs/privacy/scratch/frontier.py SET N CONFIG [CONFIG ...]
CONFIG is NAME=key:value,key:value of PatchPCA parameters (e.g. shared64=shared_rank:64,rank:0,min_points:200);
NAME alone (or "default") is the default fit. Rows of SET in a seed-0 permutation: the first N fit each model (noise
scale calibrated, as `synth fit` does), the rest are held out. Printed per config: the patch count, the attacks of
`synth audit --shadows 4` (AUC / TPR at 1% FPR on 3,000 members and 3,000 held-out rows, 50,000 fakes), and the
two-sample test at n = N / 10 (held-out rows vs fakes, k = 10; pooled / real side / fake side), mean of 2 draws.
With --per-feature: also the shadow attack on each of its three statistics alone (AUC / TPR), same shadows.
"""
import sys
import time

import numpy as np

from synth.bundled import load_real
from synth.metrics.privacy import SHADOW_FEATURES, membership_attacks, patch_features, roc_figures, shadow_models
from synth.metrics.twosample import knn_two_sample
from synth.models import PatchPCA

ATTACKS = ("subspace_residual", "likelihood", "nearest_patch_mean", "nearest_fake", "shadow_lira")


def parse(config):
    name, _, spec = config.partition("=")
    params = {}
    for item in filter(None, spec.split(",")):
        k, v = item.split(":")
        params[k] = v if v == "auto" else (float(v) if "." in v else int(v))
    return name, params


def main():
    per_feature = "--per-feature" in sys.argv
    args = [a for a in sys.argv if a != "--per-feature"]
    name, N = args[1], int(args[2])
    X = load_real(name) if not name.endswith(".npy") else np.load(name)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    X = X[np.random.default_rng(0).permutation(len(X))]
    train, held = X[:N], X[N:]
    n = N // 10
    print(f"# {name}: N = {N:,}, held out {len(held):,}; c2st at n = {n:,}", flush=True)
    print("| config | patches | noise | " + " | ".join(ATTACKS) + " | c2st pooled / real / fake |")
    print("|---" * (len(ATTACKS) + 4) + "|")
    for config in args[3:]:
        t0 = time.time()
        label, params = parse(config)
        m = PatchPCA(random_state=0, **params).fit(train)
        a = membership_attacks(m, train, held, n=3000, n_fakes=50_000, random_state=0, n_boot=50, shadows=4)
        tests = [knn_two_sample(held[-n * (i + 1):len(held) - n * i], m.sample(n, random_state=7 + i), k=10,
                                n_permutations=0) for i in range(2)]
        t = {k: np.mean([x[k] for x in tests]) for k in ("c2st", "c2st_real", "c2st_fake")}
        cells = [f"{a['attacks'][k]['auc']:.3f} / {a['attacks'][k]['tpr_at_1pct_fpr']:.3f}" if k in a["attacks"]
                 else "-" for k in ATTACKS]
        print(f"| {label} | {m.n_patches_} | {m.noise_scale_:.2f} | " + " | ".join(cells)
              + f" | {t['c2st']:.3f} / {t['c2st_real']:.3f} / {t['c2st_fake']:.3f} |  ({time.time() - t0:.0f} s)",
              flush=True)
        if per_feature:
            print("  shadow attack per statistic: " + per_statistic(m, train, held), flush=True)


def per_statistic(m, train, held, n=3000, shadows=4):
    """The offline LiRA score on each of the three patch statistics alone (members and non-members drawn as
    membership_attacks draws them, shadows from the rest of the held-out rows)."""
    rng = np.random.default_rng(0)
    members = train[np.sort(rng.choice(len(train), n, replace=False))]
    scored = np.sort(rng.choice(len(held), n, replace=False))
    pool = np.delete(held, scored, axis=0)
    X = np.concatenate([members, held[scored]])
    target = patch_features(m, X)
    out = np.stack([patch_features(s, X) for s in shadow_models(m, pool, shadows, int(min(len(train), len(pool))), 2)])
    z = (target - out.mean(axis=0)) / out.std(axis=0, ddof=1).mean(axis=1, keepdims=True)
    return ", ".join(f"{f} {roc_figures(z[i, :n], z[i, n:])[0]:.3f} / {roc_figures(z[i, :n], z[i, n:])[1]:.3f}"
                     for i, f in enumerate(SHADOW_FEATURES))


if __name__ == "__main__":
    main()
