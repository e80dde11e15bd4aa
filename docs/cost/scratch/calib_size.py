"""Where the noise calibration's balance lies as the sub-model grows. For a fit of N rows, the product
calibrates on a sub-model of min(N / 2, 10,000) rows tested on 5,000 others (synth.models.patch
CALIBRATION_FIT / CALIBRATION_TEST); here the sub-model size is varied, and the balance scale (where
c2st_real - c2st_fake crosses zero, interpolated on the product's grid) is printed for each, with the test
size kept at a quarter of the sub-model (at most 5,000; the product tests at half).

Research script of docs/cost/README.md (fifth session); not product code.
Usage: python docs/cost/scratch/calib_size.py REAL N SUB ..., e.g. minilm-wordnet-all 50000 5000 10000 20000
"""
import sys

from common import shuffled

import synth.models.patch as P
from synth.models.patch import auto_patches, calibrate_noise_scale

name, N = sys.argv[1], int(sys.argv[2])
T = shuffled(name)[:N]
params = {"rank": 40, "min_points": 20, "n_iter": 25, "bridge": 0.0, "softness": 0.0,
          "n_patches": auto_patches(N, T.shape[1], 40, 16.0)}
for sub in (int(v) for v in sys.argv[3:]):
    P.CALIBRATION_FIT, P.CALIBRATION_TEST = sub, min(5000, sub // 4)
    scale, rep = calibrate_noise_scale(T, params, 0)
    print(f"N {N} sub-model {rep['n_fit']} test {rep['n_test']}: balance {scale:.3f}  grid {rep['grid']} gap {rep['gap']}",
          flush=True)
