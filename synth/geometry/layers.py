"""Layer geometry: follow a transformer's tokens and sentences through its layers with the same rulers.

For the raw word-embedding table, the embedding layer (``hidden_states[0]``: word + position + type
embeddings after LayerNorm) and every transformer layer, this measures at token level (every non-special,
non-padding token vector, subsampled with the seed) and at sentence level (mean over the attention mask, as
sentence-transformers pools) the geometry statistics, hubness, the Cayley-Menger volume CV and the k-NN
two-sample test of a patch fake and of a fog fitted to that layer, against held-out points of the layer.

torch and transformers (the ``[embed]`` extra) are imported only inside the functions that run a model.
"""

import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import SynthError
from ..install import install_hint
from ..io.formats import atomic_path, count_duplicates, write_json
from ..metrics.statistics import cm_volume_cv, geometry_stats, hubness
from ..metrics.twosample import knn_two_sample
from ..models import Fog, PatchPCA
from ..progress import muted, plan, stage
from .cone import cone_axis

# Keys of one level's report, in table order, with the column titles of the markdown tables.
COLUMNS = [("n", "n"), ("duplicate_share", "dup."), ("twonn_id", "TwoNN"), ("isoscore", "IsoScore"),
           ("participation_ratio", "PR"), ("anisotropy", "aniso."), ("nn_cosine", "NN cos"),
           ("hubness", "hubness"), ("axis_share", "axis share"), ("axis_cosine_prev", "axis cos prev"),
           ("cm_volume_cv", "CM CV"), ("c2st_n", "c2st n"), ("c2st", "patch"),
           ("c2st_min", "patch min"), ("fog_c2st", "fog"), ("fog_c2st_min", "fog min"),
           ("ceiling_c2st", "ceiling")]
PLOTTED = ["twonn_id", "isoscore", "anisotropy", "nn_cosine", "hubness", "axis_share", "cm_volume_cv",
           "c2st_min", "fog_c2st_min"]


def load_texts(path=None):
    """Texts to run through a model: one per line, or the bundled glosses.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A text file with one text per line (``.gz`` is decompressed), or a ``.tsv``/``.tsv.gz`` in the
        bundled layout ``index<TAB>synset<TAB>text`` (the third column is taken). By default the glosses of
        the bundled sample, in its (random) row order.

    Returns
    -------
    list of str
        Non-blank lines, stripped.
    """
    if path is None:
        from ..bundled import TEXTS

        path = TEXTS
    path = Path(path)
    if not path.is_file():
        raise SynthError("text file not found", path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            lines = [line.rstrip("\n") for line in f]
    except (OSError, UnicodeDecodeError) as e:
        raise SynthError(f"cannot read texts: {e}", path) from None
    if path.name.endswith((".tsv", ".tsv.gz")):
        lines = [line.split("\t", 2)[-1] for line in lines]
    texts = [t.strip() for t in lines if t.strip()]
    if not texts:
        raise SynthError("no texts in this file", path)
    return texts


def resolve_model_path(model_path):
    """The folder of the transformer inside ``model_path`` (``"minilm"``: the offline all-MiniLM-L6-v2).

    A sentence-transformers folder either keeps the transformer at its root (``config.json`` there) or in
    the module named in ``modules.json`` whose type is ``...Transformer``.
    """
    if str(model_path) == "minilm":
        from ..embed import minilm_path

        return minilm_path()
    path = Path(model_path)
    if not path.is_dir():
        raise SynthError("model folder not found", path)
    if (path / "config.json").is_file():
        return path
    if (path / "modules.json").is_file():
        for module in json.loads((path / "modules.json").read_text()):
            if module.get("type", "").endswith("Transformer") and (path / module["path"] / "config.json").is_file():
                return path / module["path"]
    raise SynthError("no config.json here nor in a Transformer module of modules.json", path)


def _import_embed():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before the import: huggingface_hub reads it once
    try:
        import torch
        import transformers
    except ImportError:
        raise SynthError(f"torch/transformers not installed: {install_hint('embed')}") from None
    return torch, transformers


def load_model(model_path):
    """Tokenizer and model (eval mode, CPU) from a local folder, without network access."""
    torch, transformers = _import_embed()
    path = resolve_model_path(model_path)
    transformers.utils.logging.disable_progress_bar()  # the weight-loading bar would mix into --json output
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = transformers.AutoModel.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as e:
        raise SynthError(f"cannot load a transformer: {str(e).splitlines()[0]}", path) from None
    return tokenizer, model.eval()


def hidden_states(tokenizer, model, texts, max_tokens=3000, batch_size=32, max_length=128, random_state=0,
                  progress=False):
    """Run the model with hidden states; keep mean-pooled sentences and a seeded sample of token vectors.

    Parameters
    ----------
    tokenizer, model
        A transformers tokenizer and encoder model (see :func:`load_model`).
    texts : list of str
    max_tokens : int, default=3000
        Token vectors kept per layer, drawn without replacement (with the seed) from all non-special,
        non-padding tokens of all texts; the same tokens in every layer.
    batch_size : int, default=32
    max_length : int, default=128
        Longer texts are truncated to this many word pieces.
    random_state : int, default=0
    progress : bool, default=False
        Print the batch count to stderr.

    Returns
    -------
    dict
        ``sentences``: ndarray of shape (n_layers + 1, n_texts, hidden), float32, mean over the attention
        mask (special tokens included, as sentence-transformers pools); ``tokens``: ndarray of shape
        (n_layers + 1, n_kept, hidden); ``token_ids``: ndarray of shape (n_kept,); ``n_tokens_total``;
        ``word_table``: ndarray of shape (n_words, hidden), the input-embedding rows of the distinct
        non-special token ids occurring in the texts (at most ``max_tokens`` of them, drawn with the seed).
    """
    torch, _ = _import_embed()
    if not texts:
        raise SynthError("no texts to run")
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, return_special_tokens_mask=True)
    ids, special = enc["input_ids"], enc["special_tokens_mask"]
    # (text, position) of every ordinary token, in text order, so the seeded draw does not depend on batching
    where = [(i, j) for i, mask in enumerate(special) for j, s in enumerate(mask) if not s]
    if not where:
        raise SynthError("the texts hold no ordinary tokens")
    rng = np.random.default_rng(random_state)
    keep = np.sort(rng.choice(len(where), size=min(max_tokens, len(where)), replace=False))
    wanted = {}
    for slot, w in enumerate(keep):
        i, j = where[w]
        wanted.setdefault(i, []).append((j, slot))

    n_layers = model.config.num_hidden_layers + 1
    hidden = model.config.hidden_size
    sentences = np.empty((n_layers, len(texts), hidden), np.float32)
    tokens = np.empty((n_layers, len(keep), hidden), np.float32)
    token_ids = np.empty(len(keep), np.int64)
    # Length-sorted batches waste little on padding; rows go back to their own index.
    order = np.argsort([len(x) for x in ids], kind="stable")
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    from tqdm.auto import tqdm

    stage(f"{n_layers} layers of hidden states of {len(texts):,} texts ({len(batches)} batches)")
    with torch.inference_mode():
        for rows in tqdm(batches, desc="batches", disable=not progress, leave=False):
            feats = [{"input_ids": ids[i], "attention_mask": [1] * len(ids[i])} for i in rows]
            inputs = tokenizer.pad(feats, return_tensors="pt")
            out = model(**inputs, output_hidden_states=True)
            mask = inputs["attention_mask"].unsqueeze(-1).to(out.hidden_states[0].dtype)
            for layer, h in enumerate(out.hidden_states):
                sentences[layer, rows] = ((h * mask).sum(1) / mask.sum(1)).float().numpy()
            for r, i in enumerate(rows):
                for j, slot in wanted.get(int(i), ()):
                    token_ids[slot] = ids[i][j]
                    for layer, h in enumerate(out.hidden_states):
                        tokens[layer, slot] = h[r, j].float().numpy()
    distinct = np.unique([ids[i][j] for i, j in where])
    if len(distinct) > max_tokens:  # the same n as the token level: the statistics depend on n
        distinct = np.sort(rng.choice(distinct, size=max_tokens, replace=False))
    table = model.get_input_embeddings().weight.detach()[torch.as_tensor(distinct)].float().numpy()
    return {"sentences": sentences, "tokens": tokens, "token_ids": token_ids, "n_tokens_total": len(where),
            "word_table": table}


def sentence_embeddings(tokenizer, model, texts, layer=-1, batch_size=32, max_length=128):
    """Mean-pooled sentence vectors of one layer (default the last: the model's embedding under mean pooling).

    Returns
    -------
    ndarray of shape (n_texts, hidden), float32 (not normalized)
    """
    from ..progress import show_bars

    hs = hidden_states(tokenizer, model, texts, max_tokens=1, batch_size=batch_size, max_length=max_length,
                       progress=show_bars(command_only=True))
    return hs["sentences"][layer]


def level_report(X, k=10, n_simplices=2000, fog_rounds=2, n_permutations=100, random_state=0):
    """Every measure of one layer at one level (token or sentence).

    The statistics use all rows. For the two-sample tests the rows are split in two halves with the seed:
    a patch model and a fog are fitted on one half, each samples as many points as the other (held-out)
    half has, and :func:`synth.metrics.twosample.knn_two_sample` compares them with the held-out half. The ceiling
    is the same test between the two real halves.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    k : int, default=10
        Neighbours in hubness and the two-sample test.
    n_simplices : int, default=2000
        Draws for the Cayley-Menger volume CV.
    fog_rounds : int, default=2
        Coordinate-descent rounds of the fog fit (its cost grows linearly with them).
    n_permutations : int, default=100
        Label shuffles for the p-values ``p_value`` / ``fog_p_value`` (0: none).
    random_state : int, default=0

    Returns
    -------
    dict
        ``n``, ``duplicate_share``, the :func:`synth.metrics.statistics.geometry_stats` keys, ``hubness``,
        ``cm_volume_cv``, ``axis_share`` (:func:`synth.geometry.cone.cone_axis`); ``c2st_n`` (points per side) and
        for the patch fake ``c2st``, ``c2st_real``, ``c2st_fake``, ``c2st_min`` (the smaller side),
        ``p_value`` (None without permutations), the same with a ``fog_`` prefix, ``ceiling_c2st``;
        the two-sample keys are None (with ``c2st_note``) when there are too few rows to fit the models.
    """
    # Many small SVDs and eigensolves: threaded BLAS spends its time synchronizing on them, several times
    # slower than one thread on a shared 2-core machine (measured 26 s against 4 s for 3,000 x 384).
    with threadpool_limits(limits=1, user_api="blas"):
        return _level_report(np.asarray(X, dtype=np.float32), k, n_simplices, fog_rounds, n_permutations,
                             random_state)


def _level_report(X, k, n_simplices, fog_rounds, n_permutations, random_state):
    r = geometry_stats(X)
    r["duplicate_share"] = count_duplicates(X) / len(X)
    r["hubness"] = hubness(X, k=k) if len(X) > k + 1 else None
    r["cm_volume_cv"] = cm_volume_cv(X, n_simplices=n_simplices, random_state=random_state)
    r["axis_share"] = cone_axis(X)[1]["axis_share"]
    order = np.random.default_rng(random_state).permutation(len(X))
    train, held = X[order[: len(X) // 2]], X[order[len(X) // 2:]]
    keys = ["c2st", "c2st_real", "c2st_fake", "c2st_min", "fog_c2st", "fog_c2st_real", "fog_c2st_fake",
            "fog_c2st_min", "ceiling_c2st", "p_value", "fog_p_value"]
    r["c2st_n"] = int(len(train))
    if len(train) < 40 or len(train) < k + 1:  # PatchPCA needs 2 * min_points rows
        r.update(dict.fromkeys(keys), c2st_n=None, c2st_note=f"{len(X)} rows: too few to fit and test")
        return r
    models = {"": PatchPCA(random_state=random_state), "fog_": Fog(n_rounds=fog_rounds, random_state=random_state)}
    n = len(train)
    for prefix, model in models.items():
        with muted():  # a fit's stages, dozens per run, would drown the layer lines
            fake = model.fit(train).sample(n, random_state=random_state + 1)
        t = knn_two_sample(held[:n], fake, k=k, n_permutations=n_permutations, random_state=random_state)
        r[prefix + "c2st"], r[prefix + "c2st_real"], r[prefix + "c2st_fake"] = t["c2st"], t["c2st_real"], \
            t["c2st_fake"]
        r[prefix + "c2st_min"] = min(t["c2st_real"], t["c2st_fake"])
        r[prefix + "p_value"] = t["p_value"]
    r["ceiling_c2st"] = knn_two_sample(held[:n], train, k=k, n_permutations=0)["c2st"]
    return r


def run_layers(model_path, texts, max_texts=None, max_tokens=3000, batch_size=32, max_length=128, k=10,
               n_simplices=2000, fog_rounds=2, n_permutations=100, random_state=0, progress=False):
    """Measure every layer of a model on texts, at token and sentence level.

    Parameters
    ----------
    model_path : str or os.PathLike
        A local transformers or sentence-transformers folder, or ``"minilm"``.
    texts : list of str
    max_texts : int, optional
        Use the first ``max_texts`` texts.
    max_tokens, batch_size, max_length
        See :func:`hidden_states`.
    k, n_simplices, fog_rounds, n_permutations
        See :func:`level_report`.
    random_state : int, default=0
    progress : bool, default=False

    Returns
    -------
    dict
        ``model``, ``n_texts``, ``n_tokens_total``, ``n_tokens``, ``word_table`` (token-level report of the
        raw input-embedding rows of the distinct tokens seen), ``layers``: one entry per layer, embedding
        layer (``layer`` 0) first, holding the sentence-level report at top level (so ``anisotropy`` and
        ``c2st`` are the mean-pooled sentence level) and the token-level one under ``token``; each level
        also has ``axis_cosine_prev``, the cosine between its cone axis and the previous layer's;
        ``seconds`` (``model``: the forward passes, ``measures``: everything else).
    """
    texts = list(texts)[:max_texts] if max_texts else list(texts)
    t0 = time.perf_counter()
    stage(f"loading {model_path}")
    tokenizer, model = load_model(model_path)
    hs = hidden_states(tokenizer, model, texts, max_tokens=max_tokens, batch_size=batch_size,
                       max_length=max_length, random_state=random_state, progress=progress)
    t1 = time.perf_counter()
    opts = dict(k=k, n_simplices=n_simplices, fog_rounds=fog_rounds, n_permutations=n_permutations,
                random_state=random_state)

    # the measures: each level's report (a patch and a fog fit and tests) takes about as long per row
    n_layers = len(hs["sentences"])
    steps = [("word table", len(hs["word_table"]))] + [(layer, len(texts) + len(hs["token_ids"]))
                                                        for layer in range(n_layers)]
    with plan(steps):
        stage(f"word table, {len(hs['word_table']):,} tokens", step="word table")
        result = {"model": str(model_path), "n_texts": len(texts), "n_tokens_total": hs["n_tokens_total"],
                  "n_tokens": int(hs["tokens"].shape[1]), "word_table": level_report(hs["word_table"], **opts),
                  "layers": []}
        prev = {}
        for layer in range(n_layers):
            stage(f"layer {layer} of {n_layers - 1}: sentences and tokens", step=layer)
            entry = {"layer": layer, "name": "embeddings" if layer == 0 else f"layer {layer}"}
            entry.update(level_report(hs["sentences"][layer], **opts))
            entry["token"] = level_report(hs["tokens"][layer], **opts)
            # the residual stream keeps its coordinates from layer to layer, so the axes can be compared
            for level, rep, X in (("sentence", entry, hs["sentences"][layer]),
                                  ("token", entry["token"], hs["tokens"][layer])):
                axis = cone_axis(X)[0]
                rep["axis_cosine_prev"] = float(axis @ prev[level]) if level in prev else None
                prev[level] = axis
            result["layers"].append(entry)
    result["seconds"] = {"model": round(t1 - t0, 1), "measures": round(time.perf_counter() - t1, 1)}
    return result


def _cell(v):
    if v is None:
        return "-"
    if isinstance(v, (int, np.integer)):
        return str(v)
    return f"{v:.3g}" if abs(v) >= 10 else f"{v:.3f}"


def format_layers_markdown(result):
    """Two markdown tables (token level, then mean-pooled sentence level), one row per layer."""
    head = "| layer | " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|---" * (len(COLUMNS) + 1) + "|"

    def row(name, rep):
        return f"| {name} | " + " | ".join(_cell(rep.get(key)) for key, _ in COLUMNS) + " |"

    token = [row("word table", result["word_table"])] + [row(e["name"], e["token"]) for e in result["layers"]]
    sentence = [row(e["name"], e) for e in result["layers"]]
    return "\n".join([
        f"Model {Path(result['model']).name}, {result['n_texts']} texts; token level: {result['n_tokens']} of "
        f"{result['n_tokens_total']} ordinary tokens (word table: input-embedding rows of {result['word_table']['n']} "
        f"distinct tokens of the texts). c2st: k-NN two-sample test of a patch fake / fog fitted on half a "
        f"layer's points against the other half, c2st n points per side; 'min' is the weaker side; ceiling = "
        f"the two real halves.",
        "", "**Token level**", "", head, rule, *token,
        "", "**Sentence level (mean pooling)**", "", head, rule, *sentence])


def plot_layers(result, path):
    """One panel per measure against depth: token and sentence level, the word table as a dotted line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [e["layer"] for e in result["layers"]]
    cols = 4
    fig, axes = plt.subplots(-(-len(PLOTTED) // cols), cols, figsize=(3.3 * cols, 2.8 * -(-len(PLOTTED) // cols)))
    for ax, key in zip(axes.ravel(), PLOTTED):
        for label, reps in (("token", [e["token"] for e in result["layers"]]), ("sentence", result["layers"])):
            ys = [np.nan if r.get(key) is None else r[key] for r in reps]
            ax.plot(layers, ys, marker="o", ms=3, label=label)
        if result["word_table"].get(key) is not None:
            ax.axhline(result["word_table"][key], ls=":", c="gray", label="word table")
        ax.set_title(dict(COLUMNS)[key] if key in dict(COLUMNS) else key, fontsize=9)
        ax.set_xlabel("layer (0 = embeddings)", fontsize=8)
    for ax in axes.ravel()[len(PLOTTED):]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle(f"{Path(result['model']).name}: geometry by depth ({result['n_texts']} texts)", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def write_layers(result, out_dir):
    """Write ``layers.json``, ``layers.md`` and ``layers.png`` into ``out_dir`` (created if missing)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "layers.json", result)
    md = format_layers_markdown(result) + "\n"
    with atomic_path(out / "layers.md") as tmp:
        Path(tmp).write_text(md)
    plot_layers(result, out / "layers.png")
    return [out / "layers.json", out / "layers.md", out / "layers.png"]
