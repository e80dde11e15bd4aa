"""Membership attacks on the two N = 50,000 fits of n5_target.py's last rows: 491 patches (16 MB cap) and 782
patches (no cap), both with the noise calibrated at n / N = 1/5 (synth.metrics.privacy.membership_attacks, as
`synth audit` runs them: 5,000 training rows against 5,000 held-out rows; 100,000 fakes for the nearest-fake
attack).

Usage: python docs/fidelity/scratch/n5_membership.py
"""
from common import wordnet_split

import synth.models.patch as patch
from synth.metrics.privacy import membership_attacks
from synth.models import PatchPCA

N, n = 50000, 10000
T, H = wordnet_split(N, n)
patch.CALIBRATION_FIT, patch.CALIBRATION_TEST = 10000, 2000
for mb in (16, 64):
    model = PatchPCA(random_state=0, max_mb=mb).fit(T)
    result = membership_attacks(model, T, H, n=5000, random_state=0)
    attacks = result.get("attacks", result)
    parts = []
    for name, a in attacks.items():
        if isinstance(a, dict) and "auc" in a:
            parts.append(f"{name} AUC {a['auc']:.3f} TPR@1% {a['tpr_at_1pct_fpr']:.3f}")
    print(f"{model.n_patches_} patches (max_mb {mb}): " + "; ".join(parts), flush=True)
