"""Peak memory of streaming a large corpus to disk with ``synth sample``, against the array it would take.

The sample runs as a child process (``python -m synth.cli sample ...``) so its peak resident set size is its
own (``os.wait4``'s ``ru_maxrss``), not this process's. Two figures put it in scale, both from the same run:
the floor (a child that only imports the sampler, faiss and numpy and loads the model) and the size of the
corpus as one in-memory array, which is what a sampler without streaming needs at least.
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from synth.progress import stage

FLOOR = "import sys, faiss, numpy, synth.cli, synth.sampling.stream; from synth.io.artifact import load_model; load_model(sys.argv[1])"


def _run(args, watch=None):
    """Run a child process; returns (seconds, peak RSS in bytes). Raises on a non-zero exit.

    ``watch``: ``(path, rows, row_bytes, header_bytes)`` of a raw file the child writes; on a terminal a bar
    follows its size (from a thread, so that the timing is not disturbed).
    """
    # stderr goes to a file, not a pipe: a child that filled a pipe nobody reads before wait4 would hang
    with tempfile.TemporaryFile() as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
        with _watching(watch):
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            log.seek(0)
            last = log.read().decode(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"{' '.join(map(str, args))} exited {proc.returncode}: {last[0] if last else ''}")
    return seconds, usage.ru_maxrss * 1024  # Linux reports kilobytes


@contextlib.contextmanager
def _watching(watch):
    """A bar of the rows in the growing file of ``watch`` (see :func:`_run`) while the block runs: the ETA of
    the child's sampling, which prints no progress of its own."""
    from synth.progress import show_bars

    if watch is None or not show_bars():
        yield
        return
    from tqdm.auto import tqdm

    path, rows, row_bytes, header = watch
    done = threading.Event()

    def follow():
        with tqdm(total=rows, unit="vec", unit_scale=True, desc="synth sample", leave=False) as bar:
            while not done.wait(0.5):
                try:
                    size = path.stat().st_size
                except OSError:  # not created yet, or renamed to the corpus at the end
                    continue
                bar.update(max(0, min(rows, (size - header) // row_bytes) - bar.n))

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def sample_memory(n=10_000_000, d=1024, out=None, dtype="float32", n_queries=0, k=0, threads=None,
                  chunk_size=65536, keep=False, random_state=0, verbose=0):
    """Stream ``n`` x ``d`` rows of a patch model to ``out`` (.fbin by default) and measure the child's peak RSS.

    The model is :func:`bench.throughput.lifted_model` (default patch parameters with 160 patches, fitted on the bundled rows
    mapped isometrically into ``d`` dimensions). ``out`` defaults to a temporary .fbin that is deleted
    afterwards (as is ``out`` unless ``keep``).

    Returns
    -------
    result : dict
        ``n``, ``d``, ``dtype``, ``file_bytes``, ``seconds``, ``vectors_per_s``, ``peak_rss_bytes``,
        ``floor_rss_bytes`` (imports + model only), ``array_bytes`` (the corpus as one array) and
        ``rss_vs_array`` = peak RSS / array bytes.
    """
    from synth.io.artifact import save_model

    from .throughput import lifted_model

    threads = threads or os.cpu_count()
    with tempfile.TemporaryDirectory(prefix="synth-memory-") as tmp:
        model = Path(tmp) / "model.synth"
        save_model(lifted_model(d, random_state), model)
        target = Path(out) if out else Path(tmp) / "corpus.fbin"
        stage("the floor: a process that imports synth and loads the model")
        _, floor = _run([sys.executable, "-c", FLOOR, str(model)])
        args = [sys.executable, "-m", "synth.cli", "sample", str(model), "-n", str(n), "-o", str(target),
                "--dtype", dtype, "--threads", str(threads), "--chunk-size", str(chunk_size),
                "--seed", str(random_state), "--force"]
        if n_queries and k:
            args += ["--queries", str(n_queries), "--neighbors", str(k)]
        stage(f"synth sample -n {n:,} ({d}-d, {dtype}) -> {target}, peak memory watched")
        partial = target.parent / f".{target.name}.partial"  # where the sampler writes the rows (synth.sampling.stream)
        try:
            seconds, peak = _run(args, watch=(partial, n, d * np.dtype(dtype).itemsize, 8))
            size = target.stat().st_size
        finally:
            if not keep:
                from synth.sampling.stream import truth_paths

                for p in [target, *truth_paths(target).values()]:
                    Path(p).unlink(missing_ok=True)
    array = n * d * np.dtype(dtype).itemsize
    return {"n": n, "d": d, "dtype": dtype, "threads": threads, "chunk_size": chunk_size, "queries": n_queries,
            "k": k, "file_bytes": size, "seconds": seconds, "vectors_per_s": n / seconds,
            "peak_rss_bytes": peak, "floor_rss_bytes": floor, "array_bytes": array, "rss_vs_array": peak / array}


def markdown(result):
    r = result
    gt = f", {r['queries']} queries with exact top-{r['k']}" if r["queries"] else ""
    return "\n".join([
        f"Streaming {r['n']:,} x {r['d']} {r['dtype']} to .fbin{gt} ({r['threads']} threads, chunk "
        f"{r['chunk_size']:,} rows); peak RSS of the `synth sample` process:", "",
        "| n | d | file GB | seconds | vectors/s | peak RSS MB | floor MB | array MB | RSS / array |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {r['n']:,} | {r['d']} | {r['file_bytes'] / 1e9:.1f} | {r['seconds']:.0f} | {r['vectors_per_s']:,.0f} | "
        f"{r['peak_rss_bytes'] / 2**20:,.0f} | {r['floor_rss_bytes'] / 2**20:,.0f} | "
        f"{r['array_bytes'] / 2**20:,.0f} | {r['rss_vs_array']:.4f} |"]) + "\n"


def write_outputs(result, out):
    """``memory.json`` and ``memory.md`` in folder ``out``."""
    from synth.io.formats import atomic_path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (("memory.json", json.dumps(result, indent=2) + "\n"), ("memory.md", markdown(result))):
        with atomic_path(out / name) as tmp:
            Path(tmp).write_text(text)
        paths.append(out / name)
    return paths
