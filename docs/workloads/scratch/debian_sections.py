"""Real labels of minilm-debian.npy's rows: the Debian section (its last part: `libs`, `python`, `utils`, ...) of the
first package, in `apt-cache dumpavail` order, whose Description line is the row's text; the rows are the sorted
distinct descriptions, as the research log's "Product boards" made minilm-debian.npy.

Usage, in the folder holding minilm-debian.npy: python debian_sections.py (writes minilm-debian-sections.txt, one
label per line, and prints the count of rows, the 12 largest sections and the number of sections).
"""
import collections
import subprocess

import numpy as np

out = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True).stdout
section_of = {}
for block in out.split("\n\n"):
    fields = {}
    for line in block.splitlines():
        if ": " in line and not line.startswith(" "):
            k, v = line.split(": ", 1)
            fields.setdefault(k, v.strip())
    if "Description" in fields and "Section" in fields:
        section_of.setdefault(fields["Description"], fields["Section"].split("/")[-1])
texts = sorted({l[len("Description: "):].strip() for l in out.splitlines() if l.startswith("Description: ")})
labels = [section_of.get(t, "unknown") for t in texts]
assert len(labels) == len(np.load("minilm-debian.npy", mmap_mode="r"))
open("minilm-debian-sections.txt", "w").write("\n".join(labels) + "\n")
print(len(labels), collections.Counter(labels).most_common(12), len(set(labels)))
