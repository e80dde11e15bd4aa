"""The N/5 target of the privacy-and-fidelity issue: a default fit on N = 50,000 minilm-wordnet-all rows,
c2st at n = 10,000 against held-out rows, with the noise calibration's sub-model / test sizes and the size cap
changed (scratch: the product's constants are patched in this process only).

Usage: python docs/fidelity/scratch/n5_target.py FIT:TEST:MAX_MB ... (e.g. 10000:5000:16, today's default)
Rows: the seed-0 order of the set; training rows 0..N-1, held-out rows N..N+n-1; fakes with seed 1.
Prints the calibrated noise scale, patches, c2st pooled / real side / fake side, the memorization check
(rate, median nearest-training cosine of fakes and of held-out rows) and the model file's size.
"""
import os
import sys
import tempfile

from common import wordnet_split

import synth.models.patch as patch
from synth.io import save_model
from synth.metrics.twosample import knn_two_sample, memorization
from synth.models import PatchPCA

N, n = 50000, 10000
T, H = wordnet_split(N, n)
for spec in sys.argv[1:]:
    fit, test, mb = spec.split(":")
    patch.CALIBRATION_FIT, patch.CALIBRATION_TEST = int(fit), int(test)
    model = PatchPCA(random_state=0, max_mb=float(mb)).fit(T)
    F = model.sample(n, random_state=1)
    r = knn_two_sample(H, F, k=10, n_permutations=0)
    m = memorization(T, F, H)
    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, os.path.join(tmp, "m.safetensors"))
        mb_file = os.path.getsize(os.path.join(tmp, "m.safetensors")) / 1e6
    keys = [k for k in m if isinstance(m[k], (float, int)) and not isinstance(m[k], bool)]
    print(f"calibration sub-model {fit}, test {test}, max_mb {mb}: noise {model.noise_scale_:.3f}, "
          f"{model.n_patches_} patches, {mb_file:.1f} MB; c2st {r['c2st']:.3f} (real {r['c2st_real']:.3f} / "
          f"fake {r['c2st_fake']:.3f}); " + ", ".join(f"{k} {m[k]:.3f}" for k in keys), flush=True)
