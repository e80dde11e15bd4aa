"""Where the fake's missing search cost sits: per band of query hardness (bench.querybands), fake / real cost
at recall 0.95 for the default fit and bridged fits.

Usage: python docs/cost/scratch/bands_bridge.py SET N n AMOUNT... (e.g. minilm-wordnet-all 10000 30000 0 0.5 0.75).
The first N rows of the seed-0 order (common.shuffled) fit each model; the board draws its real base and
candidate queries from the other rows (its own seed-0 permutation of them), 500 queries per band.
"""
import sys

from common import band_line, shuffled

from bench.querybands import band_board
from synth.models import PatchPCA


def main(name, N, n, amounts):
    X = shuffled(name)
    for a in amounts:
        model = PatchPCA(random_state=0, bridge=a).fit(X[:N])
        r = band_board(X[N:], model=model, n=n, n_queries=500, random_state=0, verbose=False, all_heldout=True)
        print(band_line(f"{name} bridge {a}", r), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [float(a) for a in sys.argv[4:]])
