import json

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main as bench_main
from bench.scaling import markdown, passes, scaling, write_outputs
from synth.errors import SynthError


@pytest.fixture(scope="module")
def cap():
    """A thin Gaussian cap on S^4: a single full-rank patch is (nearly) the true model."""
    rng = np.random.default_rng(7)
    X = np.zeros((5000, 5))
    X[:, 0] = 1
    X += 0.05 * rng.standard_normal(X.shape)
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def result(cap):
    configs = {"one": ("patch", {"n_patches": 1, "rank": 5, "noise_scale": 0.001}), "random": ("random", {})}
    return scaling(cap, [300, 1000], configs, n_heldout=2000, sizes=(200, 1000, 5000), source="cap")


def test_known_answers(result):
    assert result["sizes"] == [200, 1000]  # 5,000 exceeds the held-out rows
    assert result["split"] == {"train_sizes": [300, 1000], "n_heldout": 2000, "random_state": 0}
    assert passes(result["ceiling"]["1000"])  # real vs real
    runs = {(r["name"], r["n_train"]): r for r in result["runs"]}
    assert list(runs) == [("one", 300), ("one", 1000), ("random", 300), ("random", 1000)]
    # the true model family passes at every n; uniform vectors on S^4 fail at every n
    assert runs["one", 1000]["largest_passing_n"] == 1000 and not runs["one", 1000]["copies"]
    assert runs["random", 1000]["largest_passing_n"] is None
    assert runs["random", 1000]["c2st"]["1000"]["c2st"] < 0.1
    # memorization is measured against each fit's own training rows
    assert runs["one", 300]["memorization"]["heldout_median"] < runs["one", 1000]["memorization"]["heldout_median"]


def test_outputs(result, tmp_path):
    text = markdown(result)
    assert "| one | 1,000 | **" in text and "| random | 1,000 | 0.0" in text and "ceiling (real/real)" in text
    paths = write_outputs(result, tmp_path)
    assert [p.name for p in paths] == ["scaling.json", "scaling.md", "scaling.png"]
    assert json.loads(paths[0].read_text())["sizes"] == [200, 1000]
    assert paths[2].read_bytes()[:4] == b"\x89PNG"


def test_refuses_splits_that_do_not_fit(cap):
    with pytest.raises(SynthError, match="plus 2,000 held-out rows needs 6,000"):
        scaling(cap, [4000], n_heldout=2000)
    with pytest.raises(SynthError, match="no test size"):
        scaling(cap, [1000], n_heldout=2000, sizes=(5000,))


def test_scaling_command(cap, tmp_path):
    path = tmp_path / "real.npy"
    np.save(path, cap[:1500])
    runner = CliRunner()
    res = runner.invoke(bench_main, ["scaling", str(path), "--out", str(tmp_path / "out"), "--train", "200,500",
                                     "--heldout", "1000", "--sizes", "100,500", "--config",
                                     "one=patch:n_patches=1,rank=5,noise_scale=0.001", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [r["n_train"] for r in out["runs"]] == [200, 500] and out["sizes"] == [100, 500]
    assert (tmp_path / "out" / "scaling.md").exists()
    res = runner.invoke(bench_main, ["scaling", str(path), "--out", str(tmp_path / "o2"), "--train", "1000",
                                     "--heldout", "1000"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output == f"Error: {path}: 1500 real rows: the largest training size 1,000 plus 1,000 held-out rows needs 2,000\n"
    assert not (tmp_path / "o2").exists()
