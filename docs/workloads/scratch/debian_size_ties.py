"""How lumpy minilm-debian-size.npy is: rows, distinct sizes, and the rows the five commonest sizes hold.

Usage, in the folder holding minilm-debian-size.npy: python debian_size_ties.py (prints; the .out file beside this
script is its output on this machine's file).
"""
import numpy as np

v = np.load("minilm-debian-size.npy")
sizes, counts = np.unique(v, return_counts=True)
top = np.argsort(-counts, kind="stable")[:5]
print(f"rows {len(v):,}, distinct sizes {len(sizes):,}, whole numbers {np.mean(v == np.round(v)):.1%}")
print("commonest sizes (kB: rows, share):", ", ".join(f"{sizes[i]:g}: {counts[i]} ({counts[i] / len(v):.2%})" for i in top))
