"""Membership attacks on the rank-24 fit of n5_grid.py (N = 50,000 minilm-wordnet-all rows, 16 MB cap, the noise
calibrated at n / N = 1/5: CALIBRATION_FIT / CALIBRATION_TEST patched to 10,000 / 2,000), as n5_membership.py
measured the rank-40 fits: synth.metrics.privacy.membership_attacks, as `synth audit` runs them (5,000 training
rows against 5,000 held-out rows; 100,000 fakes for the nearest-fake attack). AUC / TPR at 1% FPR.

Usage: PYTHONPATH=. python docs/fidelity/scratch/n5_membership_rank.py [RANK ...]   (default: 24)
"""
import sys

import faiss
from common import wordnet_split

import synth.models.patch as patch
from synth.metrics.privacy import membership_attacks
from synth.models import PatchPCA

faiss.omp_set_num_threads(1)
N, n = 50000, 10000
T, H = wordnet_split(N, n)
patch.CALIBRATION_FIT, patch.CALIBRATION_TEST = 10000, 2000
for rank in (int(v) for v in sys.argv[1:] or ["24"]):
    model = PatchPCA(random_state=0, rank=rank).fit(T)
    result = membership_attacks(model, T, H, n=5000, random_state=0)
    attacks = result.get("attacks", result)
    parts = []
    for name, a in attacks.items():
        if isinstance(a, dict) and "auc" in a:
            parts.append(f"{name} AUC {a['auc']:.3f} TPR@1% {a['tpr_at_1pct_fpr']:.3f}")
    print(f"rank {rank}, {model.n_patches_} patches, noise {model.noise_scale_:.3f}: " + "; ".join(parts), flush=True)
