import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synth.errors import SynthError
from synth.io.formats import count_duplicates, load_embeddings, open_writer, read_vectors, write_vectors

FORMATS = [".npy", ".fbin", ".fvecs", ".h5", ".parquet"]


@pytest.fixture
def vectors():
    X = np.random.default_rng(0).standard_normal((57, 12)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.parametrize("ext", FORMATS)
def test_write_read_round_trip(tmp_path, vectors, ext):
    path = tmp_path / f"x{ext}"
    write_vectors(path, vectors)
    np.testing.assert_array_equal(read_vectors(path), vectors)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


@pytest.mark.parametrize("ext", [".npy", ".h5", ".parquet"])
def test_float16_round_trip(tmp_path, vectors, ext):
    path = tmp_path / f"x{ext}"
    write_vectors(path, vectors, dtype=np.float16)
    got = read_vectors(path)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, vectors.astype(np.float16))


def test_streamed_chunks_equal_whole(tmp_path, vectors):
    path = tmp_path / "x.fbin"
    with open_writer(path, len(vectors), vectors.shape[1]) as w:
        for start in range(0, len(vectors), 10):
            w.write(vectors[start:start + 10])
    np.testing.assert_array_equal(read_vectors(path), vectors)


def test_failed_write_leaves_nothing_and_keeps_old_file(tmp_path, vectors):
    path = tmp_path / "x.npy"
    np.save(path, vectors[:3])
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with open_writer(path, len(vectors), vectors.shape[1]) as w:
            w.write(vectors[:10])
            raise RuntimeError("interrupted")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_short_write_is_refused(tmp_path, vectors):
    with pytest.raises(ValueError, match="wrote 10 rows of the declared 57"):
        with open_writer(tmp_path / "x.fbin", len(vectors), vectors.shape[1]) as w:
            w.write(vectors[:10])
    assert list(tmp_path.iterdir()) == []


def test_load_normalizes_and_counts_duplicates(tmp_path, vectors):
    X = np.concatenate([vectors * 3.0, vectors[:4] * 3.0]).astype(np.float64)
    np.save(tmp_path / "x.npy", X)
    U, info = load_embeddings(tmp_path / "x.npy")
    assert U.dtype == np.float32 and U.shape == X.shape
    np.testing.assert_allclose(np.linalg.norm(U, axis=1), 1, atol=1e-6)
    assert info["n_duplicates"] == 4 and info["d"] == 12 and info["dtype"] == "float64"
    assert count_duplicates(vectors) == 0


def test_npz_keys(tmp_path, vectors):
    np.savez(tmp_path / "one.npz", vecs=vectors)
    np.savez(tmp_path / "two.npz", a=vectors, b=vectors[:5])
    assert read_vectors(tmp_path / "one.npz").shape == vectors.shape
    assert read_vectors(tmp_path / "two.npz", key="b").shape == (5, 12)
    with pytest.raises(SynthError, match="choose one with --key"):
        read_vectors(tmp_path / "two.npz")
    with pytest.raises(SynthError, match="no array 'c'"):
        read_vectors(tmp_path / "two.npz", key="c")


def test_hdf5_key(tmp_path, vectors):
    import h5py

    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["train"], f["test"] = vectors, vectors[:5]
    assert read_vectors(tmp_path / "x.h5").shape == vectors.shape
    assert read_vectors(tmp_path / "x.h5", key="test").shape == (5, 12)
    with pytest.raises(SynthError, match="no dataset 'nope'"):
        read_vectors(tmp_path / "x.h5", key="nope")


def test_parquet_list_columns(tmp_path, vectors):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": np.arange(len(vectors)), "text": ["t"] * len(vectors),
                      "emb": pa.array(list(vectors.astype(np.float64)))})
    pq.write_table(table, tmp_path / "x.parquet")
    np.testing.assert_allclose(read_vectors(tmp_path / "x.parquet"), vectors, rtol=1e-6)
    with pytest.raises(SynthError, match="column 'text' is not a vector column"):
        read_vectors(tmp_path / "x.parquet", column="text")
    ragged = pa.table({"emb": pa.array([[1.0, 2.0], [1.0, 2.0, 3.0]])})
    pq.write_table(ragged, tmp_path / "ragged.parquet")
    with pytest.raises(SynthError, match="ragged: row 1 has 3 values"):
        read_vectors(tmp_path / "ragged.parquet")


def test_datasets_folders(tmp_path, vectors):
    import datasets

    ds = datasets.Dataset.from_dict({"vector": [list(v) for v in vectors]})
    ds.save_to_disk(tmp_path / "saved")
    np.testing.assert_allclose(read_vectors(tmp_path / "saved"), vectors, rtol=1e-6)
    datasets.DatasetDict({"train": ds, "test": ds.select(range(5))}).save_to_disk(tmp_path / "dict")
    assert read_vectors(tmp_path / "dict", split="test").shape == (5, 12)
    with pytest.raises(SynthError, match="no split 'dev'"):
        read_vectors(tmp_path / "dict", split="dev")
    hub = tmp_path / "hub" / "data"
    hub.mkdir(parents=True)
    write_vectors(hub / "train-00000-of-00001.parquet", vectors)
    got = read_vectors(tmp_path / "hub", column="emb")
    np.testing.assert_array_equal(got, vectors)


def test_hub_id_goes_through_datasets(monkeypatch, vectors):
    import datasets

    calls = []

    def fake_load(repo, name=None, split=None):
        calls.append((repo, name, split))
        return datasets.Dataset.from_dict({"emb": [list(v) for v in vectors]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    X = read_vectors("hf:owner/corpus", key="corpus", split="train")
    assert calls == [("owner/corpus", "corpus", "train")] and X.shape == vectors.shape

    def offline(*a, **k):
        raise ConnectionError("no network\nmore detail")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(SynthError, match=r"^hf:owner/x: could not load .*ConnectionError: no network\)$"):
        read_vectors("hf:owner/x")


@pytest.mark.parametrize("bad, problem", [
    (lambda X: X.__setitem__((3, 2), np.nan) or X, "row 3 contains NaN or infinite"),
    (lambda X: X.__setitem__((5, 0), np.inf) or X, "row 5 contains NaN or infinite"),
    (lambda X: X.__setitem__(7, 0.0) or X, "row 7 is all zeros"),
    (lambda X: X[0], "expected a 2-D array"),
    (lambda X: X.reshape(3, 19, 12), "expected a 2-D array"),
    (lambda X: X[:1], "at least 2 are needed"),
    (lambda X: X.astype(str), "not numbers"),
])
def test_bad_arrays_are_refused(tmp_path, vectors, bad, problem):
    path = tmp_path / "bad.npy"
    np.save(path, bad(vectors.copy()))
    with pytest.raises(SynthError, match=problem) as e:
        load_embeddings(path)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_bad_files_are_refused(tmp_path, vectors):
    write_vectors(tmp_path / "x.fbin", vectors)
    data = (tmp_path / "x.fbin").read_bytes()
    (tmp_path / "short.fbin").write_bytes(data[:-4])
    with pytest.raises(SynthError, match="header says 57 x 12"):
        read_vectors(tmp_path / "short.fbin")
    write_vectors(tmp_path / "x.fvecs", vectors)
    (tmp_path / "short.fvecs").write_bytes((tmp_path / "x.fvecs").read_bytes()[:-4])
    with pytest.raises(SynthError, match="not a multiple of the row size"):
        read_vectors(tmp_path / "short.fvecs")
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(SynthError, match="unknown format '.csv'"):
        read_vectors(tmp_path / "x.csv")
    np.save(tmp_path / "t.npy", vectors)
    (tmp_path / "trunc.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:200])
    with pytest.raises(SynthError, match="trunc.npy"):
        read_vectors(tmp_path / "trunc.npy")
    with pytest.raises(SynthError, match="no such file"):
        read_vectors(tmp_path / "missing.npy")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), ext=st.sampled_from([".npy", ".npz", ".fvecs", ".fbin", ".u8bin", ".h5",
                                                           ".parquet"]))
def test_arbitrary_bytes_give_an_array_or_a_synth_error(tmp_path, data, ext):
    path = tmp_path / f"fuzz{ext}"
    path.write_bytes(data)
    try:
        X = read_vectors(path)
    except SynthError as e:
        assert "\n" not in str(e)
    else:
        assert X.ndim == 2


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 50), d=st.integers(0, 50), extra=st.integers(-8, 8))
def test_fbin_header_must_match_size(tmp_path, n, d, extra):
    path = tmp_path / "h.fbin"
    count = max(n * d + extra, 0)
    path.write_bytes(np.array([n, d], dtype=np.uint32).tobytes() + np.ones(count, np.float32).tobytes())
    if count == n * d:
        assert read_vectors(path).shape == (n, d)
    else:
        with pytest.raises(SynthError, match="header says"):
            read_vectors(path)


def test_minilm_wordnet_all_reads_its_cache(tmp_path, monkeypatch):
    from synth.bundled import load_real

    monkeypatch.setenv("SYNTH_CACHE", str(tmp_path))
    rows = np.random.default_rng(0).standard_normal((50, 384)).astype(np.float32) * 3
    np.save(tmp_path / "minilm-wordnet-all.npy", rows)
    X = load_real("minilm-wordnet-all")
    assert X.shape == (50, 384) and np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-6)
    assert np.allclose(X, rows / np.linalg.norm(rows, axis=1, keepdims=True), atol=1e-6)
    (tmp_path / "minilm-wordnet-all.npy").write_bytes(b"not an array")
    with pytest.raises(SynthError, match="unreadable cache") as e:
        load_real("minilm-wordnet-all")
    assert "minilm-wordnet-all.npy" in str(e.value)
