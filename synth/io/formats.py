"""Read and write embedding files.

Readers take the formats users hold embeddings in (numpy, big-ann binaries, ann-benchmarks HDF5, parquet,
Hugging Face datasets); writers stream rows into the formats ANN tools read. Every problem with an input
becomes a :class:`~synth.errors.SynthError` naming the file; every write goes to a temporary name first and
is renamed into place only when complete, so a failure never leaves a partial file behind.
"""

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path

import numpy as np

from ..errors import SynthError
from .arrays import check_rows, raw_rows, unit_rows

# big-ann-benchmarks binaries: uint32 n, uint32 d, then n*d values of this dtype
BIGANN_DTYPES = {".fbin": np.float32, ".u8bin": np.uint8, ".i8bin": np.int8}


# --------------------------------------------------------------------------------------------- reading
def _read_npy(path, key, column, split):
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:  # pickled object arrays, bad or truncated header
        raise SynthError(f"not a readable .npy array ({type(e).__name__}: {_first_line(e)})", path) from None


def _read_npz(path, key, column, split):
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as e:  # zipfile.BadZipFile, ValueError, EOFError
        raise SynthError(f"not a readable .npz archive ({type(e).__name__})", path) from None
    with archive:
        names = list(archive.files)
        if key is None:
            if len(names) == 1:
                key = names[0]
            elif "embeddings" in names:
                key = "embeddings"
            else:
                raise SynthError(f"holds several arrays {names}: choose one with --key", path)
        if key not in names:
            raise SynthError(f"has no array {key!r} (arrays: {names})", path)
        try:
            return archive[key]
        except ValueError as e:
            raise SynthError(f"array {key!r} is not readable without pickle ({e})", path) from None


def _read_fvecs(path, key, column, split):
    size = os.path.getsize(path)
    if size < 4:
        raise SynthError("too short for an .fvecs file", path)
    d = int(np.fromfile(path, dtype=np.int32, count=1)[0])
    if d <= 0 or size % (4 * (d + 1)):
        raise SynthError(f"file size {size} is not a multiple of the row size for dimension {d}", path)
    raw = np.memmap(path, dtype=np.int32, mode="r").reshape(-1, d + 1)
    if np.any(raw[:, 0] != d):
        bad = int(np.flatnonzero(raw[:, 0] != d)[0])
        raise SynthError(f"row {bad} declares dimension {int(raw[bad, 0])}, the first row {d}", path)
    return raw[:, 1:].view(np.float32)


def _read_bigann(path, key, column, split):
    dtype = np.dtype(BIGANN_DTYPES[Path(path).suffix.lower()])
    size = os.path.getsize(path)
    if size < 8:
        raise SynthError("too short for a big-ann header (uint32 n, uint32 d)", path)
    n, d = (int(v) for v in np.fromfile(path, dtype=np.uint32, count=2))
    expected = 8 + n * d * dtype.itemsize
    if size != expected:
        raise SynthError(f"header says {n} x {d} ({expected} bytes) but the file has {size} bytes", path)
    return np.memmap(path, dtype=dtype, mode="r", offset=8, shape=(n, d))


def _read_hdf5(path, key, column, split):
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SynthError(f"not a readable HDF5 file ({e})", path) from None
    with f:
        key = key or "train"
        if key not in f or not isinstance(f[key], h5py.Dataset):
            raise SynthError(f"has no dataset {key!r} (datasets: {sorted(f.keys())}); use --key", path)
        return f[key][()]


def _arrow_vectors(table, column, path):
    """Stack a list or fixed-size-list column of an Arrow table into a 2-D array."""
    import pyarrow as pa

    def is_vector(t):
        return (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)) and (
            pa.types.is_floating(t.value_type) or pa.types.is_integer(t.value_type))

    if column is None:
        candidates = [f.name for f in table.schema if is_vector(f.type)]
        if len(candidates) != 1:
            what = "no vector column" if not candidates else f"several vector columns {candidates}"
            raise SynthError(f"has {what}; choose one with --column", path)
        column = candidates[0]
    if column not in table.column_names:
        raise SynthError(f"has no column {column!r} (columns: {table.column_names})", path)
    field_type = table.schema.field(column).type
    if not is_vector(field_type):
        raise SynthError(f"column {column!r} is not a vector column (type {field_type})", path)
    col = table.column(column).combine_chunks()
    if col.null_count:
        raise SynthError(f"column {column!r} has {col.null_count} null rows", path)
    if pa.types.is_fixed_size_list(field_type):
        d = field_type.list_size
    else:
        lengths = col.value_lengths().to_numpy(zero_copy_only=False)
        d = int(lengths[0]) if len(lengths) else 0
        if len(lengths) and np.any(lengths != d):
            bad = int(np.flatnonzero(lengths != d)[0])
            raise SynthError(f"column {column!r} is ragged: row {bad} has {lengths[bad]} values, row 0 {d}", path)
    values = col.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(col), d)


def _read_parquet(path, key, column, split):
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # ArrowInvalid on a non-parquet file
        raise SynthError(f"not a readable parquet file ({type(e).__name__})", path) from None
    return _arrow_vectors(table, column, path)


def _dataset_table(ds, split, path):
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        split = split or ("train" if "train" in ds else None)
        if split not in ds:
            raise SynthError(f"has no split {split!r} (splits: {list(ds)}); use --split", path)
        ds = ds[split]
    return ds.with_format("arrow")[:]


def _read_datasets_folder(path, key, column, split):
    import datasets

    saved = any((Path(path) / name).exists() for name in ("state.json", "dataset_dict.json"))
    try:
        if saved:  # written by Dataset.save_to_disk
            ds = datasets.load_from_disk(str(path))
        else:  # a Hub-style folder of data files, e.g. written by `synth publish`
            ds = datasets.load_dataset(str(path), name=key, split=split or "train")
    except SynthError:
        raise
    except Exception as e:
        raise SynthError(f"not a readable datasets folder ({type(e).__name__}: {_first_line(e)})", path) from None
    return _arrow_vectors(_dataset_table(ds, split, path), column, path)


def _read_hub(path, key, column, split):
    import datasets

    repo = str(path)[3:]
    try:
        ds = datasets.load_dataset(repo, name=key, split=split or "train")
    except Exception as e:
        raise SynthError(f"could not load from the Hugging Face Hub ({type(e).__name__}: {_first_line(e)})",
                         path) from None
    return _arrow_vectors(_dataset_table(ds, split, path), column, path)


def _first_line(e):
    text = str(e).strip().splitlines()
    return text[0][:200] if text else ""


READERS = {
    ".npy": _read_npy,
    ".npz": _read_npz,
    ".fvecs": _read_fvecs,
    ".h5": _read_hdf5,
    ".hdf5": _read_hdf5,
    ".parquet": _read_parquet,
    **{ext: _read_bigann for ext in BIGANN_DTYPES},
}


def read_vectors(path, key=None, column=None, split=None, raw=False):
    """Read a 2-D array of vectors as stored (no conversion, possibly memory-mapped).

    Parameters
    ----------
    path : str or os.PathLike
        A file (.npy, .npz, .fvecs, .fbin/.u8bin/.i8bin, .h5/.hdf5, .parquet), a folder written by
        ``datasets`` (``save_to_disk`` or a Hub-style folder of data files), ``hf:owner/name``, or the name
        of a real set of :data:`synth.bundled.NAMED` (``bundled``, ``minilm-word-table``,
        ``minilm-wordnet-all``, ``minilm-wordnet-lemmas``) or of a part of its split (``bundled:train``,
        ``bundled:heldout``: :func:`synth.bundled.load_real`) when no file of that name exists.
    key : str, optional
        Array name in an .npz, dataset in an HDF5 file (default ``train``), config of a Hub dataset.
    column : str, optional
        Vector column of a parquet file or dataset (default: the only list-of-numbers column).
    split : str, optional
        Split of a dataset (default ``train``).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    """
    text = str(path)
    if text.startswith("hf:"):
        X = _read_hub(text, key, column, split)
    else:
        p = Path(path)
        if not p.exists():
            from ..bundled import NAMED, load_real, named_split

            if text in NAMED or named_split(text):  # a named real set or a part of its split; a file wins
                return load_real(text, raw=raw)
            raise SynthError("no such file or folder" + (f" (named sets: {', '.join(NAMED)}; NAME:train and "
                                                           "NAME:heldout are their split)" if "/" not in text
                                                           and "." not in text else ""), path)
        if p.is_dir():
            X = _read_datasets_folder(p, key, column, split)
        else:
            reader = READERS.get(p.suffix.lower())
            if reader is None:
                raise SynthError(f"unknown format {p.suffix!r} (known: {', '.join(sorted(READERS))}, "
                                 "a datasets folder, hf:owner/name)", path)
            X = reader(p, key, column, split)
    return check_rows(X, min_rows=0, path=path)


def count_duplicates(X):
    """Number of rows that repeat an earlier row exactly."""
    X = np.ascontiguousarray(X)
    rows = X.view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel()
    return int(len(rows) - len(np.unique(rows)))


def fingerprint(X):
    """sha256 of a float32 C-ordered array's bytes, hex."""
    return hashlib.sha256(np.ascontiguousarray(X, dtype=np.float32).tobytes()).hexdigest()


def load_embeddings(path, key=None, column=None, split=None, min_points=2, normalize=True):
    """Read, validate and L2-normalize a set of embeddings.

    Rows are L2-normalized: the project works in cosine geometry, on the unit sphere. ``normalize=False``
    (metric ``ip`` or ``l2``) validates the rows the same way but returns them as stored, as float32
    (a named set's raw rows).

    Parameters
    ----------
    path, key, column, split
        As in :func:`read_vectors`.
    min_points : int, default=2
        Refuse files with fewer rows.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32, unit rows
    info : dict
        ``source``, ``n``, ``d``, ``dtype`` (as stored) and ``n_duplicates`` (rows repeating an earlier row).
    """
    raw = read_vectors(path, key=key, column=column, split=split, raw=not normalize)
    n, d = raw.shape
    X = unit_rows(raw, min_points, path) if normalize else raw_rows(raw, min_points, path)
    info = {"source": Path(str(path)).name, "n": n, "d": d, "dtype": str(raw.dtype),
            "n_duplicates": count_duplicates(X)}
    return X, info


# --------------------------------------------------------------------------------------------- writing
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(e):
    """Whether ``e`` is a write failing for want of space (pyarrow's errors carry no errno, only the text)."""
    return isinstance(e, OSError) and (e.errno in DISK_FULL or "No space left on device" in str(e)
                                       or "Disk quota exceeded" in str(e))


@contextlib.contextmanager
def disk_full_error(path, *temporaries):
    """Turn running out of disk space inside the block into a one-line :class:`SynthError` naming ``path``.

    The ``temporaries`` (files or folders) are removed first: a write that cannot finish leaves nothing.
    """
    try:
        yield
    except OSError as e:
        if not is_disk_full(e):
            raise
        for tmp in temporaries:
            remove_path(tmp)
        raise disk_full(e, path) from None


def disk_full(e, path):
    """The one-line error for the disk-full ``OSError`` ``e`` met while writing ``path``."""
    free = shutil.disk_usage(_existing_folder(path)).free
    return SynthError(f"disk full: {os.strerror(e.errno or errno.ENOSPC)} while writing ({human_bytes(free)} free)",
                      path)


def remove_path(path):
    """Remove a file or a folder if it is there."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def temporary_name(path):
    """``.NAME.PID.xxxxxxxx.tmp`` beside ``path``: the writer's PID tells a later run whether it is stale."""
    path = Path(path)
    return path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"


def temporary_writer(path, name):
    """The writer's PID if ``name`` is a temporary of ``path`` (:func:`temporary_name`), else None."""
    m = re.fullmatch(rf"\.{re.escape(Path(path).name)}\.(\d+)\.[0-9a-f]{{8}}\.tmp", name)
    return int(m.group(1)) if m else None


def pid_alive(pid):
    """Whether a process of this id runs on this machine (``os.kill(pid, 0)`` delivers nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(path):
    """Remove the temporaries of ``path`` (see :func:`temporary_name`) whose writer is no longer alive.

    A writer killed by SIGKILL (or by SIGTERM outside the CLI) cannot remove its temporary; the next write to
    the same output does. Temporaries of live processes, this one's included, are kept. The PID is of this
    machine: outputs on a filesystem shared between machines should be written under :func:`output_lock`.

    Returns
    -------
    removed : list of Path
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    removed = []
    for p in path.parent.iterdir():
        pid = temporary_writer(path, p.name)
        if pid is not None and pid != os.getpid() and not pid_alive(pid):
            remove_path(p)
            removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Stale temporaries of ``path`` left by killed writers are removed first; a full disk inside the block
    becomes a one-line :class:`SynthError` and the temporary is removed.
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise SynthError("output folder does not exist", path.parent)
    remove_stale_temporaries(path)
    # not mkstemp: its 0600 mode would survive the rename
    tmp = temporary_name(path)
    try:
        with disk_full_error(path, tmp):
            yield tmp
            os.replace(tmp, path)
    except BaseException:
        remove_path(tmp)
        raise


def _existing_folder(path):
    """The nearest folder at or above ``path`` that exists (where its bytes will land)."""
    folder = Path(path).absolute()
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return folder


def human_bytes(size):
    """``14.6 TB``: decimal units, as disk sizes are sold and ``df -H`` prints them."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000


def check_free_space(path, need):
    """Refuse to start writing ``need`` bytes to ``path`` when its filesystem has less free space.

    Raises
    ------
    SynthError
        ``needs 14.6 TB, 80.1 GB free``, naming ``path``.
    """
    free = shutil.disk_usage(_existing_folder(Path(path).parent)).free
    if need > free:
        raise SynthError(f"needs {human_bytes(need)}, {human_bytes(free)} free", path)


def check_folder(path, force):
    """Refuse an existing, non-empty output folder unless ``force``: what it holds would be overwritten."""
    path = Path(path)
    if path.exists() and not force and (not path.is_dir() or any(path.iterdir())):
        raise SynthError("exists and is not empty (use --force to write into it)", path)


# Locks. One writer per output: ``fcntl.flock`` on ``.NAME.lock`` beside the output, taken before anything is
# written (temporaries, ``.partial`` files, side files) and released after the last rename. A second writer
# fails at once (LOCK_NB) instead of waiting. The kernel drops the lock when its holder dies, so a killed run
# never blocks the next one. The lock file is removed on release by a holder that can still take it
# exclusively; a process that opened the file just before it was unlinked sees a different inode at the path
# after locking, and retries on the new file. Within one process the lock is re-entrant (the CLI holds it
# around the library call that takes it again).
_HELD = {}


def lock_path(path):
    """``.NAME.lock`` beside ``path``."""
    path = Path(path)
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def output_lock(path):
    """Hold the exclusive writer's lock of ``path`` for the block.

    Raises
    ------
    SynthError
        ``another synth process is writing it`` when another process holds it.
    """
    lock = lock_path(path).absolute()
    if lock in _HELD:
        yield
        return
    if not lock.parent.is_dir():
        raise SynthError("output folder does not exist", lock.parent)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SynthError("another synth process is writing it", path) from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # unlinked by the previous holder between our open and our flock: lock the new file
    _HELD[lock] = fd
    try:
        yield
    finally:
        del _HELD[lock]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


class VectorWriter:
    """Append rows to an open file of declared shape; made by :func:`open_writer`."""

    def __init__(self, path, n, d, dtype=np.float32):
        self.path, self.n, self.d, self.dtype = Path(path), int(n), int(d), np.dtype(dtype)
        self.written = 0
        self.open()

    def write(self, rows):
        rows = np.asarray(rows)
        if rows.ndim != 2 or rows.shape[1] != self.d:
            raise ValueError(f"expected rows of dimension {self.d}, got shape {rows.shape}")
        if self.written + len(rows) > self.n:
            raise ValueError(f"writing past the declared {self.n} rows")
        self.append(rows.astype(self.dtype, copy=False))
        self.written += len(rows)

    def open(self):
        raise NotImplementedError

    def append(self, rows):
        raise NotImplementedError

    def close(self):
        pass


class BigAnnWriter(VectorWriter):
    def open(self):
        self.f = open(self.path, "wb")
        np.array([self.n, self.d], dtype=np.uint32).tofile(self.f)

    def append(self, rows):
        self.f.write(np.ascontiguousarray(rows).tobytes())

    def close(self):
        self.f.close()


class NpyWriter(BigAnnWriter):
    """Written, not memory-mapped: a full disk under a memory map is a SIGBUS, not an error one can report."""

    def open(self):
        self.f = open(self.path, "wb")
        np.lib.format.write_array_header_1_0(self.f, {"descr": np.lib.format.dtype_to_descr(self.dtype),
                                                      "fortran_order": False, "shape": (self.n, self.d)})


class FvecsWriter(BigAnnWriter):
    def open(self):
        self.f = open(self.path, "wb")

    def append(self, rows):
        out = np.empty((len(rows), self.d + 1), dtype=np.float32)
        out[:, 0] = np.array([self.d], dtype=np.int32).view(np.float32)[0]
        out[:, 1:] = rows
        self.f.write(out.tobytes())


class Hdf5Writer(VectorWriter):
    """ann-benchmarks layout: the vectors go to ``train``; ``distance`` is ``angular`` (unit rows), or
    ``euclidean`` / ``dot`` for metric l2 / ip (:data:`synth.metric.ANN_DISTANCE`)."""

    distance = "angular"

    def open(self):
        import h5py

        self.f = h5py.File(self.path, "w")
        self.f.attrs.update(distance=self.distance, dimension=self.d, point_type="float", type="dense")
        self.ds = self.f.create_dataset("train", shape=(self.n, self.d), dtype=self.dtype)

    def append(self, rows):
        self.ds[self.written:self.written + len(rows)] = rows

    def close(self):
        self.f.close()


class ParquetWriter(VectorWriter):
    """VectorDBBench layout: columns ``id`` (int64) and ``emb`` (fixed-size list of float)."""

    def open(self):
        import pyarrow as pa
        import pyarrow.parquet as pq

        value = pa.float16() if self.dtype == np.float16 else pa.float32()
        self.schema = pa.schema([("id", pa.int64()), ("emb", pa.list_(value, self.d))])
        self.f = pq.ParquetWriter(self.path, self.schema)

    def append(self, rows):
        import pyarrow as pa

        ids = pa.array(np.arange(self.written, self.written + len(rows), dtype=np.int64))
        emb = pa.FixedSizeListArray.from_arrays(pa.array(rows.ravel()), self.d)
        self.f.write_table(pa.Table.from_arrays([ids, emb], schema=self.schema))

    def close(self):
        self.f.close()


WRITERS = {".npy": NpyWriter, ".fbin": BigAnnWriter, ".fvecs": FvecsWriter, ".h5": Hdf5Writer,
           ".hdf5": Hdf5Writer, ".parquet": ParquetWriter}


@contextlib.contextmanager
def open_writer(path, n, d, dtype=np.float32, metric="cosine"):
    """Stream ``n`` rows of dimension ``d`` into ``path``, in the format its extension names.

    The file is written under a temporary name and renamed into place only when all ``n`` rows arrived:
    ``with open_writer(path, n, d) as w: w.write(block)``. ``metric`` names the distance in formats that
    carry one (HDF5's ``distance`` attribute).
    """
    from ..metric import ANN_DISTANCE, check_metric

    cls = WRITERS.get(Path(path).suffix.lower())
    if cls is None:
        raise SynthError(f"unknown output format {Path(path).suffix!r} (known: {', '.join(sorted(WRITERS))})",
                         path)
    if cls in (BigAnnWriter, FvecsWriter) and np.dtype(dtype) != np.float32:
        raise SynthError(f"{Path(path).suffix} holds float32 only", path)
    with atomic_path(path) as tmp:
        writer = cls(tmp, n, d, dtype)
        if cls is Hdf5Writer:
            writer.distance = ANN_DISTANCE[check_metric(metric)]
        try:
            yield writer
        finally:
            writer.close()
        if writer.written != writer.n:
            raise ValueError(f"wrote {writer.written} rows of the declared {writer.n}")


def write_vectors(path, X, dtype=np.float32):
    """Write a whole array with :func:`open_writer`."""
    X = np.asarray(X)
    with open_writer(path, len(X), X.shape[1], dtype) as w:
        w.write(X)


def write_json(path, obj):
    """Write JSON atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
