import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from synth.progress import muted, reporting, show_bars, stage

ROOT = Path(__file__).resolve().parents[1]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_stage_lines_in_order_outside_a_terminal():
    out = io.StringIO()
    with reporting("synth fit", stream=out, grace=0):
        stage("reading x.npy")
        with muted():
            stage("a helper's own step")
        stage("fitting patch on 3,000 rows")
    assert out.getvalue().splitlines() == ["[synth fit] reading x.npy ...",
                                           "[synth fit] fitting patch on 3,000 rows ..."]


def test_library_calls_and_quiet_commands_print_nothing(capsys):
    stage("no command is reporting")
    out = io.StringIO()
    with reporting("synth fit", quiet=True, stream=out, grace=0):
        stage("reading x.npy")
        assert not show_bars()
    assert out.getvalue() == "" and capsys.readouterr().err == ""


def test_lines_are_held_for_the_grace_period_and_dropped_if_the_command_ends_first():
    out = io.StringIO()
    with reporting("synth fit", stream=out, grace=60):
        stage("reading x.npy")
    assert out.getvalue() == ""
    out = io.StringIO()
    with pytest.raises(ValueError), reporting("synth fit", stream=out, grace=60):
        stage("reading x.npy")
        raise ValueError("bad input")
    assert out.getvalue() == ""
    out = io.StringIO()
    with reporting("synth fit", stream=out, grace=0.05):
        stage("first")
        time.sleep(0.5)  # the timer writes the held line
        assert out.getvalue() == "[synth fit] first ...\n"
        stage("second")
    assert out.getvalue().splitlines() == ["[synth fit] first ...", "[synth fit] second ..."]


def test_a_terminal_gets_elapsed_time_and_bars():
    out = Terminal()
    with reporting("synth demo", stream=out, grace=0):
        stage("fitting fog on 10,000 rows")
        assert show_bars()
    assert out.getvalue() == "[synth demo 0:00] fitting fog on 10,000 rows ...\n"


def cli(module, *args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNTH_PROGRESS_GRACE": "0"}  # every stage line, however fast
    proc = subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    return proc


def subsequence(expected, lines):
    """Whether ``expected`` appear in ``lines`` in this order (other lines may come between)."""
    it = iter(lines)
    return all(any(line == e for line in it) for e in expected)


@pytest.fixture(scope="module")
def clustered(tmp_path_factory):
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((20, 16))
    X = centers[rng.integers(0, 20, 2500)] + 0.3 * rng.standard_normal((2500, 16))
    folder = tmp_path_factory.mktemp("progress")
    np.save(folder / "x.npy", X.astype(np.float32))
    return folder


def test_fit_reports_its_stages_on_stderr_and_keeps_stdout(clustered):
    proc = cli("synth.cli", "fit", "x.npy", "-o", "m.safetensors", "--seed", 1, cwd=clustered)
    err = proc.stderr.splitlines()
    assert subsequence(["[synth fit] reading x.npy ...", "[synth fit] fitting patch on 2,500 rows ...",
                        "[synth fit] patch: calibrating the noise scale (two-sample test on a split) ...",
                        "[synth fit] statistics and memorization check for the model file ...",
                        "[synth fit] writing m.safetensors ..."], err), err
    assert all(line.startswith("[synth fit] ") for line in err)
    out = proc.stdout.splitlines()
    assert out[0] == "read 2500 x 16 from x.npy (0 duplicate rows)" and out[-1].startswith("wrote m.safetensors")
    assert not any("[synth" in line for line in out)
    quiet = cli("synth.cli", "fit", "x.npy", "-o", "m.safetensors", "--seed", 1, "--force", "-q", cwd=clustered)
    assert quiet.stderr == "" and quiet.stdout.splitlines()[:-1] == out[:-1]


@pytest.mark.slow
def test_bench_compare_reports_its_stages_and_its_json_stays_clean(clustered):
    cli("synth.cli", "fit", "x.npy", "-o", "small.safetensors", "--patches", 8, "--noise-scale", 1, cwd=clustered)
    proc = cli("bench.cli", "compare", "x.npy", "--model", "small.safetensors", "--n", 200, "--queries", 20,
               "--index", "faiss-flat", "--repeats", 1, "--out", "cmp", "--json", cwd=clustered)
    assert subsequence(["[bench compare] reading x.npy ...", "[bench compare] fitting fog ...",
                        "[bench compare] real corpus: 200 rows, exact ground truth of 20 queries ...",
                        "[bench compare] random corpus: sampling 200 + 20 rows, exact ground truth ...",
                        "[bench compare] saving the corpora to cmp/suite ...",
                        "[bench compare] faiss-flat on real (200 rows): build and sweep ...",
                        "[bench compare] faiss-flat on random (200 rows): build and sweep ...",
                        "[bench compare] writing results.json, results.md and the plots to cmp ..."],
                       proc.stderr.splitlines()), proc.stderr
    result = json.loads(proc.stdout)
    assert set(result["results"]["faiss-flat"]) == {"real", "fake", "fog", "random"}
