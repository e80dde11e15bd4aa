import numpy as np
import pytest

import synth.progress
from synth.bundled import load_minilm_wordnet


def blobs(n=2000, d=16, centers=5, seed=0):
    """Unit vectors in a few isotropic clusters off the origin: a small stand-in for embeddings."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((centers, d)) * 2
    X = C[rng.integers(centers, size=n)] + rng.standard_normal((n, d)) + 1.0
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


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


def assert_one_line_error(result, path, *words):
    """A click result that failed with ``Error: PATH: ...`` on one line, mentioning ``words``."""
    assert result.exit_code == 1, result.output
    # a ClickException ends in SystemExit; anything else escaped as a traceback
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: "), result.output
    for w in words:
        assert w in lines[0], (w, lines[0])


def listing(folder):
    """Every path below ``folder`` (hidden ones too) with its bytes, for 'nothing changed' checks."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in sorted(folder.rglob("*"))}
