"""A numeric attribute of sampled rows and range-filtered ground truth, written beside the corpus.

A model with an attribute model (`synth fit --attribute`) gives every row `synth sample` writes a value: row r's
value comes from the attribute model at the row as stored, with normal r of the attribute stream
(:func:`synth.models.attributes.attribute_normals`), so values, like rows, do not depend on chunks or threads.

With ``--range-selectivity``, each target share picks a range ``[lo, hi]`` of the attribute
(:func:`synth.models.attributes.choose_range`, from the training rows' quantile table) and every query gets its
exact top-k among the rows whose value lies in it (a filter named ``range-S``, written as the label filters are:
:mod:`synth.sampling.labels`). With ``query`` among the shares, each share S also gives a filter ``range-query-S``
where every query has a range of its own holding about S of the training rows (:func:`query_ranges`: a window of
the quantile table at a uniform place, from a stream keyed by the seed), and its ground truth is its top-k among the
rows in its range; the queries' ranges are written beside the queries (:func:`query_ranges_path`).

Files (STEM = the corpus file without its extension): ``.h5``: dataset ``attribute`` in the file (its name in the
dataset's ``name`` attribute); ``.parquet``: ``STEM.attribute.parquet`` (``id`` and a column named after the
attribute); folder: ``scalar_attribute.parquet`` (the same columns, beside VectorDBBench's ``train.parquet``);
otherwise ``STEM.attribute.npy`` (float64); a shard of several (``--shard i/N``) its rows' part file
``attribute-part-III-of-NNN.npy``, which a Dask run joins. Always ``STEM.attribute.json`` (folder: ``attribute.json``): the
attribute's name, whether it is whole numbers, the rows written and the attribute model's fit figures.
"""

import json
from pathlib import Path

import numpy as np

from ..errors import SynthError
from ..io.arrays import unit_rows
from ..io.formats import atomic_path
from ..models.attributes import attribute_normals

RANGE = "range-"  # prefix of a range filter's name: range-0.01
PER_QUERY_RANGE = "range-query-"  # prefix of a range-per-query filter's name: range-query-0.01


def attribute_model(gen):
    """The model's attribute model, or None."""
    return getattr(gen, "attribute_model_", None)


def row_values(gen, rows, seed, start):
    """Attribute values (float64) of rows ``start ..`` of a sample seeded by ``seed``, from the rows as stored."""
    rows = unit_rows(np.asarray(rows, np.float32))
    return attribute_model(gen).values(rows, attribute_normals(seed, start, start + len(rows)))


def attribute_files(out, shard=None):
    """Where the values of corpus ``out`` go: ``{"values": path, "info": path}`` (``values`` is ``out`` for .h5).
    A shard of several writes ``attribute-part-III-of-NNN.npy`` beside (or inside) the corpus."""
    out = Path(out)
    ext = out.suffix.lower()
    if shard is not None and shard[1] > 1:
        from .labels import part_files

        part, meta = part_files(out, "attribute", shard)
        return {"values": part, "info": meta}
    if not ext:
        return {"values": out / "scalar_attribute.parquet", "info": out / "attribute.json"}
    stem = out.parent / out.stem
    values = {".h5": out, ".hdf5": out, ".parquet": Path(f"{stem}.attribute.parquet")}.get(
        ext, Path(f"{stem}.attribute.npy"))
    return {"values": values, "info": Path(f"{stem}.attribute.json")}


def write_attribute(out, values, am, start=0, shard=None):
    """Write the values of rows ``start ..`` of corpus ``out`` (see the module's text; a shard of several: its part
    file); returns the paths."""
    from .labels import _h5_dataset, _write_table

    paths = attribute_files(out, shard)
    target, ext = paths["values"], paths["values"].suffix.lower()
    values = np.asarray(values, np.float64)
    if ext == ".npy":
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.save(f, values)
    elif ext == ".parquet":
        _write_table(target, {"id": np.arange(start, start + len(values), dtype=np.int64), am.name: values})
    else:
        _h5_dataset(target, "attribute", values, attribute_name=am.name)
    info = {"name": am.name, "integer": bool(am.integer_), "rows": [int(start), int(start + len(values))],
            "fit": getattr(am, "fit_info_", None), "file": target.name}
    with atomic_path(paths["info"]) as tmp:
        Path(tmp).write_text(json.dumps(info, indent=1) + "\n")
    return paths


def plan_ranges(gen, selectivities, seed=0, n_queries=0):
    """Per target share, the range filter of the model's attribute model: ``{"range-S": {"target", "attribute",
    "range": [lo, hi], "train_share"}}``; with the string "query" among the shares, per share also
    ``{"range-query-S": {..., "range": "each query's own", "query_ranges": ndarray (n_queries, 2)}}``, the ranges of
    the first ``n_queries`` queries of a sample seeded by ``seed`` (:func:`query_ranges`; ``train_share`` their
    mean)."""
    from .labels import PER_QUERY

    am = attribute_model(gen)
    if am is None:
        raise SynthError("--range-selectivity needs a model with an attribute model (synth fit --attribute)",
                         getattr(gen, "path_", None))
    shares = [s for s in selectivities if s != PER_QUERY]
    for s in shares:
        if isinstance(s, str) or not 0 < s <= 1:
            raise SynthError(f"a range selectivity is a share in (0, 1] or 'query', got {s!r}")
    if PER_QUERY in selectivities and not shares:
        raise SynthError("a range per query needs the shares it holds: --range-selectivity S,...,query",
                         getattr(gen, "path_", None))
    out = {}
    for s in shares:
        lo, hi = am.range(s)
        out[f"{RANGE}{s:g}"] = {"target": s, "attribute": am.name, "range": [lo, hi],
                                "train_share": am.train_share(lo, hi)}
    if PER_QUERY in selectivities:
        for s in shares:
            qr = query_ranges(gen, seed, n_queries, s)
            out[f"{PER_QUERY_RANGE}{s:g}"] = {
                "target": s, "attribute": am.name, "range": "each query's own", "query_ranges": qr,
                "train_share": float(np.mean([am.train_share(lo, hi) for lo, hi in qr])) if len(qr) else 0.0}
    return out


def query_ranges(gen, seed, n_queries, target):
    """The own ranges of the first ``n_queries`` queries of a sample seeded by ``seed``, each holding about
    ``target`` of the training values (:meth:`synth.models.attributes.AttributeModel.windows`), placed by the
    uniforms of the query seed's own stream: ndarray of shape (n_queries, 2), float64 (lo, hi). A query keeps its
    uniform for every share, so its windows of different shares start at the same relative place."""
    from ..models.attributes import QUERY_RANGE_STREAM
    from ..models.labels import label_uniforms
    from .stream import query_seed

    return attribute_model(gen).windows(label_uniforms(query_seed(seed), 0, n_queries, QUERY_RANGE_STREAM), target)


def query_ranges_path(out, name):
    """Where the queries' own ranges of filter ``name`` go: ``(path, dataset)``; a folder: ``test_NAME.parquet``
    (``id``, ``lo``, ``hi``), .parquet: ``STEM.queries.NAME.parquet`` (the same), .h5: dataset ``test_NAME`` in the
    corpus file (n_queries x 2), otherwise ``STEM.queries.NAME.npy`` (n_queries x 2, float64); dataset None but
    for .h5."""
    out = Path(out)
    ext = out.suffix.lower()
    if not ext:
        return out / f"test_{name}.parquet", None
    if ext in (".h5", ".hdf5"):
        return out, f"test_{name}"
    return Path(f"{out.parent / out.stem}.queries.{name}.{'parquet' if ext == '.parquet' else 'npy'}"), None


def write_query_ranges(out, name, ranges):
    """Write the queries' own ranges of filter ``name`` (:func:`query_ranges_path`); returns the file's name as
    listed in the filters' JSON (.h5: ``FILE:DATASET``)."""
    from .labels import _h5_dataset, _write_table

    path, dataset = query_ranges_path(out, name)
    ranges = np.asarray(ranges, np.float64)
    if dataset is not None:
        _h5_dataset(path, dataset, ranges)
        return f"{path.name}:{dataset}"
    if path.suffix == ".parquet":
        _write_table(path, {"id": np.arange(len(ranges), dtype=np.int64), "lo": ranges[:, 0], "hi": ranges[:, 1]})
    else:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, ranges)
    return path.name


def merge_attribute(out, n, count, am):
    """The tasks' attribute part files joined into the corpus's file (:func:`write_attribute`), then removed;
    returns the paths written."""
    from .labels import join_parts

    values = join_parts([attribute_files(out, (i, count))["values"] for i in range(count)], n, out, "attribute values")
    return write_attribute(out, values, am, 0, None)
