"""Streaming samples to disk: shards, chunks, threads, resumable atomic writes, queries and exact ground truth.

Row r of a corpus depends only on (seed, r): rows are generated in blocks of ``BLOCK_ROWS`` whose generators
derive from ``SeedSequence(seed, spawn_key=(block,))``. So the bytes written do not depend on the chunk size,
the thread count or the shard split: shard i of N is rows ``[i*n//N, (i+1)*n//N)`` of the whole.

Writes never leave a file that looks complete but is not. The fixed-row formats (.npy, .fbin, .fvecs) are
written to ``.NAME.partial`` beside the output, with a ``.NAME.partial.json`` describing the run and a
``.NAME.partial.sums`` holding a CRC-32 checksum of each completed block of ``CHECK_ROWS`` rows. A rerun with
the same parameters verifies the blocks on disk, keeps those up to the first missing or damaged one, regenerates
from there and renames the file into place at the end, so a run killed at any point (or a partial file damaged
on disk) and rerun yields the same bytes as an uninterrupted one. A folder output is a VectorDBBench corpus
(``train.parquet``, or ``train-00-of-N.parquet`` ... for N files, each renamed into place when complete); a rerun
keeps the finished files (and renames those of a folder written with the old ``train-00-of-0N.parquet`` names).
Single .h5 and .parquet files are atomic but restart from scratch.

One process writes an output at a time (:func:`synth.io.formats.output_lock`: a file output, or a whole folder, and
each parquet file of a folder); the free disk space is checked against the size of what is left to write
before anything is written; a full disk ends in a one-line error that leaves no temporary behind.
"""

import concurrent.futures
import contextlib
import glob
import hashlib
import json
import os
import shutil
import zlib
from fnmatch import fnmatch
from pathlib import Path

import numpy as np

from ..errors import SynthError
from ..io.arrays import unit_rows
from ..io.formats import (
    atomic_path,
    check_free_space,
    disk_full_error,
    open_writer,
    output_lock,
    remove_path,
    remove_stale_temporaries,
    temporary_writer,
    write_json,
)
from ..metrics.hardness import REFERENCE_ROWS, candidate_count, check_rankable, parse_band, select_band
from ..models.base import BLOCK_ROWS, block_rng, check_seed, one_blas_thread
from .groundtruth import TopK, merge_topk

RAW_FORMATS = (".npy", ".fbin", ".fvecs")
MANIFEST = ".synth-sample.json"
ROWS_PER_FILE = 1_000_000
INT32_MAX = 2**31 - 1
ROW_GROUP_BYTES = 32 << 20  # parquet row groups of about this size  # VectorDBBench shards hold about this many rows when no --shard split is given
CHECK_ROWS = BLOCK_ROWS  # rows per checksummed block of a resumable partial file: at most this many regenerated


# --------------------------------------------------------------------------------------------- rows
def shard_range(n, index, count):
    """Rows ``[start, stop)`` of shard ``index`` of ``count``: ``start = index * n // count``."""
    if not (count >= 1 and 0 <= index < count):
        raise SynthError(f"shard {index}/{count}: need 0 <= i < N")
    return index * n // count, (index + 1) * n // count


def parse_shard(text):
    """``"i/N"`` -> (i, N)."""
    try:
        i, count = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise SynthError(f"--shard must look like i/N (e.g. 0/8), got {text!r}") from None
    shard_range(0, i, count)
    return i, count


def query_seed(seed):
    """Seed of the query stream: its own stream, derived from the corpus seed, disjoint from the base's."""
    state = np.random.SeedSequence(check_seed(seed), spawn_key=(2**32 + 1,)).generate_state(2, np.uint32)
    return int(state[0]) << 32 | int(state[1])


def model_id(gen):
    """sha256 over a fitted model's arrays: a resumed file must come from the same model."""
    h = hashlib.sha256(type(gen).__name__.encode())
    for name, a in sorted(gen._arrays().items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def iter_rows(gen, seed, start, stop, chunk_size=65536, threads=1):
    """Yield rows ``start .. stop-1`` of the stream seeded by ``seed`` in chunks of ``chunk_size``.

    Blocks are independent, so ``threads`` > 1 generates several at once (numpy's generators and BLAS release
    the GIL); the values are the same for any thread count and chunk size.

    Yields
    ------
    chunk : ndarray of shape (m, n_features), float32
    """
    gen._check_fitted()
    seed = check_seed(seed)
    chunk_size, threads = max(1, int(chunk_size)), max(1, int(threads))
    if hasattr(gen, "_factors"):
        gen._factors()  # fill the model's cache before threads race to do it
    first, last = start // BLOCK_ROWS, -(-stop // BLOCK_ROWS)

    def block(b):
        with one_blas_thread():
            rows = gen.sample_block(BLOCK_ROWS, block_rng(seed, b))
        return rows[max(start - b * BLOCK_ROWS, 0):min(stop - b * BLOCK_ROWS, BLOCK_ROWS)]

    limit = None
    if threads == 1:
        blocks = map(block, range(first, last))
    else:
        # held for the whole run so that the threads' own limits restore 1, never the caller's count
        limit = one_blas_thread()
        limit.__enter__()
        blocks = _ordered_map(block, range(first, last), threads)
    shape = (chunk_size, gen.n_features_)
    out, have = np.empty(shape, np.float32), 0
    try:
        for rows in blocks:
            while len(rows):
                take = min(chunk_size - have, len(rows))
                out[have:have + take] = rows[:take]
                rows, have = rows[take:], have + take
                if have == chunk_size:
                    yield out
                    out = None  # a consumer that let go of the last chunk keeps one chunk alive, not two
                    out, have = np.empty(shape, np.float32), 0
        if have:
            yield out[:have]
    finally:
        if limit is not None:
            limit.__exit__(None, None, None)


def _ordered_map(fn, items, threads):
    """``map`` on a thread pool, in order, with at most ``2 * threads`` results pending (bounded memory)."""
    items = iter(items)
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        pending = []
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * threads:
                yield pending.pop(0).result()
        for f in pending:
            yield f.result()


# --------------------------------------------------------------------------------------------- raw formats
def _raw_header(ext, n, d, dtype):
    if ext == ".fbin":
        return np.array([n, d], dtype=np.uint32).tobytes()
    if ext == ".npy":
        import io

        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                   "fortran_order": False, "shape": (n, d)})
        return buf.getvalue()
    return b""


def _raw_rows(ext, rows, dtype):
    rows = np.ascontiguousarray(rows, dtype=dtype)
    if ext != ".fvecs":
        return memoryview(rows).cast("B")  # no copy: a chunk can be hundreds of MB
    out = np.empty((len(rows), rows.shape[1] + 1), np.float32)
    out[:, 0] = np.array([rows.shape[1]], np.int32).view(np.float32)[0]
    out[:, 1:] = rows
    return out.tobytes()


def _row_bytes(ext, d, dtype):
    return (d + 1) * 4 if ext == ".fvecs" else d * np.dtype(dtype).itemsize


def _stored_rows(path, ext, header, d, dtype, count, block_rows):
    """Read back the first ``count`` rows of a raw file in blocks (to rebuild ground truth on resume)."""
    if not count:
        return
    if ext == ".fvecs":
        mm = np.memmap(path, dtype=np.float32, mode="r", offset=0, shape=(count, d + 1))[:, 1:]
    else:
        mm = np.memmap(path, dtype=dtype, mode="r", offset=len(header), shape=(count, d))
    for i in range(0, count, block_rows):
        yield np.array(mm[i:i + block_rows], dtype=np.float32)


CHECKSUM = "crc32"  # of each block of a partial file: detects torn and damaged blocks (as parquet pages and zip
# do) at 3.7 GB/s against blake2b's 0.8, which made checksums a fifth of `synth sample -o x.fbin`'s time


def _checksum(data, value=0):
    return zlib.crc32(data, value)


class _BlockSums:
    """Append the checksum of each completed block of a partial file to its ``.sums`` file, one hex line each.

    Called with the bytes just written to the partial file (after they were flushed to it), so a checksum
    never names bytes the file does not hold yet.
    """

    def __init__(self, f, block_bytes):
        self.f, self.block_bytes = f, block_bytes
        self.value, self.have = 0, 0

    def update(self, data):
        data = memoryview(data).cast("B")
        while len(data):
            take = min(self.block_bytes - self.have, len(data))
            self.value = _checksum(data[:take], self.value)
            self.have += take
            data = data[take:]
            if self.have == self.block_bytes:
                self.f.write(f"{self.value:08x}\n")
                self.f.flush()
                self.value, self.have = 0, 0


def _verified_blocks(partial, sums, offset, block_bytes):
    """Checksums of the blocks of ``partial`` (from byte ``offset``) that are whole and match, up to the first
    block that is missing, torn or damaged."""
    try:
        expected = sums.read_text().split()
        size = partial.stat().st_size
    except (FileNotFoundError, UnicodeDecodeError):
        return []
    kept = []
    with open(partial, "rb") as f:
        f.seek(offset)
        for digest in expected[:max(0, size - offset) // block_bytes]:
            if f"{_checksum(f.read(block_bytes)):08x}" != digest:
                break
            kept.append(digest)
    return kept


def _read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_raw(out, chunks_from, total, d, dtype, params, chunk_size, on_rows):
    """Write ``total`` rows to a raw-format file, resuming a matching partial file; see the module docstring.

    Resuming keeps only blocks whose checksum matches; from the first block that does not, the rows are
    regenerated (sampling is deterministic, so the output is the bytes of an uninterrupted run), not refused.
    """
    out = Path(out)
    ext = out.suffix.lower()
    if ext in (".fbin", ".fvecs") and np.dtype(dtype) != np.float32:
        raise SynthError(f"{ext} holds float32 only", out)
    if not out.parent.exists():
        raise SynthError("output folder does not exist", out.parent)
    partial = out.parent / f".{out.name}.partial"
    sidecar = out.parent / f".{out.name}.partial.json"
    sums = out.parent / f".{out.name}.partial.sums"
    header = _raw_header(ext, total, d, dtype)
    row_bytes = _row_bytes(ext, d, dtype)
    block_bytes = CHECK_ROWS * row_bytes
    described = dict(params, check_rows=CHECK_ROWS, checksum=CHECKSUM)  # an older partial file is regenerated
    kept = []
    if partial.exists() and _read_json(sidecar) == described:
        kept = _verified_blocks(partial, sums, len(header), block_bytes)
    done = min(len(kept) * CHECK_ROWS, total)
    # the partial file's bytes are kept or truncated away, so only what it lacks must still be free
    check_free_space(out, len(header) + total * row_bytes - (partial.stat().st_size if partial.exists() else 0))
    try:
        with disk_full_error(out, partial, sidecar, sums):
            if not done:
                write_json(sidecar, described)
            # rows already on disk still feed the ground truth, read back as stored
            for rows in _stored_rows(partial, ext, header, d, dtype, done, chunk_size):
                on_rows(rows)
            with open(partial, "r+b" if done else "wb") as f, open(sums, "w") as s:
                f.truncate(len(header) + done * row_bytes)
                f.write(header)
                f.seek(0, os.SEEK_END)
                s.write("".join(digest + "\n" for digest in kept[:done // CHECK_ROWS]))
                s.flush()
                checked = _BlockSums(s, block_bytes)
                for chunk in chunks_from(done):
                    stored = np.ascontiguousarray(chunk, dtype=dtype)
                    data = _raw_rows(ext, stored, dtype)
                    f.write(data)
                    f.flush()
                    checked.update(data)
                    on_rows(stored)
                    del chunk, stored, data
                f.flush()
                os.fsync(f.fileno())
            os.replace(partial, out)
    except SynthError:  # e.g. the model's rows are not finite: a rerun fails the same way, nothing to resume
        for path in (partial, sidecar, sums):
            path.unlink(missing_ok=True)
        raise
    sidecar.unlink(missing_ok=True)
    sums.unlink(missing_ok=True)
    return done


# --------------------------------------------------------------------------------------------- parquet folders
def parquet_name(index, count):
    """VectorDBBench's name of training file ``index`` of ``count``: ``train.parquet`` alone, else
    ``train-II-of-N.parquet``, the index zero-padded to two digits and the count not padded (its
    ``compose_train_files``, which ``CustomDataset`` uses with the default names)."""
    return "train.parquet" if count == 1 else f"train-{index:02d}-of-{count}.parquet"


def _old_parquet_name(index, count):
    """The name this code wrote before following VectorDBBench (``train-00-of-01.parquet``); a rerun renames it."""
    return f"train-{index:02d}-of-{count:02d}.parquet"


def train_files(out):
    """The training files in the corpus folder ``out``, under either naming."""
    return [p for p in Path(out).glob("train*.parquet")
            if p.name == "train.parquet" or fnmatch(p.name, "train-*-of-*.parquet")]


def _file_index(name, count):
    """``i`` if ``name`` is file i of ``count`` under either naming, else None."""
    if count == 1:
        return 0 if name in ("train.parquet", _old_parquet_name(0, 1)) else None
    i = name.split("-")[1] if name.count("-") == 3 else ""
    ok = i.isdigit() and int(i) < count and name in (parquet_name(int(i), count), _old_parquet_name(int(i), count))
    return int(i) if ok else None


def _adopt_old_file(out, index, count, rows):
    """Give file ``index`` of a folder written under the old naming its VectorDBBench name: a complete file is
    renamed (unless a complete one has the new name), anything else under the old name is removed. The caller
    holds the new name's lock."""
    path, old = out / parquet_name(index, count), out / _old_parquet_name(index, count)
    if old == path:
        return
    remove_stale_temporaries(old)
    if not old.exists():
        return
    if _parquet_complete(old, rows) and not _parquet_complete(path, rows):
        os.replace(old, path)
    else:
        old.unlink(missing_ok=True)


def _write_parquet_file(path, chunks, d, dtype, first_id, on_rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    value = pa.float16() if np.dtype(dtype) == np.float16 else pa.float32()
    schema = pa.schema([("id", pa.int64()), ("emb", pa.list_(value, d))])
    # row groups of a size fixed by d and dtype, not by the chunk size, so the file's bytes do not depend on it
    group = max(1, ROW_GROUP_BYTES // (d * np.dtype(dtype).itemsize))
    row = first_id
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as w:
        def flush(rows):
            ids = pa.array(np.arange(row, row + len(rows), dtype=np.int64))
            emb = pa.FixedSizeListArray.from_arrays(pa.array(rows.ravel()), d)
            w.write_table(pa.Table.from_arrays([ids, emb], schema=schema))
            return row + len(rows)

        pending, have = [], 0
        for chunk in chunks:
            stored = np.ascontiguousarray(chunk, dtype=dtype)
            on_rows(stored)
            pending.append(stored)
            have += len(stored)
            while have >= group:
                buf = np.concatenate(pending) if len(pending) > 1 else pending[0]
                row = flush(buf[:group])
                pending, have = [buf[group:]], have - group
        if have:
            row = flush(np.concatenate(pending))


def _parquet_rows(path, d):
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    for i in range(f.num_row_groups):
        col = f.read_row_group(i, columns=["emb"]).column("emb").combine_chunks()
        yield col.flatten().to_numpy(zero_copy_only=False).reshape(-1, d).astype(np.float32)


def _parquet_complete(path, rows):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows == rows
    except Exception:  # unreadable: rewrite it
        return False


# --------------------------------------------------------------------------------------------- the whole job
def check_target(out, rows):
    """Refuse an output that cannot be written, before anything is: a folder where a file goes (or the reverse),
    or more rows than the format's header can count.

    Parameters
    ----------
    out : str or os.PathLike
        The output, as :func:`sample_to_file` takes it.
    rows : int
        Rows the file will hold.
    """
    out = Path(out)
    ext = out.suffix.lower()
    if ext and out.is_dir():
        raise SynthError(f"is a folder; a {ext} file is never written over a folder, even with --force", out)
    if not ext and out.exists() and not out.is_dir():
        raise SynthError("is a file; an output without extension is a folder of parquet shards", out)
    # big-ann readers take the header's count as int32 (ours reads uint32): the smaller bound serves both
    if ext == ".fbin" and rows > INT32_MAX:
        raise SynthError(f"{rows:,} rows do not fit: the .fbin header stores the count as a 32-bit integer, "
                         f"at most {INT32_MAX:,} rows (write .npy, .h5 or a parquet folder)", out)


def sample_to_file(gen, out, n, random_state=0, dtype=np.float32, chunk_size=65536, shard=None, threads=1,
                   n_queries=0, k=0, files=None, force=False, progress=None, query_hardness=None, filters=None,
                   query_tie=False):
    """Stream rows of the sample of ``n`` vectors from ``gen`` into ``out``, optionally with queries and ground truth.

    Parameters
    ----------
    gen : Generator
        A fitted model.
    out : str or os.PathLike
        A file (.npy .fbin .fvecs .h5 .parquet; format by extension) or a folder (no extension): a VectorDBBench
        corpus, ``train.parquet`` or N files ``train-00-of-N.parquet`` ... (see :func:`parquet_name`).
    n : int
        Size of the whole corpus.
    random_state : int
        Seed; row r depends only on (seed, r).
    dtype : float32 or float16
    chunk_size : int
        Rows generated per step: memory, not values.
    shard : (int, int), optional
        ``(i, N)``: write only rows ``[i*n//N, (i+1)*n//N)``. For a folder output, the file
        ``parquet_name(i, N)`` (``train-0i-of-N.parquet``); for a file output, that file holds just the shard's rows.
    threads : int
        Threads generating blocks at once; does not change the values.
    n_queries, k : int
        If both > 0: also draw ``n_queries`` queries from their own seed stream (:func:`query_seed`) and compute
        the exact top-``k`` neighbours by cosine of each among the rows written (as stored, e.g. after float16
        rounding), blockwise. For a shard they are neighbours among the shard's rows, with global ids; merge
        shards with :func:`synth.sampling.groundtruth.merge_topk`.
    files : int, optional
        Folder output without ``shard``: number of parquet files (default: about one per million rows).
    force : bool
        Folder output: discard a folder written with other parameters instead of refusing.
    progress : callable, optional
        Called with the number of rows just written.
    query_hardness : str, optional
        With queries: keep only queries of this band of hardness (``easy``, ``medium``, ``hard`` or ``LO-HI``
        percent of difficulty rank; :func:`synth.metrics.hardness.parse_band`). The ground truth is computed
        for enough candidates from the query stream (``3 * n_queries`` for a third), which are ranked by
        relative contrast against the corpus; not with a shard of several (the ranking needs the whole
        corpus's neighbours).
    filters : dict, optional
        With queries, from a model with a label model: per filter (:func:`synth.sampling.labels.plan_filters`),
        the exact top-``k`` of every query among the rows whose label the filter keeps; from a model with an
        attribute model, range filters too (:func:`synth.sampling.attributes.plan_ranges`: the rows whose value
        lies in the range); not with a shard of several or ``query_hardness``.
    query_tie : bool
        With queries, from a model fitted with ``--queries``: pull them towards the corpus by its query tie
        (:func:`draw_queries`); ``info["tie"]`` says what the pull did.

    Returns
    -------
    info : dict
        ``start``, ``stop``, ``resumed_rows`` (rows kept from an interrupted run), ``d``, ``dtype``, and when
        queries were asked for ``queries`` (ndarray (n_queries, d), float32), ``neighbors`` (int64, (n_queries,
        k)) and ``scores`` (float32 cosines); with ``query_hardness`` also ``hardness`` (the report of
        :func:`synth.metrics.hardness.select_band`). From a model with a label model (`synth fit --labels`),
        ``labels``: the class id (int32) of every row written (:func:`synth.sampling.labels.row_labels`; from a tag
        model, the rows' tags as a scipy CSR matrix of bool, rows x tags); from a
        model with an attribute model (`synth fit --attribute`), ``attribute``: every row's value (float64); with
        ``filters``, ``filtered``: per filter ``(ids, scores, share)`` (for a shard of several, among its rows:
        merged by :func:`synth.sampling.distributed.sample_on_dask`).
    """
    from .attributes import attribute_model, row_values
    from .labels import PER_QUERY, FilteredTopK, check_tag_output, is_tagged, label_model, query_labels, row_labels

    gen._check_fitted()
    seed = check_seed(random_state)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float16):
        raise SynthError(f"dtype must be float32 or float16, got {dtype}")
    out = Path(out)
    d = gen.n_features_
    index, count = shard if shard is not None else (0, 1)
    start, stop = shard_range(n, index, count)
    check_target(out, stop - start)
    with_truth = n_queries > 0 and k > 0
    band = check_query_hardness(query_hardness, with_truth, gen, count)
    tie_report = {} if query_tie else None
    if query_tie:
        check_query_tie(gen)
        if not with_truth:
            raise SynthError("--query-tie pull needs --queries and --neighbors")
    queries = top = None
    if with_truth:
        queries = draw_queries(gen, seed, candidate_count(n_queries, band) if band else n_queries, dtype,
                               chunk_size, threads, tie=query_tie, report=tie_report)
        top = TopK(queries, k, getattr(gen, "metric", "cosine"))
    check_tag_output(is_tagged(label_model(gen)), out, shard)
    tag_blocks = [] if is_tagged(label_model(gen)) else None  # a tag model's blocks of tag sets (CSR)
    codes = np.empty(stop - start, np.int32) if label_model(gen) is not None and tag_blocks is None else None
    values = np.empty(stop - start, np.float64) if attribute_model(gen) is not None else None
    filtered = None
    if filters:
        if not with_truth or band:
            raise SynthError("filtered ground truth needs queries and neighbours, and is not written with "
                             "--query-hardness")
        qcodes = query_labels(gen, queries, seed) if PER_QUERY in filters else None
        filtered = FilteredTopK(queries, k, filters, getattr(gen, "metric", "cosine"), query_codes=qcodes)
    seen = [start]

    def on_rows(rows):
        if top is not None:
            top.add(rows, seen[0])
        at = seen[0] - start
        if codes is not None:
            codes[at:at + len(rows)] = row_labels(gen, rows, seed, seen[0])
        if tag_blocks is not None:
            tag_blocks.append(row_labels(gen, rows, seed, seen[0]))
        if values is not None:
            values[at:at + len(rows)] = row_values(gen, rows, seed, seen[0])
        if filtered is not None:
            filtered.add(rows, seen[0], tag_blocks[-1] if tag_blocks else None if codes is None
                         else codes[at:at + len(rows)], None if values is None else values[at:at + len(rows)])
        seen[0] += len(rows)
        if progress is not None:
            progress(len(rows))

    params = {"n": n, "d": d, "dtype": dtype.name, "seed": seed, "start": start, "stop": stop,
              "model": model_id(gen)}
    resumed = 0
    # a folder written in shards is locked file by file, so that shards can be written at once
    with output_lock(out) if out.suffix or shard is None else contextlib.nullcontext():
        if out.suffix == "":
            resumed = _sample_folder(gen, out, n, seed, dtype, chunk_size, shard, threads, files, force, params,
                                     on_rows)
        elif out.suffix.lower() in RAW_FORMATS:
            resumed = _write_raw(out, lambda done: iter_rows(gen, seed, start + done, stop, chunk_size, threads),
                                 stop - start, d, dtype, params, chunk_size, on_rows)
        else:
            extra = 8 if out.suffix.lower() == ".parquet" else 0  # the id column
            check_free_space(out, (stop - start) * (d * dtype.itemsize + extra))
            with open_writer(out, stop - start, d, dtype, metric=getattr(gen, "metric", "cosine")) as w:
                for chunk in iter_rows(gen, seed, start, stop, chunk_size, threads):
                    w.write(chunk)
                    on_rows(np.asarray(chunk, dtype=dtype))
    info = {"start": start, "stop": stop, "resumed_rows": int(resumed), "d": d, "dtype": dtype.name}
    if with_truth:
        ids, scores = top.result() if stop - start >= k else (top.ids, top.scores)
        info.update(queries=queries, neighbors=ids, scores=scores)
        if band:
            info.update(select_queries(gen, seed, n, dtype, queries, ids, scores, n_queries, band, chunk_size,
                                       threads))
    if tie_report:
        info["tie"] = tie_report
    if codes is not None:
        info["labels"] = codes
    if tag_blocks is not None:
        from scipy.sparse import csr_matrix, vstack

        info["labels"] = vstack(tag_blocks, format="csr") if tag_blocks else \
            csr_matrix((0, len(label_model(gen).classes_)), dtype=bool)
    if values is not None:
        info["attribute"] = values
    if filtered is not None:
        info["filtered"] = filtered.result(stop - start)
        if PER_QUERY in filters:
            info["query_labels"] = filtered.query_codes
    return info


def draw_queries(gen, seed, count, dtype, chunk_size=65536, threads=1, tie=False, report=None):
    """The first ``count`` rows of the query stream (:func:`query_seed`), as the user will store and read them:
    drawn from the model's query model (`synth fit --queries`) when it has one, else from the model itself.

    ``tie``: pull them towards the corpus (:func:`synth.models.tie.pull`, `synth sample --query-tie pull`) by the
    query model's tie, against the first N rows of the corpus stream of ``seed`` (N: the rows the corpus model was
    fitted on; regenerated, as row r depends only on (seed, r)); ``report``, a dict, receives what the pull did."""
    source = getattr(gen, "query_model_", None) or gen
    queries = np.concatenate(list(iter_rows(source, query_seed(seed), 0, count, chunk_size, threads)))
    queries = queries.astype(dtype).astype(np.float32)
    if tie:
        from ..models.tie import pull

        tie_ = check_query_tie(gen)
        reference = np.concatenate(list(iter_rows(gen, seed, 0, tie_["rows"], chunk_size, threads)))
        queries, done = pull(unit_rows(reference.astype(dtype).astype(np.float32)), unit_rows(queries), tie_)
        queries = queries.astype(dtype).astype(np.float32)
        if report is not None:
            report.update(done)
    return queries


def check_query_tie(gen):
    """The query model's tie (`synth sample --query-tie pull`), refused in one line for a model without one or
    of a metric other than cosine."""
    tie = getattr(getattr(gen, "query_model_", None), "tie_", None)
    if tie is None:
        raise SynthError("--query-tie pull needs a model fitted with --queries by this synth (it stores the query "
                         "tie)", getattr(gen, "path_", None))
    if getattr(gen, "metric", "cosine") != "cosine":
        raise SynthError(f"--query-tie pull: cosine models only (this one has --metric {gen.metric})",
                         getattr(gen, "path_", None))
    return tie


def check_query_hardness(query_hardness, with_truth, gen, shards=1):
    """The band of ``query_hardness`` (None for none), refused without ground truth, on a shard of several,
    or for a model whose metric has no distance."""
    if query_hardness is None:
        return None
    band = parse_band(query_hardness)
    if not with_truth:
        raise SynthError("--query-hardness needs --queries and --neighbors (queries are ranked by their neighbours)")
    if shards > 1:
        raise SynthError("--query-hardness needs the neighbours among the whole corpus: run without --shard "
                         "(Dask runs, --workers, merge the shards before choosing)")
    check_rankable(getattr(gen, "metric", "cosine"))  # before any work
    return band


def select_queries(gen, seed, n, dtype, queries, ids, scores, n_queries, band, chunk_size=65536, threads=1):
    """Keep the candidates of ``band`` (:func:`synth.metrics.hardness.select_band`) with their ground truth;
    the mean distances are taken over the corpus's first rows (regenerated: row r depends only on (seed, r))."""
    m = min(n, REFERENCE_ROWS)
    reference = np.concatenate(list(iter_rows(gen, seed, 0, m, chunk_size, threads))).astype(dtype)
    keep, report = select_band(queries, scores, reference.astype(np.float32), n_queries, band,
                               getattr(gen, "metric", "cosine"))
    return {"queries": queries[keep], "neighbors": ids[keep], "scores": scores[keep], "hardness": report}


def _sample_folder(gen, out, n, seed, dtype, chunk_size, shard, threads, files, force, params, on_rows):
    count = shard[1] if shard is not None else (files or max(1, -(-n // ROWS_PER_FILE)))
    todo = [shard[0]] if shard is not None else range(count)
    manifest = dict(params, start=0, stop=n, files=count)
    mpath = out / MANIFEST
    # the shards of one run (Dask tasks, --shard jobs) start at once: a folder holding only the temporary of the
    # manifest another shard is writing is one of ours, not a folder of other files
    if out.is_dir() and not mpath.exists() and not force and any(
            temporary_writer(mpath, p.name) is None for p in out.iterdir()):
        raise SynthError("is a folder that holds other files (use --force to write into it)", out)
    if out.exists() and not out.is_dir():
        raise SynthError("exists and is not a folder", out)
    if mpath.exists() and _read_json(mpath) != manifest and not force:
        raise SynthError("holds a corpus written with other parameters (use --force to replace it)", out)
    _check_folder_space(out, n, count, todo, params["d"] * dtype.itemsize + 8)  # the vector and its id
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    if mpath.exists() and _read_json(mpath) != manifest:
        for p in train_files(out):
            p.unlink()
    write_json(mpath, manifest)
    resumed = 0
    try:
        for i in todo:
            a, b = shard_range(n, i, count)
            path = out / parquet_name(i, count)
            with output_lock(path):
                _adopt_old_file(out, i, count, b - a)
                if _parquet_complete(path, b - a):
                    for rows in _parquet_rows(path, params["d"]):
                        on_rows(rows)
                    resumed += b - a
                    continue
                _write_parquet_file(path, iter_rows(gen, seed, a, b, chunk_size, threads), params["d"], dtype, a,
                                    on_rows)
    except SynthError:  # a full disk: a folder this run made and filled with nothing goes too
        if created and not train_files(out):
            remove_path(out)
        raise
    return resumed


def _check_folder_space(out, n, count, todo, row_size):
    """Refuse a folder run whose files still to write need more than the free space (finished files are kept)."""
    rows = sum(b - a for a, b in (shard_range(n, i, count) for i in todo)) if len(todo) == 1 else n
    done = set()
    for p in train_files(out):  # the files there, not all N names: N may be huge
        i = _file_index(p.name, count)
        if i is not None and i in todo and i not in done:
            a, b = shard_range(n, i, count)
            if _parquet_complete(p, b - a):
                rows -= b - a
                done.add(i)
    check_free_space(out, rows * row_size)


# --------------------------------------------------------------------------------------------- queries + truth files
def truth_paths(out):
    """Where :func:`write_truth` puts queries and neighbours for the corpus ``out``."""
    out = Path(out)
    ext = out.suffix.lower()
    if ext == "":
        return {"queries": out / "test.parquet", "neighbors": out / "neighbors.parquet"}
    if ext in (".h5", ".hdf5"):
        return {"queries": out, "neighbors": out}
    stem = out.parent / out.stem
    if ext == ".fbin":
        return {"queries": Path(f"{stem}.queries.fbin"), "neighbors": Path(f"{stem}.gt.bin")}
    if ext == ".fvecs":
        return {"queries": Path(f"{stem}.queries.fvecs"), "neighbors": Path(f"{stem}.neighbors.ivecs")}
    if ext == ".parquet":
        return {"queries": Path(f"{stem}.test.parquet"), "neighbors": Path(f"{stem}.neighbors.parquet")}
    return {"queries": Path(f"{stem}.queries.npy"), "neighbors": Path(f"{stem}.neighbors.npz")}


def _add_h5_truth(path, queries, ids, scores, dtype, metric="cosine"):
    """Datasets ``test``, ``neighbors`` and ``distances`` in the .h5 file ``path``, replacing old ones: 1 - cosine
    (angular), the Euclidean distance (l2: euclidean) or minus the inner product (ip: dot)."""
    import h5py

    from ..metric import ANN_DISTANCE, ann_distances

    with h5py.File(path, "a") as f:
        for key in ("test", "neighbors", "distances"):
            if key in f:
                del f[key]
        f.create_dataset("test", data=queries.astype(dtype))
        f.create_dataset("neighbors", data=ids)
        f.create_dataset("distances", data=ann_distances(scores, metric))
        if metric != "cosine":  # the corpus writer named it already; said again for a file written before
            f.attrs["distance"] = ANN_DISTANCE[metric]


def write_truth(out, queries, ids, scores, dtype=np.float32, metric="cosine"):
    """Write queries and their exact neighbours beside (or into) the corpus ``out``, in its format's convention.

    .h5: datasets ``test``, ``neighbors`` and ``distances`` (1 - cosine, ann-benchmarks' angular) in the file.
    Folder: ``test.parquet`` (id, emb) and ``neighbors.parquet`` (id, neighbors_id), VectorDBBench's layout.
    .fbin: ``STEM.queries.fbin`` and ``STEM.gt.bin`` (big-ann ground truth: uint32 nq, uint32 k, int32 ids,
    float32 inner products). .fvecs: ``STEM.queries.fvecs``, ``STEM.neighbors.ivecs``. .parquet:
    ``STEM.test.parquet``, ``STEM.neighbors.parquet``. .npy: ``STEM.queries.npy``, ``STEM.neighbors.npz``
    (``ids``, ``scores``).

    ``metric`` (the model's): the ids are its nearest rows; .h5 distances follow ann-benchmarks
    (:func:`synth.metric.ann_distances`); .fbin's distances are big-ann's, inner products for cosine and ip and
    squared Euclidean distances for l2; .npz scores are the scores (larger is nearer: minus the squared
    distance for l2).
    """
    from ..metric import check_metric

    check_metric(metric)
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = truth_paths(out)
    ext = Path(out).suffix.lower()
    qn, k = ids.shape
    if ext in (".h5", ".hdf5"):
        # into a copy, renamed over the corpus when complete: a failure (a full disk) leaves the corpus as it was
        with atomic_path(out) as tmp:
            shutil.copyfile(out, tmp)
            _add_h5_truth(tmp, queries, ids, scores, dtype, metric)
        return paths
    if ext in ("", ".parquet"):
        value = pa.float16() if np.dtype(dtype) == np.float16 else pa.float32()
        q = pa.Table.from_arrays([pa.array(np.arange(qn, dtype=np.int64)), pa.FixedSizeListArray.from_arrays(
            pa.array(queries.astype(dtype).ravel()), queries.shape[1])], names=["id", "emb"])
        q = q.cast(pa.schema([("id", pa.int64()), ("emb", pa.list_(value, queries.shape[1]))]))
        with atomic_path(paths["queries"]) as tmp:
            pq.write_table(q, tmp)
        write_neighbors(paths["neighbors"], ext, ids, scores, metric)
        return paths
    from ..io.formats import write_vectors

    write_vectors(paths["queries"], queries, dtype=dtype)
    write_neighbors(paths["neighbors"], ext, ids, scores, metric)
    return paths


def write_neighbors(path, ext, ids, scores, metric="cosine"):
    """Neighbour ids (and scores) at ``path`` in the convention of a corpus of extension ``ext`` (see
    :func:`write_truth`): .fbin big-ann ground truth, .fvecs ivecs, .parquet / folder (id, neighbors_id), else
    .npz; written under a temporary name, then renamed."""
    qn, k = ids.shape
    with atomic_path(path) as tmp:
        if ext == ".fbin":
            with open(tmp, "wb") as f:
                f.write(np.array([qn, k], np.uint32).tobytes())
                f.write(ids.astype(np.int32).tobytes())
                f.write((-scores if metric == "l2" else scores).astype(np.float32).tobytes())
        elif ext == ".fvecs":
            rows = np.empty((qn, k + 1), np.int32)
            rows[:, 0], rows[:, 1:] = k, ids
            rows.tofile(tmp)
        elif ext in ("", ".parquet"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_arrays([pa.array(np.arange(qn, dtype=np.int64)),
                                                 pa.FixedSizeListArray.from_arrays(pa.array(ids.ravel()), k)],
                                                names=["id", "neighbors_id"]), tmp)
        else:
            with open(tmp, "wb") as f:
                np.savez(f, ids=ids, scores=scores)


def partial_truth_path(out, shard):
    """Where :func:`write_partial_truth` puts shard ``(i, N)``'s ground truth: ``OUT.neighbors-part-III-of-NNN.npz``
    beside a corpus file, ``OUT/neighbors-part-III-of-NNN.npz`` inside a corpus folder (with or without a
    trailing slash: one place, and not a dot-file that ``OUT/*`` would miss)."""
    out = Path(out)
    name = f"neighbors-part-{shard[0]:03d}-of-{shard[1]:03d}.npz"
    return out / name if not out.suffix else Path(f"{out}.{name}")


def find_partial_truth(out):
    """Every shard's partial ground truth of corpus ``out``, sorted; refused unless all N of them are there."""
    out = Path(out)
    pattern = "neighbors-part-*-of-*.npz"
    found = sorted(out.glob(pattern) if not out.suffix else out.parent.glob(f"{glob.escape(out.name)}.{pattern}"))
    if not found:
        raise SynthError("no partial ground-truth files (neighbors-part-*-of-*.npz) of this corpus", out)
    counts = {p.name.rsplit("-of-", 1)[1].removesuffix(".npz") for p in found}
    if len(counts) > 1 or len(found) != int(counts.pop()):
        raise SynthError(f"found {len(found)} partial ground-truth files ({', '.join(p.name for p in found[:3])}"
                         f"{', ...' if len(found) > 3 else ''}): not one complete set of shards", out)
    return found


def output_files(out, n_queries=0, k=0, shard=None):
    """Every file a sample run writes and must not replace without ``force``: the corpus and its side files.

    A folder corpus is not listed, nor the query files inside it: the folder resumes, and its manifest
    refuses a run with other parameters. With a shard of several, the ground truth is the shard's partial one.
    """
    out = Path(out)
    paths = [out] if out.suffix else []
    if n_queries > 0 and k > 0:
        if shard is not None and shard[1] > 1:
            paths.append(partial_truth_path(out, shard))
        elif out.suffix:
            paths += [p for p in truth_paths(out).values() if p not in paths]
    return paths


def write_partial_truth(out, queries, ids, scores, shard, metric="cosine"):
    """Shard ``(i, N)``'s partial ground truth, ``OUT.neighbors-part-III-of-NNN.npz``; merge with
    :func:`merge_partial_truth`."""
    path = partial_truth_path(out, shard)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        extra = {"metric": np.array(metric)} if metric != "cosine" else {}  # cosine parts keep their bytes
        np.savez(f, queries=queries, ids=ids, scores=scores, **extra)
    return path


def partial_truth_metric(paths):
    """The metric of shards' partial ground-truth files (``metric`` array; cosine when absent), one for all."""
    from ..metric import check_metric

    found = set()
    for p in paths:
        try:
            with np.load(p, allow_pickle=False) as z:
                found.add(str(z["metric"]) if "metric" in z.files else "cosine")
        except Exception:  # unreadable files are reported by merge_partial_truth
            continue
    if len(found) > 1:
        raise SynthError(f"parts of different metrics ({', '.join(sorted(found))}): not shards of one run")
    return check_metric(found.pop() if found else "cosine")


def _read_partial_truth(path):
    """(queries, ids, scores) of one file written by :func:`write_partial_truth`, checked."""
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:  # zipfile.BadZipFile, ValueError (not a numpy file), EOFError
        raise SynthError(f"not a readable .npz archive ({type(e).__name__})", path) from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise SynthError("is a single .npy array, not a partial ground-truth .npz", path)
    with z:
        missing = [key for key in ("queries", "ids", "scores") if key not in z.files]
        if missing:
            raise SynthError(f"not a partial ground-truth file: no {', '.join(missing)} (arrays: {z.files})", path)
        try:
            queries, ids, scores = z["queries"], z["ids"], z["scores"]
        except Exception as e:  # truncated member, object array
            raise SynthError(f"not a readable .npz archive ({type(e).__name__})", path) from None
    if queries.ndim != 2 or ids.ndim != 2 or ids.shape != scores.shape or len(ids) != len(queries):
        raise SynthError(f"shapes disagree: queries {queries.shape}, ids {ids.shape}, scores {scores.shape}", path)
    return queries, ids, scores


def merge_partial_truth(paths, k):
    """Merge shards' ``*.neighbors-part-*.npz`` files: (queries, ids, scores) of the whole corpus.

    Exact only when every part holds at least ``k`` neighbours per query, so a larger ``k`` is refused.
    """
    parts, queries = [], None
    for p in paths:
        q, ids, scores = _read_partial_truth(p)
        if queries is not None and not np.array_equal(queries, q):
            raise SynthError("queries differ from the first part's: not shards of one run", p)
        if ids.shape[1] < k:
            raise SynthError(f"holds the top-{ids.shape[1]} neighbours of each query; a merged top-{k} would not "
                             f"be exact (merge with --neighbors {ids.shape[1]} or less, or sample again with "
                             f"--neighbors {k})", p)
        queries = q
        parts.append((ids, scores))
    if not parts:
        raise SynthError("no partial ground-truth files given")
    ids, scores = merge_topk(parts, k)
    return queries, ids, scores
