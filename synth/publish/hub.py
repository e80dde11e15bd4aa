"""Publish a generated corpus as a Hugging Face dataset: parquet configs, the model, a dataset card, an audit.

The folder ``synth publish`` writes is what the Hub serves and what ``datasets.load_dataset(folder, config)``
reads::

    README.md                               dataset card (YAML metadata + body from cards/dataset_card.md)
    corpus/train-00000-of-0000N.parquet     id int64, vector fixed-size float32 list (config "corpus")
    queries/test-00000-of-00001.parquet     id, vector: queries from their own seed stream ("queries")
    neighbors/test-00000-of-00001.parquet   id, neighbors (top-k corpus ids), scores (cosines) ("neighbors")
    model.safetensors                       the patch model the corpus was sampled from
    audit.json                              how it was made, fidelity and privacy figures (the card's source)

Corpus and queries are the rows of ``synth sample`` with the same model and seed (``--seed``; queries from
:func:`synth.sampling.stream.query_seed`); neighbours are exact (blockwise faiss inner product, ties to the smaller
id). The audit runs on the first ``audit_n`` corpus rows: the k-NN two-sample test against held-out real with
its ceiling, the geometry statistics, the memorization check against the training rows, the field's standard
measures (:mod:`synth.metrics.standard_measures`; reported, not part of the check), the HNSW search cost ratio (fake /
real distance computations at recall 0.95) and the membership attacks.
"""

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import SynthError
from ..progress import plan, planned, stage

CONFIGS = ("corpus", "queries", "neighbors")
MAX_MEMORIZATION = 0.06   # memorization rate above which publishing is refused (0.05 = a non-copying generator)
MAX_MEDIAN_GAP = 0.01     # ... or fake median nearest-training cosine above held-out's + this
AUDIT_QUERIES = 1000      # queries of the audit's HNSW comparison (at most a fifth of the held-out rows)
AUDIT_FAKES = 100_000     # the published corpus's first rows searched by the nearest-fake membership attack
# seconds, for the estimate of the time left (synth.progress): a million corpus rows, a million more with a
# thousand queries' exact neighbours among them, the audit's HNSW comparison (see publish_plan)
ROW_SECONDS, QUERY_SECONDS, HNSW_SECONDS = 13.5, 23.4, 4.3


def features(d, k=None, classes=None, attribute=None):
    """The ``datasets.Features`` of each config; with ``classes`` (a label model's), the corpus also has a ``label``
    column (``ClassLabel``: int class ids with their names); with ``attribute`` (an attribute model's name), a
    float64 column of that name."""
    from datasets import ClassLabel, Features, List, Value

    vec = {"id": Value("int64"), "vector": List(Value("float32"), length=d)}
    corpus = dict(vec, label=ClassLabel(names=list(classes))) if classes else dict(vec)
    if attribute:
        corpus[attribute] = Value("float64")
    return {"corpus": Features(corpus), "queries": Features(vec),
            "neighbors": Features({"id": Value("int64"), "neighbors": List(Value("int64"), length=k),
                                   "scores": List(Value("float32"), length=k)})}


def _arrow_table(columns, schema):
    import pyarrow as pa

    arrays = []
    for field in schema:
        value = columns[field.name]
        if pa.types.is_fixed_size_list(field.type):
            value = np.ascontiguousarray(value)
            arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(value.ravel(), field.type.value_type),
                                                            value.shape[1]))
        else:
            arrays.append(pa.array(value, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _write_table(path, parts, feats):
    """Stream ``parts`` (dicts of column arrays) into one parquet file with the schema and Hugging Face
    feature metadata of ``feats``; returns its size in bytes."""
    import pyarrow.parquet as pq

    schema = feats.arrow_schema
    with pq.ParquetWriter(path, schema) as w:
        for columns in parts:
            w.write_table(_arrow_table(columns, schema))
    return Path(path).stat().st_size


def default_rows_per_file(d):
    """Corpus rows per parquet file: about 512 MB of float32 vectors."""
    return max(1, (512 << 20) // (4 * d))


def row_digests(X):
    """blake2b digest of each row's float32 bytes (``-0.0`` counted as ``0.0``), for exact row matching.

    ``X`` are unit rows as :func:`synth.io.formats.load_embeddings` returns them, so the same vector stored in
    two files (any format, any scale) gives the same digest. 16 bytes a row: a set of them for a million
    training rows takes tens of megabytes, not the rows themselves.
    """
    X = np.ascontiguousarray(X, dtype=np.float32) + np.float32(0)  # -0.0 + 0.0 = +0.0
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in X]


def shared_rows(train, heldout):
    """Number of ``heldout`` rows equal to some ``train`` row (after the same L2 normalisation).

    The privacy gate compares the fakes' nearest-training cosines with those of held-out rows; a held-out
    set that repeats training rows has nearest-training cosine 1 and hides any copying (the command passed
    with ``--heldout`` = ``--train``). Held-out rows must be rows the model never saw, so any overlap is
    refused. These digests catch exact repeats before any work; a row stored at another precision (float64,
    float16) normalises to other bytes, and is caught by the audit instead (``heldout_in_train`` of
    :func:`synth.metrics.twosample.memorization`: nearest-training cosine 1 up to rounding, on the audited rows).
    """
    seen = set(row_digests(train))
    return sum(h in seen for h in row_digests(heldout))


def check_audit(dcr, max_rate=MAX_MEMORIZATION, max_gap=MAX_MEDIAN_GAP):
    """(passed, reason) of the memorization check: rate <= max_rate and fake median <= held-out's + max_gap."""
    if dcr is None:
        return False, "not run (no --train and --heldout given)"
    rate_ok = dcr["memorization_rate"] <= max_rate
    gap = dcr["fake_median"] - dcr["heldout_median"]
    gap_ok = gap <= max_gap
    if rate_ok and gap_ok:
        return True, (f"passed: memorization rate {dcr['memorization_rate']:.3f} <= {max_rate}, fake median "
                      f"nearest-training cosine {dcr['fake_median']:.3f} <= held-out {dcr['heldout_median']:.3f}"
                      f" + {max_gap}")
    why = []
    if not rate_ok:
        why.append(f"memorization rate {dcr['memorization_rate']:.3f} > {max_rate}")
    if not gap_ok:
        why.append(f"fake median nearest-training cosine {dcr['fake_median']:.3f} > held-out "
                   f"{dcr['heldout_median']:.3f} + {max_gap}")
    return False, "failed: " + "; ".join(why)


def audit_plan(gen=None, fake=None, hnsw=True, released=None, **_):
    """The steps of :func:`audit` and their seconds (:mod:`synth.progress`), measured by ``synth publish`` at
    --audit-n 5000 on a patch model of 10,000 bundled 384-d rows (2 cores, load 4)."""
    rows = len(fake if released is None else released)
    return audit_steps(getattr(gen, "kind", None) == "patch", rows, hnsw)


def audit_steps(patch, released, hnsw):
    """:func:`audit_plan` for a model of this kind and ``released`` rows searched by the nearest-fake attack."""
    from ..metrics.privacy import attack_steps
    from ..metrics.twosample import score_plan

    return ([("score", sum(w for _, w in score_plan(train=True, standard=True)))]
            + ([("hnsw", HNSW_SECONDS)] if hnsw else [])
            + [("membership", sum(w for _, w in attack_steps(patch, released, sample=False)))])


@planned(audit_plan)
def audit(gen, train, heldout, fake, queries_fake, k=10, n=5000, hnsw=True, random_state=0, released=None, shadows=0):
    """Fidelity and privacy figures of a corpus sample ``fake`` (unit rows) against real data.

    ``train`` are the model's training rows, ``heldout`` real rows it never saw. Returns a dict with ``score``
    (the :func:`synth.metrics.twosample.score` result, with the standard measures), ``hnsw`` (fake and real distance
    computations per query at recall 0.95 and their ratio, or None when skipped), ``min_points_per_patch``
    and ``membership``. ``released`` are the rows the nearest-fake membership attack searches: the published
    corpus's first :data:`AUDIT_FAKES` rows (default: ``fake``). ``shadows``: shadow models for the shadow-model
    attack (:func:`synth.metrics.privacy.membership_attacks`; 0: not run).
    """
    from ..metrics.twosample import score

    n = min(n, len(heldout), len(fake))
    stage(f"publish: audit, two-sample test and memorization at n = {n:,}", step="score")
    result = {"score": score(heldout, fake, train=train, n=n, k=10, n_permutations=200,
                             random_state=random_state, standard=True)}
    result["hnsw"] = None
    if hnsw:
        from bench.fidelity import hnsw_cost

        nq = min(AUDIT_QUERIES, len(heldout) // 5)
        nb = min(n, len(heldout) - nq, len(fake))
        if nb >= 10 * k:
            stage(f"publish: audit, HNSW cost at recall 0.95 on {nb:,} real and fake rows", step="hnsw")
            real_cost, params = hnsw_cost(heldout[:nb], heldout[nb:nb + nq], k)
            fake_cost, _ = hnsw_cost(fake[:nb], queries_fake[:nq], k)
            result["hnsw"] = {"index": "faiss-hnsw", "build_params": params, "n": nb, "queries": nq, "k": k,
                              "real_ndis": real_cost, "fake_ndis": fake_cost,
                              "ratio": fake_cost / real_cost if real_cost and fake_cost else None}
    counts = getattr(gen, "counts_", None)
    result["min_points_per_patch"] = int(np.min(counts)) if counts is not None else None
    from ..metrics.privacy import membership_attacks

    released = fake if released is None else released

    stage(f"publish: audit, membership attacks on {min(n, len(train)):,} members and non-members", step="membership")
    result["membership"] = membership_attacks(gen, train, heldout, n=n, random_state=random_state,
                                              fakes=released, shadows=shadows)
    return result


def _model_info(model_path, gen):
    from ..io.artifact import read_header

    header = read_header(model_path)
    return {"kind": header["kind"], "params": header["params"], "dim": header["dim"],
            "fit_data": header.get("fit_data"), "synth_version": header.get("synth_version"),
            "patches": len(gen.counts_) if hasattr(gen, "counts_") else None,
            "noise_scale": getattr(gen, "noise_scale_", None), "file_bytes": Path(model_path).stat().st_size}


def publish_plan(n, n_queries=1000, train=None, hnsw=True, **_):
    """The steps of :func:`publish` and their seconds (:mod:`synth.progress`): the corpus, in proportion to
    its rows and the queries whose neighbours are searched among them, then the audit. Measured by ``synth
    publish`` of a patch model of 10,000 bundled 384-d rows (2 cores, load 5): 200,000 rows without queries
    2.7 s, 100,000 rows with the top-100 of 1,000 queries 3.7 s, the audit at --audit-n 5000 52 s. The
    audit grows with ``audit_n`` and the corpus with d, which this does not foresee."""
    corpus = n / 1e6 * (ROW_SECONDS + QUERY_SECONDS * n_queries / 1000)
    audit = sum(w for _, w in audit_steps(True, min(n, AUDIT_FAKES), hnsw))  # a patch model, most likely
    return [("corpus", corpus)] + ([("audit", audit)] if train is not None else [])


@planned(publish_plan)
def publish(model, out, n, n_queries=1000, k=100, random_state=0, train=None, heldout=None, audit_n=5000,
            hnsw=True, card=None, repo_id=None, private=False, dry_run=False, allow_unsafe=False,
            rows_per_file=None, force=False, token=None, verbose=0, heldout_path=None, shadows=0):
    """Write a Hub-ready dataset folder for a corpus sampled from ``model``; upload it with ``repo_id``.

    Parameters
    ----------
    model : str or os.PathLike
        A model file written by ``synth fit``.
    out : str or os.PathLike
        The folder to write (replaced only with ``force``; built under a temporary name, then renamed).
    n, n_queries, k : int
        Corpus size, queries, neighbours per query.
    random_state : int
        Seed of corpus and queries (the rows of ``synth sample --seed``).
    train, heldout : array-like, optional
        The model's training rows as :func:`synth.io.formats.load_embeddings` returns them (checked against the
        fingerprint in the model file) and real rows it never saw. With both, the audit runs; without, the card says it was not run and uploading is refused.
    audit_n : int
        Rows per side of the two-sample test and HNSW comparison.
    hnsw : bool
        Measure the HNSW cost ratio in the audit.
    shadows : int
        Shadow models for the audit's shadow-model attack (``synth audit --shadows``; 0: not run); its row joins
        the card's membership table and the privacy check.
    card : dict, optional
        Card fields: ``pretty_name``, ``license``, ``source_model``, ``source_data``, ``description``,
        ``citation``, ``tags`` (list), ``task_categories`` (list).
    repo_id : str, optional
        ``owner/name`` of a Hub dataset repository to upload the folder to (not with ``dry_run``).
    private : bool
        Create the repository private.
    dry_run : bool
        Write the folder only, even with ``repo_id``.
    allow_unsafe : bool
        Upload even when the privacy check (memorization and membership inference, see
        :mod:`synth.metrics.privacy`) failed or was not run.
    token : str, optional
        Hub token (default: huggingface_hub's usual sources, HF_TOKEN or a cached login).
    verbose : int
        Show a bar over the corpus rows.
    heldout_path : str, optional
        Where ``heldout`` came from, named in errors about it.

    Returns
    -------
    info : dict
        ``out``, ``audit`` (the audit.json content), ``uploaded`` (the repository URL or None).
    """
    from tqdm.auto import tqdm

    from ..io.artifact import load_model
    from ..io.formats import disk_full, fingerprint, is_disk_full, remove_stale_temporaries, temporary_name
    from ..models.base import check_seed
    from ..sampling.groundtruth import TopK
    from ..sampling.stream import draw_queries, iter_rows, query_seed
    from .card import render_card

    seed = check_seed(random_state)
    out = Path(out)
    model = Path(model)
    gen = load_model(model)
    if getattr(gen, "metric", "cosine") != "cosine":  # the audit, card and Hub layout assume unit rows
        raise SynthError(f"publishes cosine models only; this one was fitted with --metric {gen.metric} (write "
                         "its corpus with synth sample)", model)
    info = _model_info(model, gen)
    d = gen.n_features_
    if n < k or n < 1:
        raise SynthError(f"--n {n} must be at least --k {k}")
    if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
        raise SynthError("exists; use --force to replace it", out)
    if (train is None) != (heldout is None):
        raise SynthError("the audit needs both --train and --heldout")
    if train is not None:
        # as load_embeddings returns them (unit rows, float32): the fingerprint is of these bytes
        train = np.ascontiguousarray(train, dtype=np.float32)
        heldout = np.ascontiguousarray(heldout, dtype=np.float32)
        fit = info["fit_data"] or {}
        if fit.get("sha256") and fingerprint(train) != fit["sha256"]:
            raise SynthError(f"the --train rows are not the data this model was fitted on ({len(train)} rows, "
                             f"model fitted on {fit.get('n')} from {fit.get('source')})", model)
        if heldout.shape[1] != d:
            raise SynthError(f"--heldout has dimension {heldout.shape[1]}, the model {d}")
        shared = shared_rows(train, heldout)
        if shared:
            raise SynthError(f"shares {shared} of its {len(heldout)} rows with the training set: held-out rows "
                             "must be real rows the model never saw", heldout_path or "--heldout")
    if repo_id and not dry_run:
        from huggingface_hub.utils import validate_repo_id

        try:
            validate_repo_id(repo_id)
        except Exception as e:
            raise SynthError(f"--repo-id {repo_id!r}: {str(e).splitlines()[0]}") from None

    from ..sampling.attributes import row_values
    from ..sampling.labels import is_tagged, row_labels

    lm, am = getattr(gen, "label_model_", None), getattr(gen, "attribute_model_", None)
    if is_tagged(lm):
        raise SynthError("a model with a tag model (several labels per row, fit --multi-label) is not published: "
                         "sample it with `synth sample` instead", getattr(gen, "path_", None))
    feats = features(d, k, lm.classes_ if lm is not None else None, am.name if am is not None else None)
    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)  # left by killed runs
    # mkdir, not mkdtemp: its 0700 mode would survive the rename; mkdir applies the umask as for any folder
    tmp = temporary_name(out)
    tmp.mkdir()
    try:
        # the query stream: the published queries, and the audit's HNSW queries (its first 1,000 rows)
        n_stream = max(n_queries, AUDIT_QUERIES if train is not None else 0)
        stream = draw_queries(gen, seed, n_stream, np.float32) if n_stream else None  # a query model's, if any
        queries = stream[:n_queries] if n_queries else None
        top = TopK(queries, k) if n_queries else None
        files = max(1, -(-n // (rows_per_file or default_rows_per_file(d))))
        (tmp / "corpus").mkdir()
        sizes = {"corpus": 0}
        head, have = [], 0

        def corpus_parts(a, b):
            nonlocal have
            for chunk in iter_rows(gen, seed, a, b):
                if top is not None:
                    top.add(chunk, a)
                if have < audit_n:
                    head.append(chunk[:audit_n - have].copy())
                    have += len(head[-1])
                part = {"id": np.arange(a, a + len(chunk), dtype=np.int64), "vector": chunk}
                if lm is not None:
                    part["label"] = row_labels(gen, chunk, seed, a)
                if am is not None:
                    part[am.name] = row_values(gen, chunk, seed, a)
                yield part
                a += len(chunk)
                bar.update(len(chunk))

        bounds = [(i * n // files, (i + 1) * n // files) for i in range(files)]
        with plan([(i, b - a) for i, (a, b) in enumerate(bounds)]), \
                tqdm(total=n, unit="vec", unit_scale=True, desc="corpus", disable=not verbose, leave=False) as bar:
            for i, (a, b) in enumerate(bounds):  # the corpus step, shared by rows
                stage(f"publish: corpus file {i + 1} of {files}, rows {a:,} to {b - 1:,}"
                      + (f", and the exact top-{k} of {n_queries:,} queries" if top is not None else ""), step=i)
                sizes["corpus"] += _write_table(tmp / "corpus" / f"train-{i:05d}-of-{files:05d}.parquet",
                                                corpus_parts(a, b), feats["corpus"])
        if n_queries:
            ids, scores = top.result()
            (tmp / "queries").mkdir()
            (tmp / "neighbors").mkdir()
            qid = np.arange(n_queries, dtype=np.int64)
            sizes["queries"] = _write_table(tmp / "queries" / "test-00000-of-00001.parquet",
                                            [{"id": qid, "vector": queries}], feats["queries"])
            sizes["neighbors"] = _write_table(tmp / "neighbors" / "test-00000-of-00001.parquet",
                                              [{"id": qid, "neighbors": ids, "scores": scores}],
                                              feats["neighbors"])
        shutil.copyfile(model, tmp / "model.safetensors")
        fake = np.concatenate(head)
        result = {"synth_version": __version__, "n": n, "d": d, "queries": n_queries, "k": k, "seed": seed,
                  "query_seed": query_seed(seed), "files": files, "bytes": sizes, "model": info,
                  "generated_seconds": None, "audit": None}
        if train is not None:
            stage(f"publish: audit against {len(heldout):,} held-out rows", step="audit")
            # the nearest-fake attack searches the released rows themselves (row r depends only on seed and r)
            released = np.concatenate(list(iter_rows(gen, seed, 0, min(n, AUDIT_FAKES))))
            result["audit"] = audit(gen, train, heldout, fake, stream[:AUDIT_QUERIES], k=min(k, 10), n=audit_n, hnsw=hnsw,
                                    random_state=seed, released=released, shadows=shadows)
            dcr = result["audit"]["score"]["dcr"]
            if dcr["heldout_in_train"]:  # the same rows stored at another precision escape the exact digests
                raise SynthError(f"shares {dcr['heldout_in_train']} of its {result['audit']['score']['n']} audited "
                                 "rows with the training set (equal up to float rounding): held-out rows must be "
                                 "real rows the model never saw", heldout_path or "--heldout")
        passed, reason = check_audit(result["audit"]["score"].get("dcr") if result["audit"] else None)
        membership = result["audit"]["membership"] if result["audit"] else None
        result["privacy"] = {"passed": passed, "check": reason, "max_memorization_rate": MAX_MEMORIZATION,
                             "max_median_gap": MAX_MEDIAN_GAP, "memorization_passed": passed,
                             "membership_passed": membership["passed"] if membership else None}
        if membership and not membership["passed"]:
            passed = result["privacy"]["passed"] = False
            attacks = "membership inference, " + membership["check"].removeprefix("failed: ")
            reason = result["privacy"]["check"] = (f"{reason}; {attacks}" if not result["privacy"]["memorization_passed"]
                                                   else f"failed: {attacks} (memorization check {reason})")
        result["generated_seconds"] = round(time.perf_counter() - t0, 1)
        result = _public(result)
        (tmp / "audit.json").write_text(json.dumps(result, indent=2) + "\n")
        (tmp / "README.md").write_text(render_card(result, feats, card or {}))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(e):
            raise disk_full(e, out) from None
        raise
    uploaded = None
    if repo_id and not dry_run:
        if not passed and not allow_unsafe:
            raise SynthError(f"refusing to upload: the privacy check {reason}; the folder is written; "
                             "pass --allow-unsafe to upload anyway", out)
        stage(f"publish: uploading {out} to {repo_id}")
        uploaded = upload(out, repo_id, private=private, token=token)
    return {"out": str(out), "audit": result, "uploaded": uploaded, "passed": passed, "reason": reason}


def _public(result):
    """The audit with arrays and numpy scalars turned into JSON values."""
    return json.loads(json.dumps(result, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def upload(folder, repo_id, private=False, token=None):
    """Create (if needed) the dataset repository ``repo_id`` and upload ``folder``; returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                                   commit_message=f"synth publish ({__version__})")
    except Exception as e:  # HTTP, auth and network errors: one line
        raise SynthError(f"upload to {repo_id} failed ({type(e).__name__}: {str(e).strip().splitlines()[0][:200]})",
                         folder) from None
    return str(getattr(commit, "commit_url", commit))
