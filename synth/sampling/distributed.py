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
    check_query_tie,
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


def _task(gen, out, n, seed, dtype, chunk_size, index, count, threads, n_queries, k, filters=None, query_tie=False):
    """One shard: its rows, its labels (a part file, from a model with a label model) and its partial top-k,
    unfiltered and per filter; a shard file finished by an earlier, interrupted run is read back."""
    from .attributes import attribute_model, row_values, write_attribute
    from .labels import PER_QUERY, FilteredTopK, label_model, query_labels, row_labels, write_labels

    target = out if Path(out).suffix == "" else shard_file(out, index, count)
    lm, am = label_model(gen), attribute_model(gen)
    if Path(out).suffix and Path(target).exists():
        from ..io.formats import read_vectors
        from .groundtruth import exact_neighbors

        start = shard_range(n, index, count)[0]
        rows = read_vectors(target)
        codes = row_labels(gen, rows, seed, start) if lm is not None else None
        if codes is not None:
            write_labels(out, codes, lm, start, (index, count))
        values = row_values(gen, rows, seed, start) if am is not None else None
        if values is not None:
            write_attribute(out, values, am, start, (index, count))
        if not (n_queries and k):
            return None
        queries = draw_queries(gen, seed, n_queries, np.dtype(dtype), chunk_size, tie=query_tie)
        ids, scores = exact_neighbors(rows, queries, k, offset=start)
        filtered = None
        if filters:
            qcodes = query_labels(gen, queries, seed) if PER_QUERY in filters else None
            top = FilteredTopK(queries, k, filters, getattr(gen, "metric", "cosine"), query_codes=qcodes)
            top.add(rows, start, codes, values)
            filtered = top.result(len(rows))
        return queries, ids, scores, filtered
    info = sample_to_file(gen, target, n, random_state=seed, dtype=dtype, chunk_size=chunk_size,
                          shard=(index, count), threads=threads, n_queries=n_queries, k=k, filters=filters,
                          query_tie=query_tie)
    if "labels" in info:
        write_labels(out, info["labels"], lm, info["start"], (index, count))
    if "attribute" in info:
        write_attribute(out, info["attribute"], am, info["start"], (index, count))
    if n_queries and k:
        return info["queries"], info["neighbors"], info["scores"], info.get("filtered")
    return None


def _merge_labels(out, n, count, lm):
    """The tasks' label part files joined into the corpus's labels file (:func:`synth.sampling.labels.write_labels`),
    then removed; returns the paths written."""
    from .labels import join_parts, label_files, write_labels

    codes = join_parts([label_files(out, (i, count))["labels"] for i in range(count)], n, out, "labels")
    return write_labels(out, codes, lm, 0, None)


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
                   query_hardness=None, selectivities=None, ranges=None, query_tie=False):
    """Sample a corpus (and its ground truth) with one Dask task per shard; the bytes equal a single-process run.

    Parameters
    ----------
    model : Generator or str
        A fitted model, or the path of a model file (read here, on the client).
    out : str or os.PathLike
        .npy, .fbin or .fvecs file, or a folder of VectorDBBench parquet shards (one per task; equal to a
        single-process run with ``files=n_tasks``). .h5 and single .parquet files are not split.
    n, random_state, dtype, chunk_size, threads, n_queries, k, query_hardness, query_tie
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
    selectivities : sequence of float, optional
        From a model with a label model: the filters' target shares, as `synth sample --filter-selectivity`
        (needs queries; each task finds its rows' filtered top-k, merged here).
    ranges : sequence of float, optional
        From a model with an attribute model: the range filters' target shares (and "query": a range per query),
        as `synth sample --range-selectivity`, likewise.

    A model with a label model labels every row, as a single-process run does: each task writes its rows' labels
    to a part file, joined here into the format's labels file (:mod:`synth.sampling.labels`); a model with an
    attribute model gives every row its value likewise (:mod:`synth.sampling.attributes`).

    Returns
    -------
    info : dict
        ``tasks``, ``d``, and when queries were asked for ``queries``, ``neighbors``, ``scores`` (merged); from a
        labelled model ``label_paths`` and ``classes``; from a model with an attribute model ``attribute_paths``;
        with filters ``filtered``, ``filters`` (the plan) and ``filters_path``.
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
    if query_tie:
        check_query_tie(gen)
        if not (n_queries and k):
            raise SynthError("--query-tie pull needs --queries and --neighbors")
    if ext and ext not in RAW_FORMATS:
        raise SynthError(f"Dask runs write .npy, .fbin, .fvecs or a parquet folder, not {ext}", out)
    from .attributes import attribute_model, merge_attribute, plan_ranges
    from .labels import PER_QUERY, label_model, plan_filters

    lm, am = label_model(gen), attribute_model(gen)
    filters = None
    if selectivities or ranges:
        if not (n_queries and k) or band:
            raise SynthError("filtered ground truth needs queries and neighbours, and is not written with "
                             "--query-hardness")
        filters = {**(plan_filters(gen, selectivities) if selectivities else {}),
                   **(plan_ranges(gen, ranges, random_state, n_drawn) if ranges else {})}
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
                                 n_drawn, k, filters, query_tie, pure=False) for i in range(count)]
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
    if lm is not None:
        info.update(label_paths=_merge_labels(out, n, count, lm), classes=len(lm.classes_))
    if am is not None:
        info["attribute_paths"] = merge_attribute(out, n, count, am)
    if filters:
        from .labels import query_labels, write_label_outputs

        merged = {}
        for name in filters:
            parts = [r[3][name] for r in results]
            ids, scores = merge_topk([(p[0], p[1]) for p in parts], k)
            share = sum(p[2] * (b - a) for p, (a, b) in zip(parts, (shard_range(n, i, count) for i in range(count))))
            merged[name] = (ids, scores, share / n)
        info["filtered"], info["filters"] = merged, filters
        found = {"queries": results[0][0], "filtered": merged}
        if PER_QUERY in filters:
            found["query_labels"] = query_labels(gen, results[0][0], random_state)
        written = write_label_outputs(out, found, lm, filters, dtype=dtype, metric=getattr(gen, "metric", "cosine"))
        info["filters_path"] = written["filters"]
        if written["query_labels"]:
            info["query_labels_path"] = written["query_labels"]
    if n_queries and k:
        ids, scores = merge_topk([(r[1], r[2]) for r in results], k)
        info.update(queries=results[0][0], neighbors=ids, scores=scores)
        if query_tie:  # what every task's pull did (the same queries in each): said once, drawn again here
            info["tie"] = {}
            draw_queries(gen, random_state, n_drawn, np.dtype(dtype), chunk_size, threads, tie=True,
                         report=info["tie"])
        if band:
            info.update(select_queries(gen, random_state, n, np.dtype(dtype), info["queries"], ids, scores,
                                       n_queries, band, chunk_size, threads))
        write_truth(out, info["queries"], info["neighbors"], info["scores"], dtype=dtype,
                    metric=getattr(gen, "metric", "cosine"))
    return info
