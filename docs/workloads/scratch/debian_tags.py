"""Real tags of minilm-debian.npy's rows: the Debian debtags (`Tag:` field of `apt-cache dumpavail`, comma-separated,
continued on lines that start with a space) of the first package, in `apt-cache dumpavail` order, whose Description
line is the row's text; the rows are the sorted distinct descriptions, as minilm-debian.npy was made (and as
debian_sections.py labels them). A row whose first package has no `Tag:` field gets an empty line.

Usage, in the folder holding minilm-debian.npy: python debian_tags.py (writes minilm-debian-tags.txt, one line per
row, tags comma-separated, and prints the count of rows, of rows with tags, the mean tags per tagged row, the 12
commonest tags and the number of distinct tags).
"""
import collections
import subprocess

import numpy as np

out = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True).stdout
tags_of = {}
for block in out.split("\n\n"):
    fields, key = {}, None
    for line in block.splitlines():
        if line.startswith(" "):  # a continuation: kept for Tag (the Description's first line is the row's text)
            if key == "Tag":
                fields[key] += " " + line.strip()
        elif ": " in line or line.endswith(":"):
            key, _, v = line.partition(":")
            if key in fields:  # the first occurrence of a field wins, as in debian_sections.py
                key = None
                continue
            fields[key] = v.strip()
        else:
            key = None
    if "Description" in fields:
        tags = [t.strip() for t in fields.get("Tag", "").split(",") if t.strip()]
        tags_of.setdefault(fields["Description"], tags)
texts = sorted({l[len("Description: "):].strip() for l in out.splitlines() if l.startswith("Description: ")})
rows = [tags_of.get(t, []) for t in texts]
assert len(rows) == len(np.load("minilm-debian.npy", mmap_mode="r"))
open("minilm-debian-tags.txt", "w").write("".join(",".join(r) + "\n" for r in rows))
counts = collections.Counter(t for r in rows for t in r)
tagged = [r for r in rows if r]
print(len(rows), len(tagged), round(sum(map(len, tagged)) / max(len(tagged), 1), 2), counts.most_common(12),
      len(counts))
