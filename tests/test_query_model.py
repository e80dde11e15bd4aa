"""Query models: `synth fit --queries`, one model file, `synth sample` drawing its queries, `bench query-model`."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import blobs

from synth.cli import main
from synth.errors import SynthError
from synth.io.artifact import load_model, model_bytes, save_model
from synth.models import PatchPCA
from synth.sampling.stream import draw_queries, iter_rows, query_seed, sample_to_file


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A corpus and a query set of one space, apart: the queries sit in other clusters."""
    folder = tmp_path_factory.mktemp("pair")
    corpus, queries = blobs(3000, 16, 5, seed=0), blobs(2000, 16, 4, seed=7)
    np.save(folder / "corpus.npy", corpus)
    np.save(folder / "queries.npy", queries)
    return folder


def test_fit_with_queries_writes_one_file_whose_sample_draws_queries_from_the_query_model(pair, tmp_path):
    out = tmp_path / "m.safetensors"
    r = run("fit", pair / "corpus.npy", "--queries", pair / "queries.npy", "-o", out, "--patches", 6, "--rank", 4,
            "--noise-scale", 1)
    assert r.exit_code == 0, r.output
    assert "query model: read 2000 x 16" in r.output and "fitted 6 patches" in r.output
    gen = load_model(out)
    q = gen.query_model_
    assert q.n_patches_ == 6 and gen.header_["queries"]["fit_data"]["n"] == 2000
    assert gen.header_["queries"]["fit_data"]["source"].endswith("queries.npy")
    # the corpus is the corpus model's, the queries the query model's, each from its own stream
    info = sample_to_file(gen, tmp_path / "c.npy", 500, random_state=3, n_queries=40, k=5)
    r = run("sample", out, "-n", 500, "-o", tmp_path / "c.fbin", "--queries", 40, "--neighbors", 5, "--seed", 3)
    assert r.exit_code == 0 and "wrote 40 queries (from the query model)" in r.output
    assert np.array_equal(np.load(tmp_path / "c.npy"), np.concatenate(list(iter_rows(gen, 3, 0, 500))))
    assert np.array_equal(info["queries"], np.concatenate(list(iter_rows(q, query_seed(3), 0, 40))))
    assert np.array_equal(info["queries"], draw_queries(gen, 3, 40, np.float32))
    # the queries come from the other clusters: farther from the corpus's patch means than corpus rows are
    near = lambda X: (X @ gen.means_.T).max(axis=1).mean()  # noqa: E731
    assert near(info["queries"]) < near(np.load(tmp_path / "c.npy")) - 0.05
    # a round trip keeps the bytes; without a query model the file is the one written before the option
    assert model_bytes(gen, gen.header_["fit_data"], gen.header_["stats"], gen.header_["fit_check"]) == out.read_bytes()
    plain = PatchPCA(n_patches=6, rank=4, noise_scale=1.0, random_state=0).fit(np.load(pair / "corpus.npy"))
    save_model(plain, tmp_path / "plain.safetensors")
    assert not hasattr(load_model(tmp_path / "plain.safetensors"), "query_model_")
    assert b"queries." not in (tmp_path / "plain.safetensors").read_bytes()


def test_a_query_set_of_another_dimension_or_a_damaged_query_model_is_refused(pair, tmp_path):
    np.save(tmp_path / "q8.npy", blobs(500, 8, 3))
    r = run("fit", pair / "corpus.npy", "--queries", tmp_path / "q8.npy", "-o", tmp_path / "m.safetensors",
            "--patches", 6, "--rank", 4, "--noise-scale", 1)
    assert r.exit_code == 1 and "must share one embedding space" in r.output and r.output.count("\n") == 1
    assert not (tmp_path / "m.safetensors").exists()
    gen = PatchPCA(n_patches=6, rank=4, noise_scale=1.0, random_state=0).fit(np.load(pair / "corpus.npy"))
    gen.query_model_ = PatchPCA(n_patches=4, rank=4, noise_scale=1.0, random_state=0).fit(np.load(pair / "queries.npy"))
    save_model(gen, tmp_path / "ok.safetensors")
    data = bytearray((tmp_path / "ok.safetensors").read_bytes())
    data[-100] ^= 0x01  # a byte of the arrays at the end of the file

    (tmp_path / "bad.safetensors").write_bytes(bytes(data))
    with pytest.raises(SynthError, match="checksum mismatch|not a synth model file"):
        load_model(tmp_path / "bad.safetensors")


def test_query_model_board_measures_both_sources_against_real_queries(pair):
    from bench.querymodel import markdown, query_model_board

    corpus, queries = np.load(pair / "corpus.npy"), np.load(pair / "queries.npy")
    result = query_model_board(corpus, queries, config=("patch", {"n_patches": 6, "rank": 4, "noise_scale": 1.0}),
                               n_fit=1000, n_fit_queries=1000, n=1500, n_test=100, n_c2st=300)
    # the corpus model's queries sit in the corpus's clusters, real queries do not: the two-sample test says so
    assert result["c2st"]["query model"]["c2st_real"] > result["c2st"]["corpus model"]["c2st_real"] + 0.1
    assert result["landing"]["query model"] < result["landing"]["corpus model"]
    for name in ("query model", "corpus model"):
        r = result["ratios"][name]
        assert r["ivf"] == pytest.approx(result["cost"][name]["ivf"] / result["cost"]["real"]["ivf"])
    text = markdown(result)
    assert "| query model |" in text and "| corpus model |" in text
    json.dumps(result)


def test_fit_says_everything_about_the_corpus_model_and_then_the_query_model(pair, tmp_path):
    r = run("fit", pair / "corpus.npy", "--queries", pair / "queries.npy", "-o", tmp_path / "m.safetensors",
            "--patches", 6, "--rank", 4, "--noise-scale", 1, "--metric", "l2")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    order = [next(i for i, line in enumerate(lines) if line.startswith(start))
             for start in ("read ", "fitted 6 patches", "metric l2: each patch also keeps", "query model: read",
                           "wrote ")]
    assert order == sorted(order)


@pytest.mark.slow
def test_bench_compare_takes_real_queries_and_the_query_models_queries(pair, tmp_path):
    """--real-queries: the real corpus is searched by real queries of the other kind, the fake corpus by the
    query model's; both sets sit apart from their base, as real queries do."""
    from bench.cli import main as bench_main
    from bench.suites import load_corpus

    model = tmp_path / "m.safetensors"
    r = run("fit", pair / "corpus.npy", "--queries", pair / "queries.npy", "-o", model, "--patches", 6, "--rank", 4,
            "--noise-scale", 1)
    assert r.exit_code == 0, r.output
    out = tmp_path / "cmp"
    r = CliRunner().invoke(bench_main, ["compare", str(pair / "corpus.npy"), "--model", str(model), "--real-queries",
                                        str(pair / "queries.npy"), "--n", "1000", "--queries", "50", "--index",
                                        "faiss-hnsw", "--repeats", "1", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    real, fake = load_corpus(out / "suite" / "real.h5"), load_corpus(out / "suite" / "fake.h5")
    queries = np.load(pair / "queries.npy")
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    assert all(np.isclose(queries @ q, 1, atol=1e-5).any() for q in real.queries)  # real queries, not corpus rows
    gen = load_model(model)
    assert fake.meta["queries"] == "from the model's query model" and real.meta["queries"].startswith("real queries")
    near = lambda X, B: (X @ B.T).max(axis=1).mean()  # noqa: E731
    assert near(fake.queries, gen.query_model_.means_) > near(fake.queries, gen.means_) + 0.05
    assert json.loads(r.output)["suite"]["real_queries"].endswith("queries.npy")
    r = CliRunner().invoke(bench_main, ["compare", str(pair / "corpus.npy"), "--model", str(model), "--real-queries",
                                        str(pair / "queries.npy"), "--n", "1000", "--queries", "5000", "--index",
                                        "faiss-hnsw", "--out", str(tmp_path / "bad")])
    assert r.exit_code == 1 and "2,000 real queries are too few for --queries 5,000" in r.output
