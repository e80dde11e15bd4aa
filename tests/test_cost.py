import json

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main as bench_main
from bench.cost import cost_board, jitter_queries, markdown, write_outputs
from bench.mesoscale import cell_stats, ivf_cells, mesoscale
from bench.suites import make_corpus
from synth.errors import SynthError
from synth.models import PatchPCA, RandomSphere

SIZES = ("1000", "3000")


def unit(X):
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def sphere(n, d, seed):
    return RandomSphere().fit(np.ones((1, d))).sample(n, random_state=seed)


@pytest.fixture(scope="module")
def on_sphere():
    """Real = uniform on S^15. 'same' draws from exactly real's distribution; 'tight' is 8 flat 2-d patches."""
    configs = {"same": ("random", {}), "tight": ("patch", {"n_patches": 8, "rank": 2, "noise_scale": 0.001})}
    return cost_board(sphere(6000, 16, 1), configs, n_fit=2000, sizes=(1000, 3000, 50_000), n_queries=100,
                      indexes=("faiss-ivf", "faiss-hnsw", "hnswlib"), repeats=1, source="sphere")


@pytest.fixture(scope="module")
def on_patches():
    """Real = samples of a patch model fitted on a Gaussian mixture; the config refits the same family/params."""
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((20, 24))
    mixture = centers[rng.integers(0, 20, 20_000)] + 0.35 * rng.standard_normal((20_000, 24))
    params = {"n_patches": 20, "rank": 6, "noise_scale": 1.0}
    real = PatchPCA(**params, random_state=0).fit(mixture).sample(6000, random_state=1)
    return cost_board(real, {"same": ("patch", params)}, n_fit=2000, sizes=(1000, 3000), n_queries=100,
                      indexes=("faiss-ivf", "faiss-hnsw"), repeats=1)


def ratio(result, config, n, index, key="ndis", target="0.95"):
    return result["configs"][config]["by_n"][n]["ratios"][index][key][target]


def test_same_distribution_costs_the_same(on_sphere, on_patches):
    # Measured over seeds 0-15 (n = 1,000 and 3,000, 100 queries): identical distributions (sphere) gave IVF
    # 0.87-1.19 and HNSW 0.87-1.10; the patch refit gave IVF 0.65-1.23 and HNSW 0.91-1.04. The easier fake
    # below scores 0.16-0.33, outside every bound.
    for n in SIZES:
        assert 0.75 < ratio(on_sphere, "same", n, "faiss-ivf") < 1.33
        assert 0.75 < ratio(on_sphere, "same", n, "faiss-hnsw") < 1.33
        assert 0.6 < ratio(on_patches, "same", n, "faiss-ivf") < 1.4
        assert 0.8 < ratio(on_patches, "same", n, "faiss-hnsw") < 1.25
    # the same distribution is indistinguishable and does not copy
    same = on_sphere["configs"]["same"]
    assert abs(same["c2st"]["c2st"] - 0.5) < 0.06 and not same["copies"]
    assert same["c2st"]["n"] == 200 and same["memorization"]["n"] == 2000


def test_easier_fake_is_cheaper_and_its_neighbours_share_a_cell(on_sphere):
    for n in SIZES:
        assert ratio(on_sphere, "tight", n, "faiss-ivf") < 0.5
        assert ratio(on_sphere, "tight", n, "faiss-hnsw") < 0.5
        real = on_sphere["real"][n]["diagnostics"]
        tight = on_sphere["configs"]["tight"]["by_n"][n]["diagnostics"]
        assert tight["own_cell_share"]["median"] > real["own_cell_share"]["median"] + 0.3
        assert tight["cells_to_reach"]["median"] < real["cells_to_reach"]["median"]
        assert tight["nlist"] == real["nlist"] == round(int(n) ** 0.5)
    assert on_sphere["configs"]["tight"]["c2st"]["c2st_fake"] < 0.1  # and the local test sees it too


def test_hnswlib_has_no_distance_ratio_but_a_qps_ratio(on_sphere):
    for n in SIZES:
        r = on_sphere["configs"]["same"]["by_n"][n]["ratios"]["hnswlib"]
        assert set(r["ndis"].values()) == {None}
        assert all(isinstance(v, float) and v > 0 for v in r["qps"].values())
        assert ratio(on_sphere, "same", n, "faiss-ivf", "qps") > 0
    assert "hnswlib does not expose its distance counter" in markdown(on_sphere)


def test_sizes_that_do_not_fit_are_dropped(on_sphere):
    assert on_sphere["sizes"] == [1000, 3000] and on_sphere["dropped_sizes"] == [50_000]
    assert list(on_sphere["real"]) == list(on_sphere["configs"]["same"]["by_n"]) == list(SIZES)
    # real corpora are nested prefixes of one base, and real is measured once per n for all configurations
    assert on_sphere["real"]["1000"]["cost"]["faiss-ivf"]["build_params"]["nlist"] == 32
    with pytest.raises(SynthError, match=r"sphere: 6,000 real rows: 2,000 to fit and 100 queries leave 3,900 "
                                         r"for the base, fewer than any size \(5,000, 9,000\)"):
        cost_board(sphere(6000, 16, 1), n_fit=2000, sizes=(5000, 9000), n_queries=100, source="sphere")


def test_cell_stats_known_answers():
    # three cells on the axes; query 0 probes cells 0, 1, 2 in that order, query 1 probes 1, 0, 2
    centroids = np.eye(3, dtype=np.float32)
    assign = np.array([0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0])
    queries = unit(np.array([[3.0, 2.0, 1.0], [2.0, 3.0, 1.0]]))
    neighbors = np.array([np.arange(10), np.r_[10:18, 0, 4]])
    got = cell_stats(queries, neighbors, centroids, assign, k=10)
    # query 0: 1 neighbour in cell 0, 3 in cell 1, 6 in cell 2 -> 9 of them need all three cells
    # query 1: 9 in cell 0 (its second cell), 1 in cell 2 -> none in its own cell, 9 reached with two cells
    np.testing.assert_allclose(got["own_cell_share"], [0.1, 0.0])
    np.testing.assert_array_equal(got["cell_spread"], [3, 2])
    np.testing.assert_array_equal(got["cells_to_reach"], [3, 2])


def test_separated_clusters_keep_neighbours_in_one_cell():
    rng = np.random.default_rng(0)
    centers = np.eye(16, dtype=np.float32)[:8]
    base = unit(np.repeat(centers, 40, axis=0) + 0.01 * rng.standard_normal((320, 16)))
    queries = unit(np.repeat(centers, 5, axis=0) + 0.01 * rng.standard_normal((40, 16)))
    corpus = make_corpus("clusters", base, queries, depth=20)
    got = cell_stats(queries, corpus.neighbors, centers, np.repeat(np.arange(8), 40), k=10)
    assert (got["own_cell_share"] == 1).all() and (got["cell_spread"] == 1).all()
    assert (got["cells_to_reach"] == 1).all()


def test_uniform_points_in_high_dimension_spread_over_cells():
    corpus = make_corpus("uniform", sphere(2500, 64, 0), sphere(60, 64, 1))
    got = mesoscale(corpus, k=10)
    assert got["nlist"] == 50
    assert got["own_cell_share"]["median"] < 0.35 and got["own_cell_share"]["worst5"] <= 0.1
    assert got["cell_spread"]["median"] >= 5 and got["cells_to_reach"]["worst5"] >= got["cells_to_reach"]["median"]
    assert 0 < got["neighbor_cosine"]["100"] < got["neighbor_cosine"]["10"] < got["neighbor_cosine"]["1"]
    centroids, assign = ivf_cells(corpus.base)
    np.testing.assert_array_equal(assign, np.argmax(corpus.base @ centroids.T, axis=1))


def test_jittered_queries():
    model = RandomSphere().fit(np.ones((1, 16)))
    s = model.sample(2000, random_state=3)
    q = jitter_queries(model, 2000, 0.3, 3, 4)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1, atol=1e-5)
    # noise of norm about 0.3, nearly orthogonal to s: cosine to the sample about 1 / sqrt(1 + 0.3^2)
    assert np.median(np.einsum("ij,ij->i", q, s)) == pytest.approx(1 / np.sqrt(1.09), abs=0.01)
    np.testing.assert_allclose(jitter_queries(model, 5, 0.0, 3, 4), s[:5], atol=1e-6)


def test_cost_command(tmp_path):
    path = tmp_path / "real.npy"
    np.save(path, sphere(1000, 16, 5))
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(bench_main, ["cost", str(path), "--fit", "300", "--sizes", "300,600,5000", "--queries", "50",
                                     "--config", "same=random", "--index", "faiss-ivf", "--queries-from", "jitter",
                                     "--jitter", "0.1", "--repeats", "1", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert got["queries_from"] == "jitter" and got["jitter"] == 0.1
    assert got["sizes"] == [300, 600] and got["dropped_sizes"] == [5000] and got["indexes"] == ["faiss-ivf"]
    assert sorted(p.name for p in out.iterdir()) == ["cost.json", "cost.md", "cost.png"]
    assert json.loads((out / "cost.json").read_text())["configs"]["same"]["by_n"]["600"]["ratios"]["faiss-ivf"]
    assert "jittered by 0.1" in (out / "cost.md").read_text()
    # the statistics are measured on both sides, and their ratio is fake over real
    board = json.loads((out / "cost.json").read_text())
    same = board["configs"]["same"]
    assert same["stats_ratio"]["isoscore"] == same["stats"]["isoscore"] / board["real_stats"]["isoscore"]
    assert "**geometry statistics**" in (out / "cost.md").read_text()
    assert (out / "cost.png").read_bytes()[:4] == b"\x89PNG"

    res = runner.invoke(bench_main, ["cost", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "o2")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output == f"Error: {tmp_path / 'missing.npy'}: no such file or folder\n"
    res = runner.invoke(bench_main, ["cost", str(path), "--fit", "300", "--sizes", "800", "--queries", "50",
                                     "--out", str(tmp_path / "o3")])
    assert res.exit_code == 1 and res.output.count("\n") == 1 and "650 for the base" in res.output
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()


def test_outputs_round_trip(on_sphere, tmp_path):
    paths = write_outputs(on_sphere, tmp_path)
    assert json.loads(paths[0].read_text())["configs"]["tight"]["n_patches"] == 8
    text = paths[1].read_text()
    assert "| tight | 3,000 |" in text and "| real | 3,000 |" in text and "Dropped sizes" in text
