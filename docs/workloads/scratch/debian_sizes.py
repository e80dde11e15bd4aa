"""A real numeric attribute of minilm-debian.npy's rows: each description's Debian `Installed-Size` (kB), the median
over the packages in `apt-cache dumpavail` whose Description line is the row's text; the rows are the sorted distinct
descriptions, as the research log's "Product boards" made minilm-debian.npy. A description no package gives a size
(22 of 59,912 here) gets the median of the others.

Usage, in the folder holding minilm-debian.npy: python debian_sizes.py (writes minilm-debian-size.npy, float64, one
value per row; prints the rows, how many had no size, and the 5 / 50 / 95% quantiles).
"""
import subprocess
from collections import defaultdict

import numpy as np

out = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, check=True).stdout
sizes = defaultdict(list)
for block in out.split("\n\n"):
    desc = size = None
    for line in block.splitlines():
        if line.startswith("Description: "):
            desc = line[len("Description: "):].strip()
        elif line.startswith("Installed-Size: "):
            size = float(line.split()[1])
    if desc is not None and size is not None:
        sizes[desc].append(size)
texts = sorted({line[len("Description: "):].strip() for line in out.splitlines() if line.startswith("Description: ")})
v = np.array([np.median(sizes[t]) if sizes[t] else np.nan for t in texts])
missing = int(np.isnan(v).sum())
v[np.isnan(v)] = np.nanmedian(v)
print(len(texts), missing, np.percentile(v, [5, 50, 95]))
np.save("minilm-debian-size.npy", v)
