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
- **per-query filter** (``query`` among the shares): each query draws a label of its own from the label model,
  as rows do (from the query seed's label stream), and its ground truth is its top-k among the rows of that class
  (``.filter-query``): big-ann-benchmarks' filtered track, whose query metadata is ``STEM.queries.labels.spmat``
  for .fbin (dataset ``test_labels`` in .h5, ``test_labels.npy`` in a folder, ``STEM.queries.labels.npy``
  otherwise).

From a model with a tag model (`synth fit --labels FILE --multi-label`, :mod:`synth.models.tags`) every row gets a set
of tags (a scipy CSR matrix of bool, rows x tags), written as big-ann-benchmarks' ``.spmat`` with one non-zero per
tag a row carries (``STEM.labels.spmat`` for .fbin, .npy and .fvecs), or a list column ``labels`` of tag names
(``STEM.labels.parquet``; a folder's ``scalar_labels.parquet``); not into .h5, not in shards of several and not on
Dask (refused before anything is written: :func:`check_tag_output`). A filter of share S keeps the rows carrying
the one tag whose training share is nearest S; the per-query filter gives each query one or two tags
(:func:`query_tags`) and keeps the rows carrying all of them, as big-ann's filtered track does; the queries' tags
go to ``STEM.queries.labels.spmat`` (a folder: ``test_labels.parquet``).
"""

import json
import math
from pathlib import Path

import numpy as np

from ..errors import SynthError
from ..io.arrays import unit_rows
from ..io.formats import atomic_path
from ..models.labels import choose_filter, label_uniforms


def label_model(gen):
    """The model's label model, or None."""
    return getattr(gen, "label_model_", None)


def is_tagged(lm):
    """Whether label model ``lm`` gives rows several labels (a :class:`synth.models.tags.TagModel`)."""
    return bool(getattr(lm, "multi_label", False))


def row_labels(gen, rows, seed, start):
    """Class ids (int32) of rows ``start ..`` of a sample seeded by ``seed``, from the rows as stored; from a tag
    model, the rows' tags as a scipy CSR matrix of bool (rows x tags)."""
    rows = unit_rows(np.asarray(rows, np.float32))
    lm = label_model(gen)
    if is_tagged(lm):
        from scipy.sparse import csr_matrix

        from ..models.tags import tag_uniforms

        return csr_matrix(lm.tags(rows, tag_uniforms(seed, start, start + len(rows), len(lm.classes_))))
    return lm.labels(rows, label_uniforms(seed, start, start + len(rows))).astype(np.int32)


def check_tag_output(tagged, out, shard=None, dask=False):
    """Refuse, before anything is written, a ``tagged`` sample (from a model with a tag model) into .h5, in a shard
    of several or on Dask: tag sets are written for .fbin, .npy, .fvecs, .parquet and folders, in one run."""
    if not tagged:
        return
    if Path(out).suffix.lower() in (".h5", ".hdf5"):
        raise SynthError("tags (several labels per row) are not written into .h5: sample to .fbin (big-ann's .spmat "
                         "metadata), .npy, .parquet or a folder", out)
    if dask or shard is not None and shard[1] > 1:
        raise SynthError("tags (several labels per row) are written in one run: not in a shard of several, not on "
                         "Dask", out)


def _stem(out):
    out = Path(out)
    return out.parent / out.stem


def part_files(out, what, shard):
    """A shard's part file ``WHAT-part-III-of-NNN.npy`` beside (or inside) corpus ``out``, and the corpus's
    ``STEM.WHAT.json`` (folder: ``WHAT.json``)."""
    out = Path(out)
    name = f"{what}-part-{shard[0]:03d}-of-{shard[1]:03d}.npy"
    if not out.suffix:
        return out / name, out / f"{what}.json"
    return Path(f"{out}.{name}"), Path(f"{_stem(out)}.{what}.json")


def join_parts(parts, n, out, what):
    """The arrays of a run's part files, joined in order and checked to cover ``n`` rows; the files are removed."""
    joined = np.concatenate([np.load(p) for p in parts])
    if len(joined) != n:
        raise SynthError(f"the tasks' {what} cover {len(joined):,} rows of {n:,}", out)
    for p in parts:
        p.unlink()
    return joined


def label_files(out, shard=None, tagged=False):
    """Where the labels of corpus ``out`` go: ``{"labels": path, "classes": path}`` (``labels`` is ``out`` itself
    for .h5). A shard of several writes ``labels-part-III-of-NNN.npy`` beside (or inside) the corpus. ``tagged``:
    a tag model's tag sets (``STEM.labels.spmat`` where one label per row goes to ``.npy``)."""
    out = Path(out)
    ext = out.suffix.lower()
    if shard is not None and shard[1] > 1:
        part, meta = part_files(out, "labels", shard)
        return {"labels": part, "classes": meta}
    if not ext:
        return {"labels": out / "scalar_labels.parquet", "classes": out / "labels.json"}
    stem = _stem(out)
    labels = {".fbin": Path(f"{stem}.labels.spmat"), ".h5": out, ".hdf5": out,
              ".parquet": Path(f"{stem}.labels.parquet")}.get(ext, Path(f"{stem}.labels.{'spmat' if tagged else 'npy'}"))
    return {"labels": labels, "classes": Path(f"{stem}.labels.json")}


def write_spmat(path, codes, n_classes):
    """big-ann-benchmarks' sparse metadata matrix: one non-zero (1.0) per row at its class; ``codes`` a scipy sparse
    matrix (rows x classes): one non-zero per class a row carries."""
    if hasattr(codes, "tocsr"):
        m = codes.tocsr()
        m.sort_indices()
        indptr, indices = m.indptr, m.indices
    else:
        indptr, indices = np.arange(len(codes) + 1), codes
    n, nnz = len(indptr) - 1, len(indices)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(np.array([n, n_classes, nnz], np.int64).tobytes())
        f.write(np.asarray(indptr, np.int64).tobytes())
        f.write(np.asarray(indices, np.int32).tobytes())
        f.write(np.ones(nnz, np.float32).tobytes())


def tag_names(codes, names):
    """Each row's tag names (a list of str per row) of a scipy sparse matrix ``codes`` (rows x tags)."""
    m = codes.tocsr()
    m.sort_indices()
    names = np.array(names, dtype=object)
    return [names[m.indices[m.indptr[i]:m.indptr[i + 1]]].tolist() for i in range(m.shape[0])]


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
    tagged = is_tagged(lm)
    paths = label_files(out, shard, tagged)
    codes = codes if tagged else np.asarray(codes, np.int32)
    target, ext = paths["labels"], paths["labels"].suffix.lower()
    if tagged and ext == ".parquet":  # a list column of tag names
        _write_table(target, {"id": np.arange(start, start + codes.shape[0], dtype=np.int64),
                              "labels": tag_names(codes, lm.classes_)})
    elif shard is not None and shard[1] > 1 or ext == ".npy":
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.save(f, codes)
    elif ext == ".spmat":
        write_spmat(target, codes, len(lm.classes_))
    elif ext == ".parquet":
        _write_table(target, {"id": np.arange(start, start + len(codes), dtype=np.int64),
                              "labels": np.array(lm.classes_, dtype=object)[codes]})
    else:
        _h5_dataset(target, "labels", codes, label_classes=json.dumps(list(lm.classes_)))
    info = {"classes": list(lm.classes_), "rows": [int(start), int(start + codes.shape[0])],
            "fit": getattr(lm, "fit_info_", None), "file": target.name}
    if tagged:
        info["tags_per_row"] = True
    with atomic_path(paths["classes"]) as tmp:
        Path(tmp).write_text(json.dumps(info, indent=1) + "\n")
    return paths


PER_QUERY = "query"  # the filter by each query's own label (big-ann-benchmarks' filtered track: query metadata)


def plan_filters(gen, selectivities):
    """Per target share, the filter of the model's label model: ``{name: {"target", "classes", "ids",
    "train_share"}}`` from the training rows' class shares stored at fit time; the entry :data:`PER_QUERY` (the
    string "query" among the shares) is the filter by each query's own label (its train_share: the expected share
    a query's filter keeps, the sum of squared class shares)."""
    lm = label_model(gen)
    if lm is None:
        raise SynthError("--filter-selectivity needs a model with a label model (synth fit --labels)",
                         getattr(gen, "path_", None))
    shares = (getattr(lm, "fit_info_", None) or {}).get("shares")
    if not shares:
        raise SynthError("the label model stores no class shares: fit it again with this synth",
                         getattr(gen, "path_", None))
    out, tagged = {}, is_tagged(lm)
    for s in selectivities:
        if s == PER_QUERY:
            # tags: the share kept by one tag picked in proportion to its share (two tags keep fewer)
            share = sum(v * v for v in shares.values()) / (sum(shares.values()) if tagged else 1.0)
            out[PER_QUERY] = {"target": PER_QUERY, "ids": None, "train_share": float(share),
                              "classes": "each query's one or two tags" if tagged else "each query's own label"}
            continue
        if not 0 < s <= 1:
            raise SynthError(f"a filter selectivity is a share in (0, 1], got {s}")
        if tagged:  # the rows carrying the one tag whose training share is nearest s on a log scale
            tag = min(shares, key=lambda c: (abs(math.log(shares[c] / s)), c))
            classes, share = [tag], shares[tag]
        else:
            classes, share = choose_filter(shares, s)
        out[f"{s:g}"] = {"target": s, "classes": classes, "ids": [lm.classes_.index(c) for c in classes],
                         "train_share": share}
    return out


class FilteredTopK:
    """Running exact top-k of fixed queries among the rows each filter keeps (one :class:`TopK` per filter: a label
    filter's classes or a range filter's range; the per-query filter :data:`PER_QUERY`, where each query keeps the
    rows of its own class ``query_codes``, one per class among the queries; a range-per-query filter, whose entry
    carries ``query_ranges`` (one ``[lo, hi]`` per query: :func:`synth.sampling.attributes.plan_ranges`), one per
    query)."""

    def __init__(self, queries, k, filters, metric="cosine", query_codes=None):
        from .groundtruth import TopK

        self.filters, self.k = filters, k
        own = {name: np.asarray(f["query_ranges"], np.float64) for name, f in filters.items()
               if isinstance(f, dict) and f.get("query_ranges") is not None}
        for name, qr in own.items():
            if qr.shape != (len(queries), 2):
                raise SynthError(f"filter {name}: {qr.shape[0]:,} query ranges for {len(queries):,} queries")
        # a range per query: one running top-k per query, with its range
        self.own = {name: [(TopK(np.asarray(queries)[i:i + 1], k, metric), qr[i]) for i in range(len(qr))]
                    for name, qr in own.items()}
        self.tops = {name: TopK(queries, k, metric) for name in filters if name != PER_QUERY and name not in own}
        self.per_query = {}
        if PER_QUERY in filters:
            if query_codes is None:
                raise SynthError("the per-query filter needs the queries' labels")
            if isinstance(query_codes, list):  # tags: a tuple of tag ids per query, grouped by tuple
                self.query_codes, groups = query_codes, {}
                for q, c in enumerate(query_codes):
                    groups.setdefault(c, []).append(q)
                self.groups = {c: np.array(idx) for c, idx in groups.items()}
            else:
                self.query_codes = np.asarray(query_codes)
                self.groups = {int(c): np.flatnonzero(self.query_codes == c) for c in np.unique(self.query_codes)}
            self.per_query = {c: TopK(np.asarray(queries)[idx], k, metric) for c, idx in self.groups.items()}
        # every running top-k with what its rows must carry: the classes of a label filter or a query's class, or
        # the range of a range filter (synth.sampling.attributes.plan_ranges) that the rows' values must lie in
        self.units = [(top, filters[name].get("ids"), filters[name].get("range")) for name, top in self.tops.items()]
        self.units += [(top, list(c) if isinstance(c, tuple) else [c], None) for c, top in self.per_query.items()]

    def add(self, block, offset, codes, values=None):
        """Rows ``block`` (rows ``offset ..``) with their class ids ``codes`` (tags: a scipy sparse matrix, rows x
        tags, and a row is kept when it carries all of a filter's tags) and attribute ``values`` (each None when no
        filter reads it)."""
        posting = None
        if hasattr(codes, "tocsc"):  # each tag's rows, for the intersections
            cols = codes.tocsc()
            cols.sort_indices()
            posting = lambda t: cols.indices[cols.indptr[t]:cols.indptr[t + 1]]  # noqa: E731
        for top, ids, rng in self.units:
            if rng is not None:
                keep = np.flatnonzero((values >= rng[0]) & (values <= rng[1]))
            elif posting is not None:
                keep = posting(ids[0])
                for t in ids[1:]:
                    keep = np.intersect1d(keep, posting(t), assume_unique=True)
            else:
                keep = np.flatnonzero(np.isin(codes, ids))
            if len(keep):
                top.add(np.asarray(block)[keep], offset, row_ids=keep + offset)
        for tops in self.own.values():
            for top, (lo, hi) in tops:
                keep = np.flatnonzero((values >= lo) & (values <= hi))
                if len(keep):
                    top.add(np.asarray(block)[keep], offset, row_ids=keep + offset)

    def result(self, rows):
        """Per filter: ``(ids, scores, share)``; ids -1 where fewer than k rows pass the filter; the per-query
        filter's share is the mean over queries of the share of rows their filter keeps."""
        out = {name: (top.ids, top.scores, top.seen / max(rows, 1)) for name, top in self.tops.items()}
        if PER_QUERY in self.filters:
            nq = len(self.query_codes)
            ids, scores = np.full((nq, self.k), -1, np.int64), np.full((nq, self.k), -np.inf, np.float32)
            kept = 0.0
            for c, top in self.per_query.items():
                idx = self.groups[c]
                ids[idx], scores[idx] = top.ids, top.scores
                kept += len(idx) * top.seen
            out[PER_QUERY] = (ids, scores, kept / max(nq * rows, 1))
        for name, tops in self.own.items():
            ids = np.concatenate([top.ids for top, _ in tops]) if tops else np.full((0, self.k), -1, np.int64)
            scores = np.concatenate([top.scores for top, _ in tops]) if tops else np.full((0, self.k), -np.inf,
                                                                                          np.float32)
            out[name] = (ids, scores, float(np.mean([top.seen for top, _ in tops])) / max(rows, 1) if tops else 0.0)
        return {name: out[name] for name in self.filters}


def write_label_outputs(out, info, lm, filters=None, dtype=np.float32, metric="cosine", shard=None):
    """Everything label-related a sample run (:func:`synth.sampling.stream.sample_to_file`'s ``info``) leaves
    beside corpus ``out``: its rows' labels (``info["labels"]``), each filter's ground truth and the filters' JSON
    (``info["filtered"]``, with ``filters`` from :func:`plan_filters`), and the per-query filter's query labels
    (``info["query_labels"]``). Returns the paths written: ``labels`` (of :func:`write_labels`), ``filters`` (the
    JSON) and ``query_labels``, each None when not written."""
    out_paths = {"labels": None, "filters": None, "query_labels": None}
    if "labels" in info:
        out_paths["labels"] = write_labels(out, info["labels"], lm, info["start"], shard)
    if "filtered" in info:
        out_paths["filters"] = write_filtered_truth(out, info["queries"], info["filtered"], filters, dtype=dtype,
                                                    metric=metric)
    if "query_labels" in info:
        out_paths["query_labels"] = write_query_labels(out, info["query_labels"], lm)
    return out_paths


def query_labels(gen, queries, seed):
    """The queries' own labels for the per-query filter: drawn from the label model at each query as rows' are, from
    the label stream of the query seed (so the same queries always get the same labels); from a tag model, a tuple
    of one or two tag ids per query (:meth:`synth.models.tags.TagModel.query_tags`)."""
    from .stream import query_seed

    lm = label_model(gen)
    if is_tagged(lm):
        from ..models.labels import label_uniforms
        from ..models.tags import TAG_BLOCK, TAG_STREAM

        u = label_uniforms(query_seed(seed), 0, len(queries), stream=TAG_STREAM, block=TAG_BLOCK,
                           width=len(lm.classes_) + 1)
        return lm.query_tags(unit_rows(np.asarray(queries, np.float32)), u)
    return row_labels(gen, queries, query_seed(seed), 0)


def query_label_path(out, tagged=False):
    """Where the queries' labels go: big-ann-benchmarks' query metadata ``STEM.queries.labels.spmat`` for .fbin,
    dataset ``test_labels`` in .h5, ``test_labels.npy`` in a folder, ``STEM.queries.labels.npy`` otherwise;
    ``tagged`` (a query's one or two tags): ``test_labels.parquet`` in a folder, ``STEM.queries.labels.spmat``
    otherwise."""
    out = Path(out)
    ext = out.suffix.lower()
    if not ext:
        return out / f"test_labels.{'parquet' if tagged else 'npy'}"
    if ext in (".h5", ".hdf5"):
        return out
    return Path(f"{_stem(out)}.queries.labels.{'spmat' if ext == '.fbin' or tagged else 'npy'}")


def write_query_labels(out, codes, lm):
    """Write the queries' labels (:func:`query_label_path`); returns the path."""
    tagged = is_tagged(lm)
    path = query_label_path(out, tagged)
    if tagged:
        from scipy.sparse import csr_matrix

        indptr = np.concatenate([[0], np.cumsum([len(c) for c in codes])])
        m = csr_matrix((np.ones(indptr[-1], bool), np.concatenate([list(c) for c in codes]).astype(np.int32),
                        indptr), shape=(len(codes), len(lm.classes_)))
        if path.suffix == ".parquet":
            _write_table(path, {"id": np.arange(len(codes), dtype=np.int64), "labels": tag_names(m, lm.classes_)})
        else:
            write_spmat(path, m, len(lm.classes_))
        return path
    codes = np.asarray(codes, np.int32)
    if path.suffix == ".spmat":
        write_spmat(path, codes, len(lm.classes_))
    elif path.suffix == ".npy":
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, codes)
    else:
        _h5_dataset(path, "test_labels", codes)
    return path


def _h5_dataset(path, name, data, **attrs):
    """Put dataset ``name`` (replacing one of that name) and file attributes into the .h5 file ``path``: into a copy,
    renamed over the file when complete."""
    import shutil

    import h5py

    with atomic_path(path) as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "a") as f:
            if name in f:
                del f[name]
            f.create_dataset(name, data=data)
            f.attrs.update(attrs)


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
    ``test``, ``neighbors`` and ``distances``), a range-per-query filter's query ranges
    (:func:`synth.sampling.attributes.write_query_ranges`, listed as ``query_ranges``), and the filters' JSON;
    returns the JSON's path."""
    from .attributes import write_query_ranges
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
        if listing[name].get("query_ranges") is not None:
            listing[name]["query_ranges"] = write_query_ranges(out, name, filters[name]["query_ranges"])
    meta = out / "filters.json" if not ext else Path(f"{_stem(out)}.filters.json")
    with atomic_path(meta) as tmp:
        Path(tmp).write_text(json.dumps(listing, indent=1) + "\n")
    return meta
