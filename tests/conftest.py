import numpy as np
import pytest

import synth.progress
from synth.bundled import load_minilm_wordnet


def save_real_split(folder, n_train=4000, n_heldout=3000):
    """Write the first rows of the bundled sample as ``train.npy`` and the next as ``heldout.npy``."""
    X = load_minilm_wordnet()
    np.save(folder / "train.npy", X[:n_train])
    np.save(folder / "heldout.npy", X[n_train:n_train + n_heldout])
    return folder


@pytest.fixture(autouse=True)
def quiet_progress_in_process(monkeypatch):
    """In-process CLI runs (click's CliRunner) read stdout and stderr together in ``result.output``: hold
    progress lines back for an hour, so that a command slowed past the usual 1 s of grace by a busy machine
    does not put stage lines into the JSON or the one-line errors the tests read. Subprocess tests set
    ``SYNTH_PROGRESS_GRACE`` themselves; tests/test_progress.py passes ``grace`` explicitly."""
    monkeypatch.setattr(synth.progress, "GRACE", 3600.0)
