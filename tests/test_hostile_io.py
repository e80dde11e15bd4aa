"""Hostile conditions for the writers (issue 16): two writers at once, side files and folders that exist, a full
disk, killed runs' leftovers, outputs larger than the disk, damaged partial files.

Every attempt must end in one line naming the file, exit status != 0, no traceback, nothing left behind and the
user's files byte-identical.
"""

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main as bench_main
from synth.cli import main
from synth.errors import SynthError
from synth.io.artifact import save_model
from synth.io.formats import output_lock, read_vectors, write_json
from synth.models import PatchPCA
from synth.sampling.stream import CHECK_ROWS, sample_to_file

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


@pytest.fixture(scope="module")
def gen():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1500, 16)) + rng.standard_normal((5, 16))[rng.integers(5, size=1500)] * 2
    return PatchPCA(n_patches=6, rank=4, random_state=0).fit((X / np.linalg.norm(X, axis=1, keepdims=True)))


@pytest.fixture(scope="module")
def model(gen, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.safetensors"
    save_model(gen, path)
    return path


def run(*args, cli=main):
    return CliRunner().invoke(cli, [str(a) for a in args])


def snapshot(folder):
    """Every file below ``folder`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def assert_refused(r, path, problem):
    """Exit status != 0 and one line ``Error: PATH: ...problem...``, no traceback."""
    assert r.exit_code != 0, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    assert lines[0].startswith(f"Error: {path}: ") and problem in lines[0], lines[0]
    assert "Traceback" not in r.output and not isinstance(r.exception, (OSError, KeyError, ValueError))


def dead_pid():
    """The id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def wait_for(predicate, proc, seconds=60):
    end = time.monotonic() + seconds
    while time.monotonic() < end and proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# --------------------------------------------------------------------------------------------- 3: two writers
def test_a_second_writer_of_one_output_is_refused_in_one_line(gen, model, tmp_path):
    out, n = tmp_path / "data.fbin", 400_000
    cmd = [sys.executable, "-m", "synth.cli", "sample", str(model), "-n", str(n), "-o", str(out), "--seed", "4",
           "--chunk-size", "4096"]
    first = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: (tmp_path / ".data.fbin.partial").exists(), first), "the first run never started"
        first.send_signal(signal.SIGSTOP)  # hold it mid-write, lock taken, while the second one tries
        second = subprocess.run(cmd + ["--force"], env=ENV, capture_output=True, text=True)
    finally:
        first.send_signal(signal.SIGCONT)
    stdout, stderr = first.communicate(timeout=300)
    assert second.returncode != 0 and "Traceback" not in second.stderr
    assert second.stderr.strip() == f"Error: {out}: another synth process is writing it"
    assert first.returncode == 0, stderr
    assert f"to {out}" in stdout
    assert np.array_equal(read_vectors(out), gen.sample(n, random_state=4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.fbin"]  # no lock, partial or sidecar left


def test_the_lock_is_per_output_and_released(tmp_path):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    with output_lock(a), output_lock(b), output_lock(a):  # re-entrant in one process, independent per output
        assert (tmp_path / ".a.npy.lock").exists()
        held = subprocess.run([sys.executable, "-c", "import sys; from synth.io.formats import output_lock\n"
                               f"with output_lock({str(a)!r}): pass"], env=ENV, capture_output=True, text=True)
        assert held.returncode != 0 and "another synth process is writing it" in held.stderr
    assert not list(tmp_path.iterdir())
    free = subprocess.run([sys.executable, "-c", "from synth.io.formats import output_lock\n"
                           f"with output_lock({str(a)!r}): print('ok')"], env=ENV, capture_output=True, text=True)
    assert free.stdout.strip() == "ok"


def test_a_second_whole_folder_writer_is_refused(gen, tmp_path):
    out = tmp_path / "corpus"
    # the holder must be another process: within one process the lock is re-entrant
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; from synth.io.formats import output_lock\n"
                              f"with output_lock({str(out)!r}):\n print('held', flush=True); time.sleep(60)"],
                             env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(SynthError, match="another synth process is writing it"):
            sample_to_file(gen, out, 100, files=2)
    finally:
        child.kill()
        child.wait()
    assert not out.exists()


# --------------------------------------------------------------------------------------------- 7: existing outputs
@pytest.mark.parametrize("ext, sides", [(".fbin", ("data.queries.fbin", "data.gt.bin")),
                                        (".npy", ("data.queries.npy", "data.neighbors.npz")),
                                        (".parquet", ("data.test.parquet", "data.neighbors.parquet"))])
@pytest.mark.parametrize("present", [0, 1])
def test_side_files_are_not_replaced_without_force(model, tmp_path, ext, sides, present):
    side = tmp_path / sides[present]
    side.write_bytes(b"the user's own file")
    before = snapshot(tmp_path)
    r = run("sample", model, "-n", 1000, "-o", tmp_path / f"data{ext}", "--queries", 10, "--neighbors", 5)
    assert_refused(r, side, "exists already (use --force to overwrite)")
    assert snapshot(tmp_path) == before
    r = run("sample", model, "-n", 1000, "-o", tmp_path / f"data{ext}", "--queries", 10, "--neighbors", 5,
            "--force")
    assert r.exit_code == 0, r.output
    assert side.read_bytes() != b"the user's own file" and all((tmp_path / s).exists() for s in sides)


def test_a_shards_partial_truth_is_not_replaced_without_force(model, tmp_path):
    part = tmp_path / "s.fbin.neighbors-part-001-of-002.npz"
    part.write_bytes(b"keep")
    r = run("sample", model, "-n", 1000, "-o", tmp_path / "s.fbin", "--queries", 10, "--neighbors", 5,
            "--shard", "1/2")
    assert_refused(r, part, "exists already")
    assert sorted(p.name for p in tmp_path.iterdir()) == [part.name] and part.read_bytes() == b"keep"


def test_a_folder_of_other_files_is_not_written_into(model, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "test.parquet").write_bytes(b"mine")
    before = snapshot(tmp_path)
    r = run("sample", model, "-n", 1000, "-o", out, "--queries", 10, "--neighbors", 5)
    assert_refused(r, out, "holds other files (use --force")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", [("demo", "--n", 100), ("fidelity", "bundled", "--no-hnsw"),
                                     ("compare", "bundled", "--n", 200), ("run", "suite.h5"),
                                     ("scaling", "bundled"), ("cost", "bundled")])
def test_report_folders_are_not_overwritten_without_force(tmp_path, command):
    out = tmp_path / "reports"
    out.mkdir()
    for name in ("demo.json", "fidelity.md", "notes.txt"):
        (out / name).write_text(f"the user's {name}")
    before = snapshot(tmp_path)
    cli = main if command[0] == "demo" else bench_main
    t0 = time.perf_counter()
    r = run(*command, "--out", out, cli=cli)
    assert_refused(r, out, "exists and is not empty (use --force")  # before reading its inputs
    assert time.perf_counter() - t0 < 10  # refused before the work, not after it
    assert snapshot(tmp_path) == before
    assert "--force" in run(command[0], "--help", cli=cli).output


# --------------------------------------------------------------------------------------------- 8: disk full
class FullDisk:
    """A file whose writes fail with ENOSPC once ``room`` bytes were written, as on a full filesystem."""

    def __init__(self, f, room):
        self.f, self.room = f, room

    def write(self, data):
        size = memoryview(data).nbytes
        if size > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= size
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def fill_disk(monkeypatch, ext):
    """Make the low-level write of the writer of ``ext`` fail with ENOSPC part way."""
    import h5py
    import pyarrow.parquet as pq

    import synth.sampling.stream

    if ext in (".fbin", ".npy", ".fvecs"):
        def full_open(path, mode="r", *args, **kwargs):
            f = open(path, mode, *args, **kwargs)
            return FullDisk(f, 50_000) if "b" in mode and mode != "rb" else f

        monkeypatch.setattr(synth.sampling.stream, "open", full_open, raising=False)
    elif ext in (".h5",):
        monkeypatch.setattr(h5py.Dataset, "__setitem__", no_space)
    else:  # a single parquet file or a folder of them: pyarrow reports ENOSPC as an OSError without errno
        def full_table(self, *args, **kwargs):
            raise OSError("[Errno 28] Error writing bytes to file. Detail: No space left on device")

        monkeypatch.setattr(pq.ParquetWriter, "write_table", full_table)


@pytest.mark.parametrize("ext", [".fbin", ".npy", ".fvecs", ".h5", ".parquet", ""])
def test_a_full_disk_is_one_line_and_leaves_nothing(model, tmp_path, monkeypatch, ext):
    out = tmp_path / f"data{ext}"
    if ext:
        out.write_bytes(b"the previous corpus")  # replaced only by a complete one
    before = snapshot(tmp_path)
    fill_disk(monkeypatch, ext)
    r = run("sample", model, "-n", 20_000, "-o", out, "--chunk-size", 1000, "--force")
    assert_refused(r, out if ext else out / "train.parquet", "disk full: No space left on device")
    assert snapshot(tmp_path) == before
    assert ext or not out.exists()  # a folder the failed run made goes with it


def test_a_full_disk_while_writing_json_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "demo.json"
    path.write_text("{}")
    monkeypatch.setattr(Path, "write_text", no_space)
    with pytest.raises(SynthError, match="disk full") as e:
        write_json(path, {"a": 1})
    assert e.value.path == str(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.json"] and path.read_bytes() == b"{}"


def test_a_full_disk_in_publish_leaves_no_temporary_folder(model, tmp_path, monkeypatch):
    fill_disk(monkeypatch, "")
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "README.md").write_text("the previous card")
    before = snapshot(tmp_path)
    r = run("publish", model, "--n", 300, "--queries", 5, "--k", 5, "--out", tmp_path / "pub", "--force")
    assert_refused(r, tmp_path / "pub", "disk full")
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["pub"]


def test_a_quota_is_a_full_disk_too(model, tmp_path, monkeypatch):
    import h5py

    monkeypatch.setattr(h5py.Dataset, "__setitem__", lambda *a: (_ for _ in ()).throw(
        OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))))
    r = run("sample", model, "-n", 5000, "-o", tmp_path / "q.h5")
    assert_refused(r, tmp_path / "q.h5", "disk full: Disk quota exceeded")
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------------------------- 9: leftovers, size
@pytest.mark.parametrize("ext", [".h5", ".parquet"])
@pytest.mark.slow
def test_a_killed_runs_temporary_is_removed_by_the_next_run(gen, model, tmp_path, ext):
    out, n = tmp_path / f"big{ext}", 600_000
    cmd = [sys.executable, "-m", "synth.cli", "sample", str(model), "-n", str(n), "-o", str(out), "--seed", "2",
           "--chunk-size", "4096"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    temporaries = lambda: list(tmp_path.glob(f".big{ext}.*.tmp"))  # noqa: E731
    assert wait_for(lambda: temporaries() and temporaries()[0].stat().st_size > 0, proc)
    proc.kill()
    proc.wait()
    left = temporaries()
    assert left and not out.exists(), "the run finished before it could be killed"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        keep = tmp_path / f".big{ext}.{live.pid}.0123abcd.tmp"  # a live writer's: never touched
        keep.write_bytes(b"in use")
        done = subprocess.run(cmd[:-2] + ["--chunk-size", "65536"], env=ENV, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert not any(p.exists() for p in left) and keep.read_bytes() == b"in use"
    finally:
        live.kill()
        live.wait()
    assert np.array_equal(read_vectors(out), gen.sample(n, random_state=2))


def test_sigterm_removes_the_temporary_at_once(model, tmp_path):
    out = tmp_path / "t.h5"
    proc = subprocess.Popen([sys.executable, "-m", "synth.cli", "sample", str(model), "-n", "2000000", "-o",
                             str(out), "--chunk-size", "4096"], env=ENV, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: list(tmp_path.glob(".t.h5.*.tmp")), proc)
    proc.terminate()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in stderr
    assert not list(tmp_path.iterdir())


def test_stale_temporaries_of_folder_shards_and_publish_are_removed(gen, model, tmp_path):
    dead = dead_pid()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    stale = [corpus / f".{name}.{dead}.89abcdef.tmp" for name in ("train.parquet", "train-00-of-01.parquet")]
    for p in stale:  # the second: a temporary of the name written before VectorDBBench's rule was followed
        p.write_bytes(b"x" * 100)
    sample_to_file(gen, corpus, 500, force=True)
    assert not any(p.exists() for p in stale)
    stale_pub = tmp_path / f".pub.{dead}.0badcafe.tmp"
    (stale_pub / "corpus").mkdir(parents=True)
    (stale_pub / "corpus" / "train-00000-of-00001.parquet").write_bytes(b"x")
    other = tmp_path / f".public.{dead}.0badcafe.tmp"  # another output's: not this run's to judge
    other.mkdir()
    r = run("publish", model, "--n", 300, "--queries", 5, "--k", 5, "--out", tmp_path / "pub")
    assert r.exit_code == 0, r.output
    assert not stale_pub.exists() and other.exists()


def test_more_rows_than_a_fbin_header_holds_are_refused(model, tmp_path):
    r = run("sample", model, "-n", 2**32, "-o", tmp_path / "x.fbin")
    assert_refused(r, tmp_path / "x.fbin", "4,294,967,296 rows do not fit: the .fbin header")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("ext", [".npy", ".h5", ".parquet", ".fvecs", ""])
def test_an_output_larger_than_the_free_space_is_refused_with_the_numbers(model, tmp_path, ext):
    out = tmp_path / f"huge{ext}"
    r = run("sample", model, "-n", 10**13, "-o", out)
    # 10**13 rows of 16 float32 (and an int64 id in parquet), against the few GB a test machine has free
    need = {".parquet": "720.0 TB", "": "720.0 TB", ".fvecs": "680.0 TB"}.get(ext, "640.0 TB")
    assert_refused(r, out, f"needs {need}, ")
    assert re.search(r"needs [0-9.]+ TB, [0-9.]+ [kMGT]?B free$", r.output.strip())
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------------------------- 10: damaged partials
class Killed(Exception):
    pass


def interrupted(gen, out, n, rows, **kwargs):
    """Run :func:`sample_to_file` and stop it once ``rows`` rows were written, as a kill would."""
    seen = [0]

    def die(m):
        seen[0] += m
        if seen[0] >= rows:
            raise Killed

    with pytest.raises(Killed):
        sample_to_file(gen, out, n, progress=die, **kwargs)
    assert not out.exists()


@pytest.mark.parametrize("ext, header, row_bytes", [(".fbin", 8, 64), (".npy", 128, 64), (".fvecs", 0, 68)])
@pytest.mark.parametrize("bad_block", [0, 1, 2])
def test_a_flipped_byte_in_a_partial_file_is_regenerated_not_resumed(gen, tmp_path, ext, header, row_bytes,
                                                                     bad_block):
    n = 5 * CHECK_ROWS + 123
    ref, out = tmp_path / f"ref{ext}", tmp_path / f"x{ext}"
    expected = sample_to_file(gen, ref, n, random_state=7, n_queries=10, k=5)
    interrupted(gen, out, n, int(3.5 * CHECK_ROWS), random_state=7, chunk_size=700)
    partial = tmp_path / f".x{ext}.partial"
    assert len((tmp_path / f".x{ext}.partial.sums").read_text().split()) == 3  # three whole blocks checked
    data = bytearray(partial.read_bytes())
    where = header + (bad_block * CHECK_ROWS + 17) * row_bytes + row_bytes - 2  # high byte of a value
    data[where] ^= 0x7F  # the exponent bits: this float becomes NaN, inf or far off the sphere
    partial.write_bytes(bytes(data))
    info = sample_to_file(gen, out, n, random_state=7, n_queries=10, k=5, chunk_size=1000)
    assert info["resumed_rows"] == bad_block * CHECK_ROWS  # kept up to the damaged block, regenerated from it
    assert out.read_bytes() == ref.read_bytes()
    assert np.array_equal(info["neighbors"], expected["neighbors"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([ref.name, out.name])


def test_a_damaged_header_or_sidecar_is_rewritten(gen, model, tmp_path):
    n = 3 * CHECK_ROWS
    ref, out = tmp_path / "ref.fbin", tmp_path / "x.fbin"
    sample_to_file(gen, ref, n, random_state=1)
    interrupted(gen, out, n, 2 * CHECK_ROWS + 5, random_state=1, chunk_size=512)
    partial = tmp_path / ".x.fbin.partial"
    with open(partial, "r+b") as f:
        f.write(b"\xff\xff\xff\xff")  # the row count of the header
    assert sample_to_file(gen, out, n, random_state=1)["resumed_rows"] == 2 * CHECK_ROWS
    assert out.read_bytes() == ref.read_bytes()
    out.unlink()
    interrupted(gen, out, n, CHECK_ROWS + 5, random_state=1, chunk_size=512)
    (tmp_path / ".x.fbin.partial.json").write_bytes(b"\x00{not json")
    r = run("sample", model, "-n", n, "-o", out, "--seed", 1)
    assert r.exit_code == 0 and "resumed" not in r.output, r.output  # a sidecar it cannot read: start again
    assert out.read_bytes() == ref.read_bytes()



def test_a_partial_file_checksummed_by_an_older_version_is_regenerated_not_misread(gen, tmp_path):
    # versions before 2026-12-07 wrote blake2b sums and no "checksum" key in the sidecar
    n = 3 * CHECK_ROWS
    ref, out = tmp_path / "ref.fbin", tmp_path / "x.fbin"
    sample_to_file(gen, ref, n, random_state=2)
    interrupted(gen, out, n, 2 * CHECK_ROWS + 5, random_state=2, chunk_size=512)
    sidecar = tmp_path / ".x.fbin.partial.json"
    described = json.loads(sidecar.read_text())
    assert described.pop("checksum") == "crc32"
    sidecar.write_text(json.dumps(described))
    sums = tmp_path / ".x.fbin.partial.sums"
    sums.write_text("".join("0" * 32 + "\n" for _ in sums.read_text().split()))  # 128-bit digests
    assert sample_to_file(gen, out, n, random_state=2)["resumed_rows"] == 0
    assert out.read_bytes() == ref.read_bytes()


def test_a_full_disk_while_adding_truth_to_an_h5_leaves_the_corpus_whole(model, tmp_path, monkeypatch):
    import h5py

    import synth.sampling.stream

    out = tmp_path / "data.h5"
    assert run("sample", model, "-n", 2000, "-o", out).exit_code == 0
    corpus = out.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(synth.sampling.stream, "_add_h5_truth", full)
    truth = synth.sampling.stream.write_truth
    with pytest.raises(SynthError, match="disk full"):
        truth(out, np.ones((5, 16), np.float32), np.zeros((5, 3), np.int32), np.ones((5, 3), np.float32))
    # the corpus is untouched and no temporary is left beside it
    assert out.read_bytes() == corpus and sorted(p.name for p in tmp_path.iterdir()) == ["data.h5"]
    monkeypatch.undo()
    synth.sampling.stream.write_truth(out, np.ones((5, 16), np.float32), np.zeros((5, 3), np.int32),
                               np.ones((5, 3), np.float32))
    with h5py.File(out) as f:
        assert f["test"].shape == (5, 16) and f["neighbors"].shape == (5, 3) and len(f["train"]) == 2000
