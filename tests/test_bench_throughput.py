import json

from click.testing import CliRunner

from bench.cli import main


def test_throughput_reports_every_method_and_the_ground_truth_ratio(tmp_path):
    out = tmp_path / "t.md"
    r = CliRunner().invoke(main, ["throughput", "--size", "3000x384", "--repeats", "1", "--queries", "20",
                                  "--k", "5", "--threads", "2", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    methods = [row["method"] for row in result["rows"]]
    assert methods == ["synth", "synth_threads", "numpy", "make_blobs", "faiss_synthetic"]
    numpy_row = result["rows"][methods.index("numpy")]
    assert numpy_row["vs_numpy"] == 1.0
    for row in result["rows"]:
        assert row["vectors_per_s"] > 0 and abs(row["gb_per_s"] - row["vectors_per_s"] * 384 * 4 / 1e9) < 1e-9
    (gt,) = result["ground_truth"]
    assert gt["ratio"] == gt["flat_seconds"] / gt["blockwise_seconds"]
    assert "| 3,000 | 384 | synth_threads | 2 |" in out.read_text()


def test_throughput_refuses_bad_sizes_and_methods():
    r = CliRunner().invoke(main, ["throughput", "--size", "10by3"])
    assert r.exit_code == 1 and "--size" in r.output
    r = CliRunner().invoke(main, ["throughput", "--size", "100x384", "--method", "torch"])
    assert r.exit_code == 1 and "unknown --method" in r.output
