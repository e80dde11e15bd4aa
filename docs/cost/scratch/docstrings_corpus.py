"""A third real corpus, from another domain: first paragraphs of Python docstrings through all-MiniLM-L6-v2.

Usage (from the worktree root, single-threaded):
    OMP_NUM_THREADS=1 nice -n 5 python docs/cost/scratch/docstrings_corpus.py [OUT_NPY] [OUT_TXT]
defaults /work/data/minilm-docstrings.npy and /work/data/docstrings.txt.

Walks every ``*.py`` under ``site.getsitepackages()`` and the stdlib folder, parses each file with ``ast``
(files that fail are skipped), takes the docstring of every module, class and function, keeps its first
paragraph with whitespace collapsed when it has 20-500 characters, dedupes, sorts, picks 60,000 with
``np.random.default_rng(0).choice(len, 60000, replace=False)`` (sorted indices) and embeds them with
``synth.embed.embed_texts``. The corpus depends on the packages installed: reproducible on this machine only.
"""
import ast
import os
import re
import site
import sys
import sysconfig
import time
import warnings

import numpy as np

SIZE = 60_000
NODES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def roots():
    """The folders walked: site-packages folders and the stdlib folder, nested duplicates dropped."""
    found = sorted({os.path.realpath(p) for p in [*site.getsitepackages(), sysconfig.get_paths()["stdlib"]]
                    if os.path.isdir(p)})
    return [p for p in found if not any(p != q and p.startswith(q + os.sep) for q in found)]


def paragraphs(tree):
    """First paragraph, whitespace collapsed, of each module/class/function docstring in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, NODES):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                yield " ".join(re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0].split())


def collect(folders):
    """Distinct first paragraphs of 20-500 characters under ``folders``, sorted; and files parsed / skipped."""
    texts, parsed, skipped = set(), 0, 0
    warnings.simplefilter("ignore")
    for root in folders:
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                try:
                    with open(os.path.join(folder, name), "rb") as f:
                        tree = ast.parse(f.read())
                except Exception:  # syntax of another Python version, bad encodings, deep nesting
                    skipped += 1
                    continue
                parsed += 1
                texts.update(p for p in paragraphs(tree) if 20 <= len(p) <= 500)
    return sorted(texts), parsed, skipped


def main(out_npy="/work/data/minilm-docstrings.npy", out_txt="/work/data/docstrings.txt"):
    import torch

    from synth.embed import embed_texts
    torch.set_num_threads(1)
    t0 = time.time()
    folders = roots()
    print("folders:", *folders, sep="\n  ")
    texts, parsed, skipped = collect(folders)
    print(f"files parsed {parsed:,}, skipped {skipped:,}; distinct paragraphs of 20-500 chars {len(texts):,}"
          f" ({time.time() - t0:.0f} s)", flush=True)
    pick = np.sort(np.random.default_rng(0).choice(len(texts), SIZE, replace=False))
    texts = [texts[i] for i in pick]
    X = embed_texts(texts, progress=False).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    np.save(out_npy, X)
    with open(out_txt, "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for t in texts)
    lengths = np.array([len(t) for t in texts])
    print(f"saved {X.shape} to {out_npy}, texts to {out_txt}; length median {np.median(lengths):.0f} chars"
          f" ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main(*sys.argv[1:])
