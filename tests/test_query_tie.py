"""The query tie: stored by `synth fit --queries`, used by `synth sample --query-tie pull`, measured by
`bench query-model --tie`."""
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import blobs

from synth.cli import main
from synth.io.arrays import unit_rows
from synth.io.artifact import load_model
from synth.io.formats import read_vectors
from synth.models.tie import nearest_cosines, pull, targets
from synth.sampling.stream import draw_queries, iter_rows, sample_to_file


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def tied(tmp_path_factory):
    """A corpus and real queries tied to it (each query a corpus row plus noise) and the model fitted on both:
    the query model's own draws know no corpus row, so they sit farther from the corpus than real queries."""
    folder = tmp_path_factory.mktemp("tied")
    corpus = blobs(3000, 16, 5, seed=0)
    rng = np.random.default_rng(1)
    queries = unit_rows(corpus[rng.permutation(3000)[:2000]] + 0.08 * rng.standard_normal((2000, 16)).astype(np.float32))
    np.save(folder / "corpus.npy", corpus)
    np.save(folder / "queries.npy", queries)
    r = run("fit", folder / "corpus.npy", "--queries", folder / "queries.npy", "-o", folder / "m.safetensors",
            "--patches", 6, "--rank", 4, "--noise-scale", 1)
    assert r.exit_code == 0, r.output
    return folder, r.output


def test_fit_stores_the_tie_from_real_queries_against_the_training_rows(tied):
    folder, output = tied
    gen = load_model(folder / "m.safetensors")
    tie = gen.query_model_.tie_
    X, Q = unit_rows(np.load(folder / "corpus.npy")), unit_rows(np.load(folder / "queries.npy"))
    real, _ = nearest_cosines(X, Q)
    assert tie["rows"] == 3000 and tie["queries"] == 2000
    assert tie["median"]["real"] == pytest.approx(np.median(real), abs=1e-4)
    assert tie["median"]["fake"] < tie["median"]["real"] - 0.02  # the untied query model's draws lie farther
    levels, positions = np.array(tie["real"]["levels"]), np.array(tie["real"]["positions"])
    # each level is the mean of >= min_points sorted values (no level is one query's), in order
    assert np.all(np.diff(levels) >= 0) and np.all(np.diff(positions) > 0)
    assert len(levels) <= 2000 // tie["min_points"]
    srt = np.sort(real)
    assert levels[0] == pytest.approx(srt[: 2000 // len(levels)].mean(), abs=2e-3)
    # landing: shares of at least min_points real queries per patch, the rest pooled
    shares = np.array(tie["landing"]["real"]["shares"])
    assert len(shares) == gen.n_patches_ and shares.sum() + tie["landing"]["real"]["other"] == pytest.approx(1, abs=1e-4)
    assert np.all((shares == 0) | (shares * 2000 >= tie["min_points"] - 1e-6))
    assert "query tie: nearest corpus row at cosine median" in output


def test_pull_moves_each_query_towards_its_nearest_row_to_the_mapped_cosine():
    rng = np.random.default_rng(0)
    reference = unit_rows(rng.standard_normal((400, 8)).astype(np.float32))
    u = unit_rows(rng.standard_normal((50, 8)).astype(np.float32))
    before, ids = nearest_cosines(reference, u)
    # the fake table maps every cosine to 0.9 on the real side: all but queries already nearer move
    tie = {"fake": {"levels": [-1.0, 1.0], "positions": [0.0, 1.0]},
           "real": {"levels": [0.9, 0.9], "positions": [0.0, 1.0]}, "median": {"real": 0.9}}
    q, report = pull(reference, u, tie)
    x = reference[ids]
    np.testing.assert_allclose(np.sum(q * x, axis=1), np.maximum(before, 0.9), atol=1e-5)
    # in the plane of the query and its row, on the arc between them
    for i in range(len(u)):
        basis = np.linalg.qr(np.stack([x[i], u[i]], axis=1).astype(np.float64))[0]
        assert np.linalg.norm(q[i] - basis @ (basis.T @ q[i])) < 1e-5
    assert np.all(np.sum(q * u, axis=1) >= before - 1e-5)
    assert report["moved"] == pytest.approx(np.mean(before < 0.9))
    np.testing.assert_allclose(targets(tie, before), 0.9)


def test_sample_pulls_the_queries_and_writes_their_exact_neighbours(tied, tmp_path):
    folder, _ = tied
    gen = load_model(folder / "m.safetensors")
    r = run("sample", folder / "m.safetensors", "-n", 2000, "-o", tmp_path / "c.fbin", "--queries", 60,
            "--neighbors", 5, "--seed", 4, "--query-tie", "pull")
    assert r.exit_code == 0, r.output
    assert "query tie:" in r.output and "real queries at fit" in r.output
    queries, base = read_vectors(tmp_path / "c.queries.fbin"), read_vectors(tmp_path / "c.fbin")
    drawn = draw_queries(gen, 4, 60, np.float32)
    assert np.array_equal(queries, draw_queries(gen, 4, 60, np.float32, tie=True))
    assert not np.array_equal(queries, drawn)
    # pulled against the first N = 3,000 rows of the corpus stream: nearer to them, and towards real's tie
    reference = unit_rows(np.concatenate(list(iter_rows(gen, 4, 0, 3000))))
    near_drawn, _ = nearest_cosines(reference, drawn)
    near_pulled, _ = nearest_cosines(reference, queries)
    real = gen.query_model_.tie_["median"]["real"]
    assert np.all(near_pulled >= near_drawn - 1e-4)
    assert abs(np.median(near_pulled) - real) < abs(np.median(near_drawn) - real) / 2
    # the ground truth is the pulled queries' (brute force)
    info = sample_to_file(gen, tmp_path / "d.npy", 2000, random_state=4, n_queries=60, k=5, query_tie=True)
    assert np.array_equal(info["queries"], queries)
    exact = np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, :5]
    assert np.mean([len(set(a) & set(b)) for a, b in zip(info["neighbors"], exact)]) >= 4.95


def test_query_tie_is_refused_without_a_tie_or_without_queries(tied, tmp_path):
    folder, _ = tied
    r = run("fit", folder / "corpus.npy", "-o", tmp_path / "plain.safetensors", "--patches", 6, "--rank", 4,
            "--noise-scale", 1)
    assert r.exit_code == 0, r.output
    r = run("sample", tmp_path / "plain.safetensors", "-n", 500, "-o", tmp_path / "c.fbin", "--queries", 10,
            "--neighbors", 5, "--query-tie", "pull")
    assert r.exit_code == 1 and "--query-tie pull needs a model fitted with --queries" in r.output
    assert r.output.count("\n") == 1 and "plain.safetensors" in r.output
    assert not list(tmp_path.glob("c*"))
    r = run("sample", folder / "m.safetensors", "-n", 500, "-o", tmp_path / "c.fbin", "--query-tie", "pull")
    assert r.exit_code == 1 and "needs --queries and --neighbors" in r.output and not list(tmp_path.glob("c*"))


@pytest.mark.slow
def test_query_tie_on_dask_writes_the_bytes_of_one_process(tied, tmp_path):
    folder, _ = tied
    args = ["-n", 3000, "--queries", 40, "--neighbors", 5, "--seed", 2, "--query-tie", "pull"]
    assert run("sample", folder / "m.safetensors", "-o", tmp_path / "one.fbin", *args).exit_code == 0
    r = run("sample", folder / "m.safetensors", "-o", tmp_path / "dask.fbin", *args, "--workers", 2, "--tasks", 3)
    assert r.exit_code == 0, r.output
    assert "query tie:" in r.output
    for suffix in (".fbin", ".queries.fbin", ".gt.bin"):
        assert (tmp_path / f"one{suffix}").read_bytes() == (tmp_path / f"dask{suffix}").read_bytes(), suffix


@pytest.mark.slow
def test_query_model_board_with_the_tie_measures_the_pulled_queries(tied):
    from bench.querymodel import markdown, query_model_board

    folder, _ = tied
    result = query_model_board(np.load(folder / "corpus.npy"), np.load(folder / "queries.npy"),
                               config=("patch", {"n_patches": 6, "rank": 4, "noise_scale": 1.0}), n_fit=1000,
                               n_fit_queries=1000, n=1500, n_test=100, n_c2st=300, tie=True)
    pulled, drawn = result["profile"]["query model, pulled tie"], result["profile"]["query model"]
    assert pulled["1"] > drawn["1"] and result["tie"]["pull"]["moved"] > 0.3
    assert "| query model, pulled tie |" in markdown(result)
