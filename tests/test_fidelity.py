import json

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main as bench_main
from bench.fidelity import markdown, parse_config, scoreboard, write_outputs
from synth.bundled import load_minilm_wordnet
from synth.errors import SynthError


@pytest.fixture(scope="module")
def real():
    return load_minilm_wordnet()[:3000]


@pytest.fixture(scope="module")
def board(real):
    configs = {"patch": ("patch", {"n_patches": 20, "rank": 8}), "random": ("random", {})}
    return scoreboard(real, configs, n_train=1200, sizes=(200, 500, 10_000), n_permutations=20, stats_n=500,
                      n_queries=100, source="bundled[:3000]")


def test_parse_config():
    assert parse_config("big=patch:n_patches=240,rank=48,noise_scale=auto") == (
        "big", "patch", {"n_patches": 240, "rank": 48, "noise_scale": "auto"})
    assert parse_config("f=fog") == ("f", "fog", {})
    for bad, msg in [("patch", "NAME=KIND"), ("x=blob", "unknown kind"), ("x=patch:rank", "not key=value"),
                     ("x=patch:ranks=3", "no parameter ranks")]:
        with pytest.raises(SynthError, match=msg):
            parse_config(bad)


def test_scoreboard_sizes_ceiling_and_ordering(board):
    assert board["split"] == {"n_train": 1200, "n_heldout": 1800, "random_state": 0}
    assert board["sizes"] == [200, 500, 1800]  # 10,000 exceeds the held-out rows; their count is added
    assert board["ceiling"]["1800"] is None  # training has only 1,200 rows
    assert abs(board["ceiling"]["500"]["c2st"] - 0.5) < 0.05
    patch, random = board["configs"]
    weak = {row["name"]: min(row["c2st"]["500"]["c2st_real"], row["c2st"]["500"]["c2st_fake"])
            for row in board["configs"]}
    assert weak["patch"] > weak["random"] + 0.2
    assert random["memorization"]["memorization_rate"] < 0.01 and not random["copies"]
    assert patch["n_patches"] <= 20 and patch["noise_scale"] > 0 and patch["model_bytes"] > 0
    assert random["noise_scale"] is None
    # uniform random vectors are far harder to search than real ones; the patch fake is not
    assert random["hnsw"]["ratio"] > 2 * patch["hnsw"]["ratio"]
    assert board["real"]["hnsw"]["n"] == 1700 and board["real"]["hnsw"]["ndis_at_0.95"] > 0


def test_scoreboard_outputs(board, tmp_path):
    text = markdown(board)
    for needle in ("| patch |", "| random |", "ceiling (real/real)", "n = 1,800", "held-out real"):
        assert needle in text
    paths = write_outputs(board, tmp_path)
    assert [p.name for p in paths] == ["fidelity.json", "fidelity.md", "fidelity.png"]
    assert json.loads(paths[0].read_text())["sizes"] == board["sizes"]
    assert paths[2].read_bytes()[:4] == b"\x89PNG"


def test_scoreboard_refuses_too_little_data(real):
    with pytest.raises(SynthError, match="no held-out rows"):
        scoreboard(real[:500], n_train=500)


def test_fidelity_command(real, tmp_path):
    path = tmp_path / "real.npy"
    np.save(path, real[:1600])
    runner = CliRunner()
    res = runner.invoke(bench_main, ["fidelity", str(path), "--out", str(tmp_path / "out"), "--train", "800",
                                     "--sizes", "200", "--no-hnsw", "--config", "p=patch:n_patches=8,rank=4",
                                     "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [row["name"] for row in out["configs"]] == ["p"] and out["sizes"] == [200, 800]
    assert "hnsw" not in out["real"] and (tmp_path / "out" / "fidelity.md").exists()
    res = runner.invoke(bench_main, ["fidelity", str(path), "--out", str(tmp_path / "o2"), "--config", "p=blob"])
    assert res.exit_code == 1 and "unknown kind 'blob'" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o2").exists()


def test_fit_speed_command():
    res = CliRunner().invoke(bench_main, ["fit-speed", "--n", "2000", "--d", "32", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out["configs"]) == {"default", "default-no-guard", "seed"}
    assert out["configs"]["default-no-guard"]["tried"] == []
    assert out["configs"]["seed"]["noise_scale"] == 1.0 and out["configs"]["default"]["seconds"] > 0
    default = out["configs"]["default"]
    assert out["configs"]["seed"]["tried"] == [] and default["tried"][-1] >= default["n_patches"]
