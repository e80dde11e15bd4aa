"""The WordNet gloss reader and the bundled MiniLM sample; only the last test needs torch."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from synth.embed import embed_texts, tsv_path, wordnet_glosses
from synth.errors import SynthError

SAMPLE = Path(__file__).resolve().parents[1] / "synth" / "data" / "minilm-wordnet.npz"

DATA_NOUN = (
    "  1 This software and database is being provided to you, the LICENSEE, by  \n"
    "  2 Princeton University under the following license.  By obtaining, using  \n"
    "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 ~ 00002137 n 0000 ~ 04424418 n 0000 | that which is "
    "perceived or known or inferred to have its own distinct existence (living or nonliving)  \n"
    "00001930 03 n 01 physical_entity 0 007 @ 00001740 n 0000 ~ 00002452 n 0000 | an entity that has "
    "physical existence  \n"
    "00002452 03 n 01 thing 0 009 @ 00001930 n 0000 ~ 04347225 n 0000 | an entity that has physical existence  \n"
)
DATA_ADJ = "00001740 00 a 01 able 0 005 = 05207437 n 0000 ! 00002098 a 0101 | (usually followed by `to') having the necessary means  \n"


@pytest.fixture(scope="module")
def sample():
    with np.load(SAMPLE, allow_pickle=False) as z:
        X, synsets = z["embeddings"], z["synsets"]
    with gzip.open(tsv_path(SAMPLE), "rt", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    return X, synsets, rows


def test_wordnet_glosses_parses_and_dedups(tmp_path):
    (tmp_path / "data.noun").write_text(DATA_NOUN)
    (tmp_path / "data.adj").write_text(DATA_ADJ)
    assert wordnet_glosses(tmp_path) == [
        ("n00001740", "that which is perceived or known or inferred to have its own distinct existence "
                      "(living or nonliving)"),
        ("n00001930", "an entity that has physical existence"),
        ("a00001740", "(usually followed by `to') having the necessary means"),
    ]


def test_wordnet_glosses_missing_folder(tmp_path):
    with pytest.raises(SynthError, match="apt-get install wordnet-base") as e:
        wordnet_glosses(tmp_path / "nope")
    assert "nope" in str(e.value)


def test_bundled_sample_shape_and_norms(sample):
    X, synsets, _ = sample
    assert X.dtype == np.float16 and X.ndim == 2
    assert X.shape[0] >= 20000 and X.shape[1] == 384
    assert np.isfinite(X).all()
    norms = np.linalg.norm(X.astype(np.float32), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-2)
    assert synsets.dtype == np.dtype("U9") and synsets.shape == (X.shape[0],)


def test_bundled_tsv_matches_npz(sample):
    X, synsets, rows = sample
    assert len(rows) == X.shape[0]
    assert all(len(r) == 3 and r[2] for r in rows)
    assert [int(r[0]) for r in rows] == list(range(len(rows)))
    assert [r[1] for r in rows] == synsets.tolist()
    assert len({r[2] for r in rows}) == len(rows)  # glosses were deduplicated


@pytest.mark.slow
def test_bundled_vectors_reproduce(sample):
    pytest.importorskip("sentence_transformers")
    X, _, rows = sample
    idx = [0, len(rows) // 2, len(rows) - 1]
    Y = embed_texts([rows[i][2] for i in idx], progress=False)
    B = X[idx].astype(np.float32)
    cos = np.sum(Y * B, axis=1) / np.linalg.norm(B, axis=1)
    assert np.all(cos > 1 - 2e-3), cos
