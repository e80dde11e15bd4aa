import json

import pytest
from click.testing import CliRunner

from bench.cli import main


@pytest.mark.slow
def test_throughput_reports_every_method_and_the_ground_truth_ratio(tmp_path):
    out = tmp_path / "t.md"
    r = CliRunner().invoke(main, ["throughput", "--size", "3000x384", "--repeats", "1", "--queries", "20",
                                  "--k", "5", "--threads", "2", "--end-to-end", "20000", "--out", str(out),
                                  "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    methods = [row["method"] for row in result["rows"]]
    assert methods == ["synth", "synth_threads", "numpy", "make_blobs", "faiss_synthetic"]
    numpy_row = result["rows"][methods.index("numpy")]
    assert numpy_row["vs_numpy"] == 1.0
    for row in result["rows"]:
        assert row["vectors_per_s"] > 0 and abs(row["gb_per_s"] - row["vectors_per_s"] * 384 * 4 / 1e9) < 1e-9
    (gt,) = result["ground_truth"]
    assert gt["ratio"] == gt["flat_seconds"] / gt["blockwise_seconds"]
    assert "| 3,000 | 384 | synth_threads | 2 |" in out.read_text()
    e2e = result["end_to_end"]
    assert e2e["n"] == 20000 and e2e["file_bytes"] == 8 + 20000 * 384 * 4
    assert e2e["ratio"] == e2e["numpy_script_seconds"] / e2e["synth_cli_seconds"] > 0
    assert "| 20,000 | 384 | 0.0 |" in out.read_text()


def test_throughput_refuses_bad_sizes_and_methods():
    r = CliRunner().invoke(main, ["throughput", "--size", "10by3"])
    assert r.exit_code == 1 and "--size" in r.output
    r = CliRunner().invoke(main, ["throughput", "--size", "100x384", "--method", "torch"])
    assert r.exit_code == 1 and "unknown --method" in r.output


@pytest.mark.slow
def test_memory_benchmark_measures_the_sampler_child_and_cleans_up(tmp_path):
    corpus = tmp_path / "c.fbin"
    r = CliRunner().invoke(main, ["memory", "--n", "5000", "--d", "384", "--queries", "20", "--neighbors", "5",
                                  "--corpus", str(corpus), "--out", str(tmp_path / "m"), "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["file_bytes"] == 8 + 5000 * 384 * 4
    assert got["array_bytes"] == 5000 * 384 * 4
    assert got["peak_rss_bytes"] > 50 * 2**20 and got["floor_rss_bytes"] > 50 * 2**20
    assert got["rss_vs_array"] == got["peak_rss_bytes"] / got["array_bytes"]
    assert not corpus.exists() and not (tmp_path / "c.gt.bin").exists()  # not kept
    assert json.loads((tmp_path / "m" / "memory.json").read_text()) == got


def test_memory_benchmark_refuses_half_a_ground_truth_request():
    r = CliRunner().invoke(main, ["memory", "--n", "100", "--queries", "5"])
    assert r.exit_code != 0 and "--neighbors" in r.output
