"""A numeric attribute of sampled rows and range-filtered ground truth, written beside the corpus.

A model with an attribute model (`synth fit --attribute`) gives every row `synth sample` writes a value: row r's
value comes from the attribute model at the row as stored, with normal r of the attribute stream
(:func:`synth.models.attributes.attribute_normals`), so values, like rows, do not depend on chunks or threads.

With ``--range-selectivity``, each target share picks a range ``[lo, hi]`` of the attribute
(:func:`synth.models.attributes.choose_range`, from the training rows' quantile table) and every query gets its
exact top-k among the rows whose value lies in it (a filter named ``range-S``, written as the label filters are:
:mod:`synth.sampling.labels`).

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


def plan_ranges(gen, selectivities):
    """Per target share, the range filter of the model's attribute model: ``{"range-S": {"target", "attribute",
    "range": [lo, hi], "train_share"}}``."""
    am = attribute_model(gen)
    if am is None:
        raise SynthError("--range-selectivity needs a model with an attribute model (synth fit --attribute)",
                         getattr(gen, "path_", None))
    out = {}
    for s in selectivities:
        if not 0 < s <= 1:
            raise SynthError(f"a range selectivity is a share in (0, 1], got {s}")
        lo, hi = am.range(s)
        out[f"{RANGE}{s:g}"] = {"target": s, "attribute": am.name, "range": [lo, hi],
                                "train_share": am.train_share(lo, hi)}
    return out


def merge_attribute(out, n, count, am):
    """The tasks' attribute part files joined into the corpus's file (:func:`write_attribute`), then removed;
    returns the paths written."""
    from .labels import join_parts

    values = join_parts([attribute_files(out, (i, count))["values"] for i in range(count)], n, out, "attribute values")
    return write_attribute(out, values, am, 0, None)
