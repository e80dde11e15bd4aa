"""Several labels per row: `synth fit --labels FILE --multi-label` (a tag model), tagged `synth sample` outputs with
big-ann-benchmarks' filtered-track metadata and ground truth under all of a query's tags."""
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_one_line_error, blobs

from synth.cli import main
from synth.io.artifact import load_model, model_bytes
from synth.models import PatchPCA
from synth.models.labels import LabelModel
from synth.models.tags import TagModel, read_tags, tag_matrix, tag_purity, tag_uniforms

SMALL = ("--patches", 6, "--rank", 4, "--noise-scale", 1)


def run(*args, cli=main):
    return CliRunner().invoke(cli, [str(a) for a in args])


def tagged(n=3000, d=16, seed=0):
    """Blobs with tags: one of five directions' ``a`` tag (80% of rows), one of three others' ``b`` tag (60%), a tag
    ``noise`` regardless of place (10%), and a tag ``rare`` on 10 rows; as text lines."""
    rng = np.random.default_rng(seed)
    X = blobs(n, d, 5, seed)
    A = np.argmax(X @ np.linalg.qr(rng.standard_normal((d, 5)))[0], axis=1)
    B = np.argmax(X @ np.linalg.qr(rng.standard_normal((d, 3)))[0], axis=1)
    lines = []
    for i in range(n):
        tags = {f"a{A[i]}"} if rng.random() < 0.8 else set()
        tags |= {f"b{B[i]}"} if rng.random() < 0.6 else set()
        tags |= {"noise"} if rng.random() < 0.1 else set()
        tags |= {"rare"} if i < 10 else set()
        lines.append(", ".join(sorted(tags)))
    return X, lines


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tagged real corpus, its tags file and the model `synth fit --multi-label` writes from them."""
    folder, (X, lines) = tmp_path_factory.mktemp("tagged"), tagged()
    np.save(folder / "real.npy", X)
    (folder / "tags.txt").write_text("".join(f"{line}\n" for line in lines))
    fitted = run("fit", folder / "real.npy", "--labels", folder / "tags.txt", "--multi-label", "-o",
                 folder / "m.safetensors", *SMALL)
    assert fitted.exit_code == 0, fitted.output
    return folder, X, lines, fitted.output


def test_read_tags_splits_commas_and_keeps_empty_rows(tmp_path):
    (tmp_path / "t.txt").write_text("b, a\n\na,a\n")
    assert read_tags(tmp_path / "t.txt", 3) == [("a", "b"), (), ("a",)]
    Y = tag_matrix(read_tags(tmp_path / "t.txt"), ["a"])
    assert Y.tolist() == [[True], [False], [True]]


def test_tag_purity_is_label_purity_for_one_label_per_row():
    from synth.models.labels import label_purity

    X = blobs(500, 8, 4, 1)
    y = np.argmax(X[:, :4], axis=1)
    from synth.models.labels import _neighbours

    Y = np.eye(4, dtype=bool)[y]
    assert abs(tag_purity(Y, _neighbours(X)) - label_purity(X, y)) < 1e-9


def test_the_tag_model_matches_real_shares_and_purity_and_drops_rare_tags(data):
    folder, X, lines, output = data
    gen = load_model(folder / "m.safetensors")
    tm = gen.label_model_
    assert isinstance(tm, TagModel) and tm.classes_ == ["a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "noise"]
    assert tm.fit_info_["dropped_tags"] == 1 and "1 rarer tags dropped" in output
    assert abs(tm.fit_info_["fake_purity"] - tm.fit_info_["real_purity"]) < 0.01
    Y = tag_matrix([tuple(t.strip() for t in line.split(",") if t) for line in lines], tm.classes_)
    F = gen.sample(3000, random_state=5)
    Z = tm.tags(F, tag_uniforms(5, 0, 3000, len(tm.classes_)))
    assert np.abs(Z.mean(axis=0) - Y.mean(axis=0)).max() < 0.04  # each tag's share, drawn
    # the gate: rows without tags are as common as among real rows (tags come in bundles)
    assert tm.gate_ is not None and abs((~Z.any(axis=1)).mean() - (~Y.any(axis=1)).mean()) < 0.04
    from synth.models.labels import _neighbours

    assert abs(tag_purity(Z, _neighbours(F)) - tag_purity(Y, _neighbours(X))) < 0.05
    # tags follow the geometry: a fake's ``a`` tag is mostly the one its nearest real row carries
    from synth.metrics.neighbors import knn

    _, ids = knn(X, F[:500], k=1)
    a = slice(0, 5)
    both = Z[:500, a].any(axis=1) & Y[ids[:, 0], a].any(axis=1)
    assert np.mean(np.argmax(Z[:500, a], 1)[both] == np.argmax(Y[ids[:, 0], a], 1)[both]) > 0.6
    # ``noise`` is regardless of place, ``a0`` is not: the fitted weights say so
    assert np.linalg.norm(tm.coef_[-1]) < 0.5 * np.linalg.norm(tm.coef_[0])
    # the file round-trips to its own bytes
    assert model_bytes(gen, gen.header_["fit_data"], gen.header_["stats"], gen.header_["fit_check"]) == \
        (folder / "m.safetensors").read_bytes()
    assert gen.header_["labels"]["kind"] == "tags"


def test_a_one_label_file_stays_on_the_one_label_path(data, tmp_path):
    """Without --multi-label a file with commas is one label per line (its model file has no 'kind'), and the label
    uniforms of one label per row are those of before the tag stream was added."""
    folder = data[0]
    (tmp_path / "one.txt").write_text("\n".join(line.split(",")[0] for line in data[2]) + "\n")
    r = run("fit", folder / "real.npy", "--labels", tmp_path / "one.txt", "-o", tmp_path / "m.safetensors", *SMALL)
    assert r.exit_code == 0, r.output
    gen = load_model(tmp_path / "m.safetensors")
    assert type(gen.label_model_) is LabelModel and "kind" not in gen.header_["labels"]
    u = np.random.default_rng(np.random.SeedSequence(3, spawn_key=(0x1ABE1, 0))).random(65536)
    from synth.models.labels import label_uniforms

    assert np.array_equal(label_uniforms(3, 10, 20), u[10:20])
    # the tag stream: row r's uniforms do not depend on the range asked
    assert np.array_equal(tag_uniforms(3, 4000, 4200, 5)[100:], tag_uniforms(3, 4100, 4200, 5))


def test_tag_errors_are_one_line_and_leave_nothing(data, tmp_path):
    folder = data[0]
    (tmp_path / "short.txt").write_text("a\nb\n")
    r = run("fit", folder / "real.npy", "--labels", tmp_path / "short.txt", "--multi-label", "-o",
            tmp_path / "m.safetensors", *SMALL)
    assert_one_line_error(r, tmp_path / "short.txt", "2 lines of tags for 3,000 rows")
    (tmp_path / "few.txt").write_text("a\n" * 10 + "\n" * 2990)
    r = run("fit", folder / "real.npy", "--labels", tmp_path / "few.txt", "--multi-label", "-o",
            tmp_path / "m.safetensors", *SMALL)
    assert_one_line_error(r, folder / "real.npy", "no tag is carried by at least 20 rows")
    r = run("fit", folder / "real.npy", "--multi-label", "-o", tmp_path / "m.safetensors", *SMALL)
    assert r.exit_code == 1 and "--multi-label needs --labels" in r.output
    assert not (tmp_path / "m.safetensors").exists()


def test_a_stored_tag_model_of_the_wrong_shape_is_refused(data, tmp_path):
    gen = load_model(data[0] / "m.safetensors")
    tm = gen.label_model_
    with pytest.raises(ValueError):
        TagModel()._set_arrays(tm._arrays(), tm.classes_[:-1])
    again = TagModel()._set_arrays(tm._arrays(), tm.classes_)
    F = PatchPCA(n_patches=6, rank=4, noise_scale=1.0, random_state=0).fit(data[1]).sample(200, random_state=1)
    assert np.allclose(again.proba(F), tm.proba(F))


def _spmat(path):
    """A .spmat read as big-ann-benchmarks' dataset_io reads it (int64 sizes and row pointers, int32 columns, float32
    values), as a scipy CSR matrix."""
    from scipy.sparse import csr_matrix

    with open(path, "rb") as f:
        nrow, ncol, nnz = np.fromfile(f, np.int64, 3)
        indptr = np.fromfile(f, np.int64, nrow + 1)
        indices = np.fromfile(f, np.int32, nnz)
        return csr_matrix((np.fromfile(f, np.float32, nnz), indices, indptr), shape=(nrow, ncol))


def _truth_under_all(base, queries, Y, ids, k):
    """Brute force: each query's top-k (by inner product, ties in row order) among the rows carrying all tags
    ``ids``, -1 past the rows there are."""
    keep = np.flatnonzero(Y[:, list(ids)].all(axis=1))
    order = keep[np.argsort(-(queries @ base[keep].T), axis=1, kind="stable")[:, :k]]
    return np.pad(order, ((0, 0), (0, k - order.shape[1])), constant_values=-1)


def _read_truth(path, name):
    import pyarrow.parquet as pq

    if name == "base.fbin":
        with open(path, "rb") as fh:
            qn, k = np.fromfile(fh, np.uint32, 2)
            return np.fromfile(fh, np.int32, qn * k).reshape(qn, k)
    return np.array(pq.read_table(path).to_pydict()["neighbors_id"])


@pytest.mark.parametrize("name", ["base.fbin", "base.parquet", "folder"])
def test_sample_writes_tag_sets_and_exact_truth_under_all_of_a_querys_tags(data, tmp_path, name):
    """Rows' tag sets as big-ann's .spmat (several non-zeros per row) or a parquet list column; a filter of share S
    keeps the rows carrying its tag; the per-query filter gives each query one or two tags (written as big-ann's
    query metadata) and its truth is its top-k among the rows carrying all of them: each against brute force."""
    import json

    import pyarrow.parquet as pq

    from synth.sampling.stream import iter_rows, sample_to_file

    model, out = data[0] / "m.safetensors", tmp_path / name
    sampled = run("sample", model, "-n", 2000, "-o", out, "--queries", 40, "--neighbors", 5, "--filter-selectivity",
                  "0.05,0.5,query", "--seed", 2)
    assert sampled.exit_code == 0 and "tags per row" in sampled.output, sampled.output
    gen = load_model(model)
    tags = gen.label_model_.classes_
    base = np.concatenate(list(iter_rows(gen, 2, 0, 2000)))
    Y = gen.label_model_.tags(base, tag_uniforms(2, 0, 2000, len(tags)))
    assert 1.2 < Y.sum(axis=1).mean() < 1.8  # several tags per row (the real rows carry 1.5)
    where = out if name == "folder" else tmp_path
    if name == "base.fbin":
        got = _spmat(tmp_path / "base.labels.spmat").toarray() > 0
        qm = _spmat(tmp_path / "base.queries.labels.spmat")
        qtags = [tuple(qm.indices[qm.indptr[i]:qm.indptr[i + 1]]) for i in range(qm.shape[0])]
    else:
        t = pq.read_table(out / "scalar_labels.parquet" if name == "folder" else tmp_path / "base.labels.parquet")
        got = tag_matrix(t.to_pydict()["labels"], tags)
        assert t.schema.field("labels").type.value_type == "string"  # a list column of tag names
        qfile = out / "test_labels.parquet" if name == "folder" else tmp_path / "base.queries.labels.spmat"
        if name == "folder":
            qtags = [tuple(tags.index(x) for x in row) for row in pq.read_table(qfile).to_pydict()["labels"]]
        else:
            qm = _spmat(qfile)
            qtags = [tuple(qm.indices[qm.indptr[i]:qm.indptr[i + 1]]) for i in range(qm.shape[0])]
    assert np.array_equal(got, Y)
    assert {len(q) for q in qtags} == {1, 2} and len(qtags) == 40
    queries = sample_to_file(gen, tmp_path / "q.npy", 2000, random_state=2, n_queries=40, k=5)["queries"]
    meta = json.loads((where / ("filters.json" if name == "folder" else "base.filters.json")).read_text())
    for key, f in meta.items():
        truth = _read_truth(where / f["file"], name)
        if key == "query":
            expect = np.array([_truth_under_all(base, queries[q:q + 1], Y, c, 5)[0] for q, c in enumerate(qtags)])
            share = np.mean([Y[:, list(c)].all(axis=1).mean() for c in qtags])
        else:
            assert len(f["ids"]) == 1 and tags[f["ids"][0]] == f["classes"][0]
            expect, share = _truth_under_all(base, queries, Y, f["ids"], 5), Y[:, f["ids"][0]].mean()
        assert np.array_equal(truth, expect), key
        assert abs(f["share"] - share) < 1e-9, key
    # two tags keep fewer rows than either alone; a query's tags are mostly ones it would carry itself
    pairs = [c for c in qtags if len(c) == 2]
    assert all(Y[:, list(c)].all(axis=1).sum() <= Y[:, list(c)].sum(axis=0).min() for c in pairs)


def test_tags_do_not_depend_on_chunks(data, tmp_path):
    from synth.sampling.stream import sample_to_file

    gen = load_model(data[0] / "m.safetensors")
    a = sample_to_file(gen, tmp_path / "a.fbin", 3000, random_state=4, chunk_size=257)["labels"]
    b = sample_to_file(gen, tmp_path / "b.fbin", 3000, random_state=4, chunk_size=3000)["labels"]
    assert (a != b).nnz == 0 and a.nnz > 3000
    c = sample_to_file(gen, tmp_path / "c.fbin", 3000, random_state=5)["labels"]
    assert (a != c).nnz > 0


def test_tagged_samples_refuse_h5_shards_and_dask_in_one_line(data, tmp_path):
    from conftest import listing

    model = data[0] / "m.safetensors"
    before = listing(tmp_path)
    r = run("sample", model, "-n", 500, "-o", tmp_path / "x.h5")
    assert_one_line_error(r, tmp_path / "x.h5", "not written into .h5")
    r = run("sample", model, "-n", 500, "-o", tmp_path / "x.fbin", "--shard", "0/2")
    assert_one_line_error(r, tmp_path / "x.fbin", "not in a shard of several")
    r = run("sample", model, "-n", 500, "-o", tmp_path / "x.fbin", "--workers", 2)
    assert_one_line_error(r, tmp_path / "x.fbin", "not on Dask")
    assert listing(tmp_path) == before


def test_publish_refuses_a_tag_model_in_one_line(data, tmp_path):
    r = run("publish", data[0] / "m.safetensors", "--n", 500, "--queries", 5, "--k", 5, "--out", tmp_path / "pub")
    assert_one_line_error(r, data[0] / "m.safetensors", "not published")
    assert not (tmp_path / "pub").exists()


def test_a_querys_one_or_two_tags_are_tags_it_would_carry():
    """TagModel.query_tags: ranked by uniform / chance, so a query's tags are among those it would carry (uniform
    below chance) whenever it would carry enough; the last uniform decides one or two."""
    from synth.models.tags import TWO_TAGS

    tm = TagModel()._set_arrays({"coef": np.eye(4, 3, dtype=np.float32) * 4, "intercept": np.zeros(4, np.float32),
                                 "shares": np.full(4, 0.3, np.float32), "temperature": np.array([1.0, 0.0])},
                                ["w", "x", "y", "z"])
    rng = np.random.default_rng(0)
    X, u = rng.standard_normal((400, 3)).astype(np.float32), rng.random((400, 5))
    got = tm.query_tags(X, u)
    carried = tm.tags(X, u)  # without a gate the last uniform draws nothing
    for q, tags in enumerate(got):
        assert len(tags) == (2 if u[q, -1] < TWO_TAGS else 1) and len(set(tags)) == len(tags)
        if carried[q].sum() >= len(tags):
            assert carried[q, list(tags)].all(), q
    assert 0.4 < np.mean([len(t) == 2 for t in got]) < 0.6


@pytest.mark.parametrize("name", ["faiss-flat", "faiss-hnsw", "hnswlib"])
def test_plugins_search_under_a_querys_tags_as_their_library_does(name):
    """faiss's IDSelectorBitmap and hnswlib's filter callback over the rows carrying all of a query's tags (the
    plug-in's ``labels`` a sparse rows x tags matrix), against brute force."""
    from scipy.sparse import csr_matrix

    from bench.indexes import get

    rng = np.random.default_rng(0)
    X = blobs(2000, 16, 5, 0)
    Y = rng.random((2000, 4)) < 0.4
    Q = blobs(20, 16, 5, 1)
    spec = get(name)
    index = spec.create(spec.build_grid[0], *X.shape)
    index.labels = csr_matrix(Y)
    index.build(X)
    if spec.query_param:
        index.set_query_params(**{spec.query_param: 400})
    for tags in [(1,), (0, 2), (1, 3)]:
        got = index.search_filtered(Q, 5, tags)
        keep = np.flatnonzero(Y[:, list(tags)].all(axis=1))
        truth = keep[np.argsort(-(Q @ X[keep].T), axis=1, kind="stable")[:, :5]]
        assert np.all(Y[got[got >= 0]][:, list(tags)]), tags  # only rows carrying every tag
        hits = np.mean([len(np.intersect1d(g, t)) / 5 for g, t in zip(got, truth)])
        assert hits >= (1.0 if name == "faiss-flat" else 0.95), (tags, hits)


@pytest.mark.slow
def test_tag_bundles_keep_tags_that_go_together_together(tmp_path):
    """--tag-bundles: on blobs where tags x and y always go together (and z, w each alone), the fakes carry x and y
    together nearly as often as real rows do (always), where independent draws split them; shares still match; the bundles are stored, drawn
    chunk by chunk alike, and a query's two tags come from its bundle."""
    rng = np.random.default_rng(2)
    X = blobs(3000, 16, 5, 2)
    side = np.argmax(X[:, :3], axis=1)
    lines = [("x, y" if s == 0 else "z" if s == 1 else "w") if rng.random() < 0.7 else "" for s in side]
    np.save(tmp_path / "real.npy", X)
    (tmp_path / "tags.txt").write_text("".join(f"{line}\n" for line in lines))
    together = {}
    for m in (0, 8):
        r = run("fit", tmp_path / "real.npy", "--labels", tmp_path / "tags.txt", "--multi-label", "--tag-bundles", m,
                "-o", tmp_path / f"m{m}.safetensors", *SMALL)
        assert r.exit_code == 0, r.output
        gen = load_model(tmp_path / f"m{m}.safetensors")
        tm = gen.label_model_
        assert tm.classes_ == ["w", "x", "y", "z"] and (tm.bundles_ is not None) == (m > 0)
        F = gen.sample(3000, random_state=5)
        u = tag_uniforms(5, 0, 3000, 4)
        Z = tm.tags(F, u)
        Y = tag_matrix([tuple(t.strip() for t in line.split(",") if t) for line in lines], tm.classes_)
        assert np.abs(Z.mean(axis=0) - Y.mean(axis=0)).max() < 0.04  # each tag's share, drawn
        # of the rows carrying x or y, the share carrying both: 1 among real rows
        together[m] = (Z[:, 1] & Z[:, 2]).sum() / (Z[:, 1] | Z[:, 2]).sum()
        assert np.array_equal(tm.tags(F[1000:], u[1000:]), Z[1000:])  # a row's tags: its own uniforms alone
    # (a share BACKGROUND of each chance is drawn regardless of place and bundle: x without y, now and then)
    assert together[8] > 0.85 and together[0] < 0.7, together
    assert tm.fit_info_["bundles"] == 3 and "; 3 bundles of tags that go together" in r.output
    two = [t for t in tm.query_tags(F, u) if len(t) == 2]
    assert np.mean([set(t) == {1, 2} for t in two]) > 3 * np.mean([set(t) == {0, 3} for t in two])
    again = TagModel()._set_arrays(tm._arrays(), tm.classes_)
    assert np.array_equal(again.tags(F, u), Z) and np.allclose(again.proba(F), tm.proba(F))
    with pytest.raises(ValueError):
        TagModel()._set_arrays({**tm._arrays(), "bundles": tm.bundles_[:, :3]}, tm.classes_)
    r = run("fit", tmp_path / "real.npy", "--labels", tmp_path / "tags.txt", "--tag-bundles", 8, "-o",
            tmp_path / "n.safetensors", *SMALL)
    assert r.exit_code == 1 and "--tag-bundles needs --multi-label" in r.output
    assert not (tmp_path / "n.safetensors").exists()
