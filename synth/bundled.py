"""The bundled real sample: all-MiniLM-L6-v2 sentence embeddings of WordNet glosses (see data/README.md)."""

import gzip
from pathlib import Path

import numpy as np

from .errors import SynthError

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "minilm-wordnet.npz"
TEXTS = DATA / "minilm-wordnet.tsv.gz"


def load_minilm_wordnet(return_texts=False):
    """The bundled embeddings as float32 unit rows, and optionally their glosses.

    Returns
    -------
    X : ndarray of shape (n_samples, 384), float32
    texts : list of str
        Only with ``return_texts=True``: the gloss of each row.
    """
    if not SAMPLE.exists():
        raise SynthError("bundled sample missing: rebuild it with recipes/minilm_wordnet_sample.py", SAMPLE)
    with np.load(SAMPLE, allow_pickle=False) as archive:
        X = archive["embeddings"].astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)  # float16 storage leaves norms ~1e-3 off
    if not return_texts:
        return X
    with gzip.open(TEXTS, "rt", encoding="utf-8") as f:
        texts = [line.rstrip("\n").split("\t", 2)[2] for line in f]
    return X, texts
