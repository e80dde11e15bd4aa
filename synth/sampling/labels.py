"""Labels of sampled rows and filtered ground truth, written beside the corpus in each format's convention.

A model with a label model (`synth fit --labels`) labels every row `synth sample` writes: row r's label is drawn
from the label model's class probabilities for the row as stored, with uniform r of the label stream
(:func:`synth.models.labels.label_uniforms`), so labels, like rows, do not depend on chunks, threads or shards.

With ``--filter-selectivity``, each target share picks a filter (a set of classes, by the training rows' class
shares: :func:`synth.models.labels.choose_filter`), and every query gets its exact top-k among the rows the filter
keeps.

Files (STEM = the corpus file without its extension):

- **labels**: ``.fbin``: ``STEM.labels.spmat``, big-ann-benchmarks' filtered-track metadata (a CSR matrix: int64
  rows, columns, non-zeros; int64 row pointers; int32 column ids; float32 values), one non-zero per row at its
  class; ``.npy`` / ``.fvecs``: ``STEM.labels.npy`` (int32 class ids); ``.h5``: dataset ``labels`` (int32) in the
  file; ``.parquet``: ``STEM.labels.parquet`` (``id``, ``labels``: class name); folder: ``scalar_labels.parquet``
  (``id``, ``labels``), VectorDBBench's scalar-label file. Always ``STEM.labels.json`` (folder: ``labels.json``):
  the class names in id order and the label model's fit figures.
- **filtered ground truth**: per filter, the unfiltered neighbours' file with ``.filter-S`` before its extension
  (folder: ``neighbors_labels_S.parquet``), S the target share; and ``STEM.filters.json`` (folder:
  ``filters.json``) listing each filter's classes, their ids, its realized share and its file.
"""

import json
from pathlib import Path

import numpy as np

from ..errors import SynthError
from ..io.arrays import unit_rows
from ..io.formats import atomic_path
from ..models.labels import choose_filter, label_uniforms


def label_model(gen):
    """The model's label model, or None."""
    return getattr(gen, "label_model_", None)


def row_labels(gen, rows, seed, start):
    """Class ids (int32) of rows ``start ..`` of a sample seeded by ``seed``, from the rows as stored."""
    rows = unit_rows(np.asarray(rows, np.float32))
    return label_model(gen).labels(rows, label_uniforms(seed, start, start + len(rows))).astype(np.int32)


def _stem(out):
    out = Path(out)
    return out.parent / out.stem


def label_files(out, shard=None):
    """Where the labels of corpus ``out`` go: ``{"labels": path, "classes": path}`` (``labels`` is ``out`` itself
    for .h5). A shard of several writes ``labels-part-III-of-NNN.npy`` beside (or inside) the corpus."""
    out = Path(out)
    ext = out.suffix.lower()
    if shard is not None and shard[1] > 1:
        name = f"labels-part-{shard[0]:03d}-of-{shard[1]:03d}.npy"
        return {"labels": out / name if not ext else Path(f"{out}.{name}"),
                "classes": out / "labels.json" if not ext else Path(f"{_stem(out)}.labels.json")}
    if not ext:
        return {"labels": out / "scalar_labels.parquet", "classes": out / "labels.json"}
    stem = _stem(out)
    labels = {".fbin": Path(f"{stem}.labels.spmat"), ".h5": out, ".hdf5": out,
              ".parquet": Path(f"{stem}.labels.parquet")}.get(ext, Path(f"{stem}.labels.npy"))
    return {"labels": labels, "classes": Path(f"{stem}.labels.json")}


def write_spmat(path, codes, n_classes):
    """big-ann-benchmarks' sparse metadata matrix: one non-zero (1.0) per row at its class."""
    n = len(codes)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(np.array([n, n_classes, n], np.int64).tobytes())
        f.write(np.arange(n + 1, dtype=np.int64).tobytes())
        f.write(np.asarray(codes, np.int32).tobytes())
        f.write(np.ones(n, np.float32).tobytes())


def read_spmat(path):
    """``(codes, n_classes)`` of a one-label-per-row .spmat (:func:`write_spmat`); refused otherwise."""
    with open(path, "rb") as f:
        nrow, ncol, nnz = (int(v) for v in np.fromfile(f, np.int64, 3))
        indptr = np.fromfile(f, np.int64, nrow + 1)
        codes = np.fromfile(f, np.int32, nnz)
    if nnz != nrow or not np.array_equal(indptr, np.arange(nrow + 1)):
        raise SynthError("not a one-label-per-row .spmat", path)
    return codes, ncol


def _write_table(path, columns):
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(pa.table(columns), tmp)


def write_labels(out, codes, lm, start=0, shard=None):
    """Write the class ids ``codes`` of rows ``start ..`` of corpus ``out`` (see the module's text); returns the
    paths."""
    paths = label_files(out, shard)
    codes = np.asarray(codes, np.int32)
    target, ext = paths["labels"], paths["labels"].suffix.lower()
    if shard is not None and shard[1] > 1 or ext == ".npy":
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.save(f, codes)
    elif ext == ".spmat":
        write_spmat(target, codes, len(lm.classes_))
    elif ext == ".parquet":
        _write_table(target, {"id": np.arange(start, start + len(codes), dtype=np.int64),
                              "labels": np.array(lm.classes_, dtype=object)[codes]})
    else:  # .h5: into a copy, renamed over the corpus when complete
        import shutil

        import h5py

        with atomic_path(target) as tmp:
            shutil.copyfile(target, tmp)
            with h5py.File(tmp, "a") as f:
                if "labels" in f:
                    del f["labels"]
                f.create_dataset("labels", data=codes)
                f.attrs["label_classes"] = json.dumps(list(lm.classes_))
    info = {"classes": list(lm.classes_), "rows": [int(start), int(start + len(codes))],
            "fit": getattr(lm, "fit_info_", None), "file": target.name}
    with atomic_path(paths["classes"]) as tmp:
        Path(tmp).write_text(json.dumps(info, indent=1) + "\n")
    return paths


def plan_filters(gen, selectivities):
    """Per target share, the filter of the model's label model: ``{name: {"target", "classes", "ids",
    "train_share"}}`` from the training rows' class shares stored at fit time."""
    lm = label_model(gen)
    if lm is None:
        raise SynthError("--filter-selectivity needs a model with a label model (synth fit --labels)",
                         getattr(gen, "path_", None))
    shares = (getattr(lm, "fit_info_", None) or {}).get("shares")
    if not shares:
        raise SynthError("the label model stores no class shares: fit it again with this synth",
                         getattr(gen, "path_", None))
    out = {}
    for s in selectivities:
        if not 0 < s <= 1:
            raise SynthError(f"a filter selectivity is a share in (0, 1], got {s}")
        classes, share = choose_filter(shares, s)
        out[f"{s:g}"] = {"target": s, "classes": classes, "ids": [lm.classes_.index(c) for c in classes],
                         "train_share": share}
    return out


class FilteredTopK:
    """Running exact top-k of fixed queries among the rows each filter keeps (one :class:`TopK` per filter)."""

    def __init__(self, queries, k, filters, metric="cosine"):
        from .groundtruth import TopK

        self.filters = filters
        self.tops = {name: TopK(queries, k, metric) for name in filters}

    def add(self, block, offset, codes):
        for name, f in self.filters.items():
            keep = np.flatnonzero(np.isin(codes, f["ids"]))
            if len(keep):
                self.tops[name].add(np.asarray(block)[keep], offset, row_ids=keep + offset)

    def result(self, rows):
        """Per filter: ``(ids, scores, share)``; ids -1 where fewer than k rows pass the filter."""
        return {name: (top.ids, top.scores, top.seen / max(rows, 1)) for name, top in self.tops.items()}


def filtered_truth_path(out, name):
    """Where filter ``name``'s ground truth goes, beside the unfiltered neighbours of ``out``."""
    from .stream import truth_paths

    out = Path(out)
    if not out.suffix:
        return out / f"neighbors_labels_{name}.parquet"
    p = truth_paths(out)["neighbors"]
    if p == out:  # .h5: a file of its own, in ann-benchmarks' layout (test, neighbors, distances)
        return Path(f"{_stem(out)}.filter-{name}.h5")
    return p.with_name(f"{p.stem}.filter-{name}{p.suffix}")


def write_filtered_truth(out, queries, results, filters, dtype=np.float32, metric="cosine"):
    """Each filter's ground truth in the corpus format's neighbours convention (.h5: a file of its own with
    ``test``, ``neighbors`` and ``distances``), and the filters' JSON; returns the JSON's path."""
    from .stream import _add_h5_truth, write_neighbors

    out = Path(out)
    ext = out.suffix.lower()
    listing = {}
    for name, (ids, scores, share) in results.items():
        path = filtered_truth_path(out, name)
        if ext in (".h5", ".hdf5"):
            with atomic_path(path) as tmp:
                _add_h5_truth(tmp, queries, ids, scores, dtype, metric)
        else:
            write_neighbors(path, ext, ids, scores, metric)
        listing[name] = {**filters[name], "share": share, "file": path.name}
    meta = out / "filters.json" if not ext else Path(f"{_stem(out)}.filters.json")
    with atomic_path(meta) as tmp:
        Path(tmp).write_text(json.dumps(listing, indent=1) + "\n")
    return meta
