import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import blobs

from synth.cli import main
from synth.errors import SynthError
from synth.io.artifact import save_model
from synth.io.formats import read_vectors
from synth.metrics.neighbors import knn
from synth.models import PatchPCA
from synth.sampling.groundtruth import exact_neighbors, merge_topk
from synth.sampling.stream import iter_rows, parse_shard, sample_to_file, shard_range

N = 10_000  # spans three 4,096-row blocks, so shards and chunks cut blocks


@pytest.fixture(scope="module")
def gen():
    return PatchPCA(n_patches=8, rank=4, random_state=0).fit(blobs())


@pytest.fixture(scope="module")
def gen384():
    """Real dimension and rank: multi-threaded BLAS would change the last bits of its products."""
    from synth.bundled import load_minilm_wordnet

    return PatchPCA(n_patches=6, rank=32, random_state=0).fit(load_minilm_wordnet()[:3000])


@pytest.fixture(scope="module")
def whole(gen):
    return gen.sample(N, random_state=3)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_shard_ranges_tile_the_corpus():
    for n, count in ((10, 3), (7, 7), (10_000, 6)):
        bounds = [shard_range(n, i, count) for i in range(count)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert parse_shard("2/5") == (2, 5)
    for bad in ("5/5", "x", "1/0", "-1/3"):
        with pytest.raises(SynthError):
            parse_shard(bad)


@pytest.mark.parametrize("chunk_size,threads", [(1000, 1), (4096, 3), (65536, 2), (333, 4)])
def test_rows_do_not_depend_on_chunks_or_threads(gen, whole, gen384, chunk_size, threads):
    got = np.concatenate(list(iter_rows(gen, 3, 1234, N, chunk_size, threads)))
    assert np.array_equal(got, whole[1234:])
    got = np.concatenate(list(iter_rows(gen384, 3, 1234, N, chunk_size, threads)))
    assert np.array_equal(got, gen384.sample(N, random_state=3)[1234:])


@pytest.mark.parametrize("ext", [".fbin", ".npy", ".fvecs"])
def test_shards_concatenated_equal_the_whole_file(gen, whole, tmp_path, ext):
    sample_to_file(gen, tmp_path / f"all{ext}", N, random_state=3, chunk_size=3000)
    parts = []
    for i in range(3):
        sample_to_file(gen, tmp_path / f"s{i}{ext}", N, random_state=3, chunk_size=777, shard=(i, 3), threads=2)
        parts.append(np.asarray(read_vectors(tmp_path / f"s{i}{ext}")))
    assert np.array_equal(np.concatenate(parts), whole)
    assert np.array_equal(read_vectors(tmp_path / f"all{ext}"), whole)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary left behind


def test_float16_files_hold_the_rounded_rows(gen, whole, tmp_path):
    sample_to_file(gen, tmp_path / "h.npy", N, random_state=3, dtype=np.float16)
    got = np.load(tmp_path / "h.npy")
    assert got.dtype == np.float16 and np.array_equal(got, whole.astype(np.float16))
    with pytest.raises(SynthError, match="float32 only"):
        sample_to_file(gen, tmp_path / "h.fbin", N, random_state=3, dtype=np.float16)


def test_resume_after_an_interruption_gives_the_same_bytes(gen, tmp_path):
    ref = tmp_path / "ref.fbin"
    sample_to_file(gen, ref, N, random_state=3, chunk_size=1000)
    out = tmp_path / "x.fbin"

    class Killed(Exception):
        pass

    def die_after(rows):
        die_after.seen += rows
        if die_after.seen >= 6000:
            raise Killed

    die_after.seen = 0
    with pytest.raises(Killed):
        sample_to_file(gen, out, N, random_state=3, chunk_size=1000, progress=die_after)
    assert not out.exists()
    partial = tmp_path / ".x.fbin.partial"
    with open(partial, "ab") as f:  # a torn last row, as a kill mid-write leaves
        f.write(b"\x01\x02\x03")
    info = sample_to_file(gen, out, N, random_state=3, chunk_size=2500, n_queries=20, k=5)
    assert info["resumed_rows"] == 4096  # the whole checksummed blocks (CHECK_ROWS) of the 6,000 rows written
    assert out.read_bytes() == ref.read_bytes()
    assert not partial.exists()
    # the ground truth also covers the rows kept from the first run
    ids, _ = exact_neighbors(read_vectors(ref), info["queries"], 5)
    assert np.array_equal(info["neighbors"], ids)


def test_a_changed_seed_does_not_resume(gen, tmp_path):
    out = tmp_path / "x.npy"

    def stop(rows):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sample_to_file(gen, out, N, random_state=1, chunk_size=1000, progress=stop)
    info = sample_to_file(gen, out, N, random_state=3)
    assert info["resumed_rows"] == 0
    assert np.array_equal(np.load(out), gen.sample(N, random_state=3))


@pytest.mark.slow
def test_resume_after_killing_the_process(gen, tmp_path):
    model = tmp_path / "m.safetensors"
    save_model(gen, model)
    out = tmp_path / "big.fbin"
    n = 300_000
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, "-m", "synth.cli", "sample", str(model), "-n", str(n), "-o", str(out), "--seed", "4",
           "--chunk-size", "4096"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = tmp_path / ".big.fbin.partial"
    for _ in range(600):  # wait until it has written something, then kill it mid-stream
        if partial.exists() and partial.stat().st_size > 600_000:  # more than one checksummed block
            break
        if proc.poll() is not None:
            break
        import time

        time.sleep(0.02)
    proc.kill()
    proc.wait()
    assert partial.exists() and not out.exists(), "the run finished before it could be killed"
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    assert "resumed after" in done.stdout
    got = read_vectors(out)
    assert got.shape == (n, 16)
    assert np.array_equal(got, gen.sample(n, random_state=4))


def test_parquet_folder_in_vectordbbench_layout(gen, whole, tmp_path):
    folder = tmp_path / "corpus"
    sample_to_file(gen, folder, N, random_state=3, files=3)
    names = sorted(p.name for p in folder.glob("*.parquet"))
    assert names == ["train-00-of-3.parquet", "train-01-of-3.parquet", "train-02-of-3.parquet"]
    tables = [pq.read_table(folder / name) for name in names]
    ids = np.concatenate([t.column("id").to_numpy() for t in tables])
    emb = np.concatenate([read_vectors(folder / name) for name in names])
    assert np.array_equal(ids, np.arange(N)) and np.array_equal(emb, whole)
    # one shard written alone is byte-identical to the same file of the whole run
    other = tmp_path / "other"
    sample_to_file(gen, other, N, random_state=3, shard=(1, 3))
    assert (other / names[1]).read_bytes() == (folder / names[1]).read_bytes()
    # a rerun keeps finished files; a different seed is refused
    before = (folder / names[0]).stat().st_mtime_ns
    (folder / names[2]).unlink()
    info = sample_to_file(gen, folder, N, random_state=3, files=3)
    assert info["resumed_rows"] == shard_range(N, 2, 3)[0]
    assert (folder / names[0]).stat().st_mtime_ns == before
    with pytest.raises(SynthError, match="other parameters"):
        sample_to_file(gen, folder, N, random_state=4, files=3)


def vectordbbench_train_files(file_count):
    """VectorDBBench's training file names for a custom dataset with the default names, reimplemented from
    zilliztech/VectorDBBench vectordb_bench/backend/utils.py ``compose_train_files`` (which
    vectordb_bench/backend/dataset.py ``CustomDataset.train_files`` calls for ``file_num > 1``; same in the
    2.0.0 wheel): one file is ``train.parquet``; else ``f"train-{str(i).rjust(2, '0')}-of-{train_count}.parquet"``,
    the index zero-padded to two digits, the count not padded."""
    if file_count == 1:
        return ["train.parquet"]
    return [f"train-{str(i).rjust(2, '0')}-of-{file_count}.parquet" for i in range(file_count)]


@pytest.mark.parametrize("files", [1, 2, 11])
def test_sample_folder_has_the_files_vectordbbench_selects(gen, tmp_path, files):
    model = tmp_path / "m.safetensors"
    save_model(gen, model)
    out, n = tmp_path / "corpus", 2000
    r = run("sample", model, "-n", n, "-o", out, "--seed", 3, "--files", files, "--queries", 5, "--neighbors", 3)
    assert r.exit_code == 0, r.output
    selected = vectordbbench_train_files(files)
    assert sorted(p.name for p in out.glob("train*")) == sorted(selected)
    assert {"test.parquet", "neighbors.parquet"} <= {p.name for p in out.iterdir()}
    # in VectorDBBench's order the files hold rows 0 .. n-1 in order
    ids = np.concatenate([pq.read_table(out / name).column("id").to_numpy() for name in selected])
    emb = np.concatenate([read_vectors(out / name) for name in selected])
    assert np.array_equal(ids, np.arange(n)) and np.array_equal(emb, gen.sample(n, random_state=3))


@pytest.mark.parametrize("files", [1, 3])
def test_a_folder_with_the_old_file_names_is_renamed_on_rerun(gen, tmp_path, files):
    """Folders written before the VectorDBBench names (train-00-of-01.parquet ...) are kept, under the new names."""
    out, n = tmp_path / "corpus", 2000
    sample_to_file(gen, out, n, random_state=3, files=files)
    new = vectordbbench_train_files(files)
    old = [f"train-{i:02d}-of-{files:02d}.parquet" for i in range(files)]
    expected = {name: (out / name).read_bytes() for name in new}
    for a, b in zip(new, old):
        (out / a).rename(out / b)
    info = sample_to_file(gen, out, n, random_state=3, files=files)
    assert info["resumed_rows"] == n
    assert sorted(p.name for p in out.glob("train*")) == sorted(new)
    assert all((out / name).read_bytes() == data for name, data in expected.items())
    # a damaged file under the old name is removed and its rows written under the new one
    (out / new[-1]).rename(out / old[-1])
    (out / old[-1]).write_bytes(b"damaged")
    info = sample_to_file(gen, out, n, random_state=3, files=files)
    assert info["resumed_rows"] == shard_range(n, files - 1, files)[0]
    assert sorted(p.name for p in out.glob("train*")) == sorted(new)
    assert (out / new[-1]).read_bytes() == expected[new[-1]]


@pytest.mark.parametrize("files", [1, 3])
def test_vectordbbench_loader_reads_the_sample_folder(gen, tmp_path, monkeypatch, files):
    monkeypatch.setenv("LOG_FILE", str(tmp_path / "vectordb_bench.log"))  # its import makes ./logs/ otherwise
    pytest.importorskip("vectordb_bench")
    from vectordb_bench.backend.clients import MetricType
    from vectordb_bench.backend.dataset import CustomDataset, ParquetDatasetManager
    from vectordb_bench.backend.filter import NonFilter

    model = tmp_path / "m.safetensors"
    save_model(gen, model)
    out, n, k = tmp_path / "corpus", 3000, 10
    r = run("sample", model, "-n", n, "-o", out, "--seed", 3, "--files", files, "--queries", 20, "--neighbors", k)
    assert r.exit_code == 0, r.output
    # as its custom-dataset case builds it (vectordb_bench/backend/cases.py), with the default file names
    data = CustomDataset(name="synth", size=n, dim=gen.n_features_, metric_type=MetricType.COSINE,
                         use_shuffled=False, with_gt=True, dir=str(out), file_num=files)
    manager = ParquetDatasetManager(data=data)
    assert manager.prepare(filters=NonFilter(gt_file_name="neighbors.parquet"), k=k)
    assert manager.train_files == vectordbbench_train_files(files)
    batches = list(manager.iter_batches(700))
    ids = np.concatenate([b["id"].to_numpy() for b in batches])
    emb = np.stack([v for b in batches for v in b["emb"]]).astype(np.float32)
    assert np.array_equal(ids, np.arange(n)) and np.array_equal(emb, gen.sample(n, random_state=3))
    assert len(manager.test_data) == 20 and manager.gt_data.row_count == 20 and manager.gt_data.width == k


def test_blockwise_ground_truth_is_exact_and_merges_across_shards(gen, whole):
    Q = gen.sample(50, random_state=99)
    sims, ids = knn(whole, Q, k=10)
    got_ids, got_scores = exact_neighbors(whole, Q, 10, block_rows=999)
    assert np.array_equal(got_ids, ids)
    np.testing.assert_allclose(got_scores, sims, atol=1e-6)
    stream = exact_neighbors(iter_rows(gen, 3, 0, N, 1500), Q, 10)
    assert np.array_equal(stream[0], ids)
    parts = [exact_neighbors(whole[a:b], Q, 10, offset=a) for a, b in (shard_range(N, i, 4) for i in range(4))]
    merged = merge_topk(parts, 10)
    assert np.array_equal(merged[0], ids)
    assert np.all(np.diff(merged[1], axis=1) <= 0)


def test_merge_breaks_ties_by_smaller_id():
    a = (np.array([[5, 7]]), np.array([[0.9, 0.5]], np.float32))
    b = (np.array([[2, -1]]), np.array([[0.5, 0.0]], np.float32))
    ids, scores = merge_topk([a, b], 3)
    assert ids.tolist() == [[5, 2, 7]] and scores[0].tolist() == pytest.approx([0.9, 0.5, 0.5])


def test_cli_sample_with_queries_and_neighbors(gen, whole, tmp_path):
    import h5py

    model = tmp_path / "m.safetensors"
    save_model(gen, model)
    r = run("sample", model, "-n", N, "-o", tmp_path / "c.h5", "--seed", 3, "--queries", 30, "--neighbors", 10,
            "--threads", 2)
    assert r.exit_code == 0, r.output
    with h5py.File(tmp_path / "c.h5") as f:
        assert np.array_equal(f["train"][()], whole)
        sims, ids = knn(whole, f["test"][()], k=10)
        assert np.array_equal(f["neighbors"][()], ids)
        np.testing.assert_allclose(f["distances"][()], 1 - sims, atol=1e-6)
    # sharded runs leave partial ground truth that merges to the same neighbours
    parts = []
    for i in range(3):
        out = tmp_path / f"s{i}.fbin"
        r = run("sample", model, "-n", N, "-o", out, "--seed", 3, "--queries", 30, "--neighbors", 10,
                "--shard", f"{i}/3")
        assert r.exit_code == 0, r.output
        parts.append(f"{out}.neighbors-part-{i:03d}-of-003.npz")
    r = run("merge-neighbors", tmp_path / "all.fbin", *parts, "--neighbors", 10)
    assert r.exit_code == 0, r.output
    raw = np.fromfile(tmp_path / "all.gt.bin", dtype=np.int32)
    assert raw[:2].tolist() == [30, 10]
    assert np.array_equal(raw[2:2 + 300].reshape(30, 10), ids)
    r = run("sample", model, "-n", N, "-o", tmp_path / "q.npy", "--queries", 5)
    assert r.exit_code == 1 and "go together" in r.output


@pytest.mark.slow
def test_dask_run_gives_the_bytes_of_the_single_process_run(gen384, tmp_path):
    pytest.importorskip("distributed")
    from synth.sampling.distributed import sample_on_dask

    gen, n = gen384, 9000
    single, on_dask = tmp_path / "single", tmp_path / "dask"
    info = sample_to_file(gen, single, n, random_state=5, files=3, n_queries=20, k=7, chunk_size=700)
    from synth.sampling.stream import write_truth

    write_truth(single, info["queries"], info["neighbors"], info["scores"])
    ref = gen.sample(n, random_state=5)
    got = sample_on_dask(gen, on_dask, n, random_state=5, n_tasks=3, n_workers=2, n_queries=20, k=7)
    got_fbin = sample_on_dask(gen, tmp_path / "d.fbin", n, random_state=5, n_tasks=4, n_workers=2)
    names = sorted(p.name for p in single.iterdir())
    assert names == sorted(p.name for p in on_dask.iterdir())
    for name in names:
        assert (single / name).read_bytes() == (on_dask / name).read_bytes(), name
    assert got["tasks"] == 3 and np.array_equal(got["neighbors"], knn(ref, info["queries"], k=7)[1])
    assert got_fbin["tasks"] == 4 and np.array_equal(read_vectors(tmp_path / "d.fbin"), ref)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_a_shard_starting_while_another_writes_the_folder_manifest_goes_ahead(gen, tmp_path):
    # the window Dask tasks raced into: another shard has made the folder and is renaming its manifest in
    from synth.io.formats import temporary_name
    from synth.sampling.stream import MANIFEST

    out = tmp_path / "corpus"
    out.mkdir()
    temporary_name(out / MANIFEST).write_text("{")
    sample_to_file(gen, out, 1000, random_state=3, shard=(0, 2))
    sample_to_file(gen, out, 1000, random_state=3, shard=(1, 2))
    whole = tmp_path / "whole"
    sample_to_file(gen, whole, 1000, random_state=3, files=2)
    for name in ("train-00-of-2.parquet", "train-01-of-2.parquet"):
        assert (out / name).read_bytes() == (whole / name).read_bytes()
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("mine")
    with pytest.raises(SynthError, match="holds other files"):
        sample_to_file(gen, tmp_path / "theirs", 1000, random_state=3, shard=(0, 2))


def test_merge_neighbors_finds_a_folder_corpus_parts_itself(gen, whole, tmp_path):
    model = tmp_path / "m.safetensors"
    save_model(gen, model)
    for i, out in enumerate([f"{tmp_path / 'corpus'}/", tmp_path / "corpus"]):  # with and without the slash
        r = run("sample", model, "-n", N, "-o", out, "--seed", 3, "--queries", 30, "--neighbors", 10,
                "--shard", f"{i}/2")
        assert r.exit_code == 0, r.output
    parts = sorted(p.name for p in (tmp_path / "corpus").glob("*neighbors-part-*"))
    assert parts == ["neighbors-part-000-of-002.npz", "neighbors-part-001-of-002.npz"]  # not dot-files
    r = run("merge-neighbors", f"{tmp_path / 'corpus'}/", "--neighbors", 10)
    assert r.exit_code == 0, r.output
    assert r.output.startswith("merged 2 parts: 30 queries")
    queries = pq.read_table(tmp_path / "corpus" / "test.parquet").column("emb").to_numpy(zero_copy_only=False)
    _, ids = knn(whole, np.stack(queries).astype(np.float32), k=10)
    got = pq.read_table(tmp_path / "corpus" / "neighbors.parquet").column("neighbors_id").to_pylist()
    assert np.array_equal(np.array(got), ids)
    (tmp_path / "corpus" / parts[1]).unlink()
    r = run("merge-neighbors", tmp_path / "corpus", "--neighbors", 10)
    assert r.exit_code == 1 and "found 1 partial ground-truth files" in r.output and "Traceback" not in r.output


def test_cli_sample_uses_every_core_by_default_and_the_bytes_do_not_change(gen, tmp_path, monkeypatch):
    import synth.cli
    import synth.sampling.stream

    model = tmp_path / "m.safetensors"
    save_model(gen, model)
    used, real_iter_rows = [], synth.sampling.stream.iter_rows

    def spy(gen, seed, start, stop, chunk_size=65536, threads=1):
        used.append(threads)
        return real_iter_rows(gen, seed, start, stop, chunk_size, threads)

    monkeypatch.setattr(synth.sampling.stream, "iter_rows", spy)
    monkeypatch.setattr(synth.cli, "usable_cores", lambda: 3)
    assert run("sample", model, "-n", 9000, "-o", tmp_path / "default.fbin", "--seed", 4).exit_code == 0
    assert used and set(used) == {3}
    first = len(used)
    assert run("sample", model, "-n", 9000, "-o", tmp_path / "one.fbin", "--seed", 4, "--threads", 1).exit_code == 0
    assert set(used[first:]) == {1}
    assert (tmp_path / "default.fbin").read_bytes() == (tmp_path / "one.fbin").read_bytes()
