"""Can the fit choose a bridge amount for a corpus larger than its training set? Real search cost beyond N
and the fake / real ratio beyond N, predicted from sizes up to N, against what is measured.

Usage: python docs/cost/scratch/size_extrapolation.py SET N SIZES AMOUNTS OUT.json
(e.g. minilm-wordnet-all 10000 10000,30000,100000 0,0.5,1 out.json). Training rows are the first N of the
seed-0 order (common.shuffled); real cost at n = N/8, N/4, N/2 and N - 500 on bases of training rows with 500
other training rows as queries (what a fit can measure), and at each of SIZES on held-out bases with 500
held-out queries; fakes of a default fit with each bridge amount (noise calibrated per amount) at every size,
500 fake queries. Costs: synth.metrics.searchcost (IVF nlist = sqrt(n), HNSW M = 16), recall 0.95, k = 10.
Prints real cost measured / extrapolated (line through log cost vs log n at the last three fit-time sizes;
quadratic through all four), and per amount the fake / real ratio at the fit-time sizes and at SIZES with its
extrapolated prediction. `python size_extrapolation.py --report OUT.json` prints the same from a saved run.
"""
import json
import sys

import numpy as np
from common import shuffled

from synth.metrics.searchcost import search_cost
from synth.models import PatchPCA


def measure(name, N, sizes, amounts):
    X = shuffled(name)
    train, held = X[:N], X[N:]
    sub = [N // 8, N // 4, N // 2, N - 500]
    out = {"set": name, "N": N, "fit_sizes": sub, "train": {}, "held": {}, "fake": {}}
    for n in sub:
        out["train"][n] = search_cost(train[500:500 + n], train[:500])
    for n in sizes:
        if n + 500 <= len(held):
            out["held"][n] = search_cost(held[500:500 + n], held[:500])
    for b in amounts:
        model = PatchPCA(bridge=b, random_state=0).fit(train)
        big = model.sample(max(out["held"]) + 500, random_state=0)
        out["fake"][b] = {"noise_scale": float(model.noise_scale_)}
        for n in sorted(set(sub) | set(out["held"])):
            out["fake"][b][n] = search_cost(big[500:500 + n], big[:500])
        print(f"bridge {b} measured", file=sys.stderr, flush=True)
    return json.loads(json.dumps(out))  # integer keys as strings, as written


def report(out):
    sub = out["fit_sizes"]
    tr = {int(k): v for k, v in out["train"].items()}
    held = {int(k): v for k, v in out["held"].items()}
    for fam in ("ivf", "hnsw"):
        costs = np.log([tr[n][fam] for n in sub])
        line = np.polyfit(np.log(sub[-3:]), costs[-3:], 1)
        quad = np.polyfit(np.log(sub), costs, 2)
        parts = []
        for n in sorted(held):
            pred = float(np.exp(np.polyval(line, np.log(n))))
            pq = float(np.exp(np.polyval(quad, np.log(n))))
            parts.append(f"n={n:,}: {held[n][fam]:.0f} / {pred:.0f} ({pred / held[n][fam] - 1:+.0%}), "
                         f"quadratic {pq:.0f} ({pq / held[n][fam] - 1:+.0%})")
        print(f"{out['set']} {fam} real cost, measured / extrapolated: " + "; ".join(parts))
    for b, res in out["fake"].items():
        res = {int(k): v for k, v in res.items() if k != "noise_scale"}
        for fam in ("ivf", "hnsw"):
            r_sub = [res[n][fam] / tr[n][fam] for n in sub]
            line = np.polyfit(np.log(sub[-3:]), np.log(r_sub[-3:]), 1)
            at = [f"n={n:,}: {res[n][fam] / held[n][fam]:.2f} (predicted {np.exp(np.polyval(line, np.log(n))):.2f})"
                  for n in sorted(held)]
            print(f"  bridge {b} {fam}: ratio at n = {', '.join(f'{n:,}' for n in sub)}: "
                  f"{', '.join(f'{r:.2f}' for r in r_sub)}; " + "; ".join(at))


if __name__ == "__main__":
    if sys.argv[1] == "--report":
        report(json.load(open(sys.argv[2])))
        sys.exit()
    name, N, sizes, amounts, path = sys.argv[1:6]
    result = measure(name, int(N), [int(v) for v in sizes.split(",")], [float(v) for v in amounts.split(",")])
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    report(result)
