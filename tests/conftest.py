import numpy as np

from synth.bundled import load_minilm_wordnet


def save_real_split(folder, n_train=4000, n_heldout=3000):
    """Write the first rows of the bundled sample as ``train.npy`` and the next as ``heldout.npy``."""
    X = load_minilm_wordnet()
    np.save(folder / "train.npy", X[:n_train])
    np.save(folder / "heldout.npy", X[n_train:n_train + n_heldout])
    return folder
