"""The streaming sampler and its ground truth on a Dask cluster: one task per shard, same bytes as one process.

Each task runs :func:`synth.sampling.stream.sample_to_file` for shard i of N, so it writes exactly the rows a single
process would write there; the client merges the shards' partial top-k (a few kB each) and, for a single-file
output, concatenates the shard files' rows behind the whole corpus's header. The fitted model travels to the
workers pickled with the task; the output must be on a filesystem every worker and the client can reach
(NFS, a cluster filesystem, or a local disk for a local cluster).
"""

import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import SynthError
from ..io.formats import atomic_path
from .groundtruth import merge_topk
from .stream import (
    MANIFEST,
    RAW_FORMATS,
    _raw_header,
    candidate_count,
    check_query_hardness,
    check_target,
    draw_queries,
    sample_to_file,
    select_queries,
    shard_range,
    train_files,
    write_truth,
)


def shard_file(out, index, count):
    """Where task ``index`` of ``count`` writes its rows of a single-file output."""
    out = Path(out)
    return out.parent / f".{out.stem}.shard-{index:03d}-of-{count:03d}{out.suffix}"


def _task(gen, out, n, seed, dtype, chunk_size, index, count, threads, n_queries, k):
    target = out if Path(out).suffix == "" else shard_file(out, index, count)
    if Path(out).suffix and Path(target).exists():  # finished by an earlier, interrupted run: read it back
        if not (n_queries and k):
            return None
        from ..io.formats import read_vectors
        from .groundtruth import exact_neighbors

        queries = draw_queries(gen, seed, n_queries, np.dtype(dtype), chunk_size)
        ids, scores = exact_neighbors(read_vectors(target), queries, k, offset=shard_range(n, index, count)[0])
        return queries, ids, scores
    info = sample_to_file(gen, target, n, random_state=seed, dtype=dtype, chunk_size=chunk_size,
                          shard=(index, count), threads=threads, n_queries=n_queries, k=k)
    if n_queries and k:
        return info["queries"], info["neighbors"], info["scores"]
    return None


def _concatenate(out, n, d, dtype, count):
    """Join the shard files of a raw-format output into ``out`` (streamed: the header, then each shard's rows)."""
    out = Path(out)
    ext = out.suffix.lower()
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        f.write(_raw_header(ext, n, d, dtype))
        for i in range(count):
            a, b = shard_range(n, i, count)
            part = shard_file(out, i, count)
            skip = len(_raw_header(ext, b - a, d, dtype))
            with open(part, "rb") as src:
                src.seek(skip)
                shutil.copyfileobj(src, f, 64 << 20)
        f.flush()
        os.fsync(f.fileno())
    for i in range(count):
        shard_file(out, i, count).unlink()


def sample_on_dask(model, out, n, random_state=0, dtype="float32", chunk_size=65536, n_tasks=None, threads=1,
                   n_queries=0, k=0, scheduler=None, n_workers=None, force=False, client=None, progress=None,
                   query_hardness=None):
    """Sample a corpus (and its ground truth) with one Dask task per shard; the bytes equal a single-process run.

    Parameters
    ----------
    model : Generator or str
        A fitted model, or the path of a model file (read here, on the client).
    out : str or os.PathLike
        .npy, .fbin or .fvecs file, or a folder of VectorDBBench parquet shards (one per task; equal to a
        single-process run with ``files=n_tasks``). .h5 and single .parquet files are not split.
    n, random_state, dtype, chunk_size, threads, n_queries, k, query_hardness
        As in :func:`synth.sampling.stream.sample_to_file` (the tasks find the neighbours of every candidate
        query; the band is chosen once they are merged).
    n_tasks : int, optional
        Shards, one task each (default: twice the number of workers).
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``).
    n_workers : int, optional
        Without ``scheduler``: start a local cluster of this many single-threaded worker processes.
    client : distributed.Client, optional
        Use this client instead.
    progress : callable, optional
        Called with a shard's row count as each task finishes (a bar's ``update``).

    Returns
    -------
    info : dict
        ``tasks``, ``d``, and when queries were asked for ``queries``, ``neighbors``, ``scores`` (merged).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        from ..install import install_hint

        raise SynthError(f"running on Dask needs the dask extra: {install_hint('dask')}") from None

    from ..io.artifact import load_model

    gen = load_model(model) if isinstance(model, (str, os.PathLike)) else model
    out = Path(out)
    ext = out.suffix.lower()
    check_target(out, n)
    band = check_query_hardness(query_hardness, n_queries > 0 and k > 0, gen)
    n_drawn = candidate_count(n_queries, band) if band else n_queries
    if ext and ext not in RAW_FORMATS:
        raise SynthError(f"Dask runs write .npy, .fbin, .fvecs or a parquet folder, not {ext}", out)
    if ext == "" and force and (out / MANIFEST).exists():  # cleared here: tasks must not race to clear it
        for p in [*train_files(out), out / MANIFEST]:
            p.unlink()
    own = None
    if client is None:
        if scheduler:
            client = own = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=n_workers or 2, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = own = Client(cluster)
    try:
        count = n_tasks or 2 * max(1, len(client.scheduler_info()["workers"]))
        count = min(count, n)
        futures = [client.submit(_task, gen, str(out), n, random_state, dtype, chunk_size, i, count, threads,
                                 n_drawn, k, pure=False) for i in range(count)]
        if progress is not None:
            from distributed import as_completed

            shard = {future.key: i for i, future in enumerate(futures)}
            for future in as_completed(futures):
                a, b = shard_range(n, shard[future.key], count)
                progress(b - a)
        results = client.gather(futures)
    finally:
        if own is not None:
            cluster = own.cluster
            own.close()
            if cluster is not None and not scheduler:
                cluster.close()
    d = gen.n_features_
    if ext:
        _concatenate(out, n, d, np.dtype(dtype), count)
    info = {"tasks": count, "d": d}
    if n_queries and k:
        ids, scores = merge_topk([(r[1], r[2]) for r in results], k)
        info.update(queries=results[0][0], neighbors=ids, scores=scores)
        if band:
            info.update(select_queries(gen, random_state, n, np.dtype(dtype), info["queries"], ids, scores,
                                       n_queries, band, chunk_size, threads))
        write_truth(out, info["queries"], info["neighbors"], info["scores"], dtype=dtype,
                    metric=getattr(gen, "metric", "cosine"))
    return info
