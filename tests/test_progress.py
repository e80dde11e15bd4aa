import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import synth.progress
from synth.progress import about, begin, muted, plan, planned, reporting, show_bars, stage

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


class Clock:
    """A clock the test moves by hand (``synth.progress.clock``)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(synth.progress, "clock", c)
    return c


def test_a_terminal_gets_the_time_left_once_steps_finish_and_it_falls(clock, capsys):
    out = Terminal()
    with reporting("synth demo", stream=out, grace=0, estimate=True):
        with plan([("fit", 2), ("score", 1), ("write", 1)]):
            stage("fitting patch", step="fit")
            clock.now = 1
            stage("patch: k-means")  # inside the first step: nothing is done yet, so no estimate
            clock.now = 40
            stage("scoring patch", step="score")  # half done in 40 s: 40 s left
            clock.now = 50
            stage("memorization check")  # inside a step: what is left of the same total
            clock.now = 60
            stage("writing", step="write")  # 3/4 done in 60 s: 20 s left
    assert out.getvalue().splitlines() == ["[synth demo 0:00] fitting patch ...",
                                           "[synth demo 0:01] patch: k-means ...",
                                           "[synth demo 0:40, about 40 s left] scoring patch ...",
                                           "[synth demo 0:50, about 30 s left] memorization check ...",
                                           "[synth demo 1:00, about 20 s left] writing ..."]
    assert capsys.readouterr() == ("", "")  # stdout never touched; the lines went to the stream


def test_the_estimate_stays_off_a_terminal_off_unasked_and_off_quiet_commands(clock):
    steps = [("a", 1), ("b", 1)]
    for stream, estimate, quiet in ((io.StringIO(), True, False), (Terminal(), False, False),
                                    (Terminal(), True, True)):
        with reporting("synth fit", stream=stream, grace=0, estimate=estimate, quiet=quiet), plan(steps):
            stage("first", step="a")
            clock.now += 30
            stage("second", step="b")
        assert "left" not in stream.getvalue()
        assert stream.getvalue() == "" if quiet else len(stream.getvalue().splitlines()) == 2


def test_no_estimate_below_min_done_nor_once_a_step_runs_past_it(clock):
    out = Terminal()
    with reporting("synth fit", stream=out, grace=0, estimate=True), plan([("read", 1), ("fit", 99)]):
        clock.now = 10
        stage("fitting", step="fit")  # 1% done: extrapolating would multiply its noise a hundredfold
        assert out.getvalue().splitlines()[-1] == "[synth fit 0:10] fitting ..."
    out, clock.now = Terminal(), 0
    with reporting("synth fit", stream=out, grace=0, estimate=True), plan([("fit", 1), ("check", 1)]):
        clock.now = 10
        stage("checking", step="check")
        clock.now = 15
        stage("checking more")
        clock.now = 25  # the estimate said 20 s in all
        stage("still checking")
    assert out.getvalue().splitlines() == ["[synth fit 0:10, about 10 s left] checking ...",
                                           "[synth fit 0:15, a few seconds left] checking more ...",
                                           "[synth fit 0:25] still checking ..."]


def test_a_nested_plan_divides_its_step_and_a_step_done_again_drops_the_estimate(clock):
    out = Terminal()
    with reporting("synth fit", stream=out, grace=0, estimate=True), plan([("fit", 3), ("write", 1)]):
        with plan([("k-means", 1), ("calibrate", 2)]):  # the fit's 3/4, as 1/4 and 2/4
            clock.now = 30
            stage("calibrating", step="calibrate")  # 1/4 done in 30 s: 90 s left, about 2 min
            clock.now = 40
            stage("k-means again", step="k-means")  # a back-off: how many more, nobody knows
            clock.now = 50
            stage("calibrating again", step="calibrate")  # not past the furthest step yet
        clock.now = 90
        begin("write")  # 3/4 done in 90 s: 30 s left
        stage("writing")
    assert out.getvalue().splitlines() == ["[synth fit 0:30, about 2 min left] calibrating ...",
                                           "[synth fit 0:40] k-means again ...",
                                           "[synth fit 0:50] calibrating again ...",
                                           "[synth fit 1:30, about 30 s left] writing ..."]


def test_steps_of_weight_zero_are_not_counted(clock):
    out = Terminal()
    with reporting("synth recipe run", stream=out, grace=0, estimate=True):
        with plan([("source", 0), ("fit", 1), ("score", 1)]):
            clock.now = 100  # embedding texts: no weight can foresee it
            stage("fit", step="fit")
            clock.now = 110
            stage("score", step="score")  # half done in 10 s, not in 110
    assert out.getvalue().splitlines()[-1] == "[synth recipe run 1:50, about 10 s left] score ..."


def test_planned_passes_the_arguments_and_a_failing_plan_costs_no_command(clock):
    seen = []

    def steps(n, scale=2, **_):
        seen.append((n, scale))
        return [("a", n), ("b", scale)]

    @planned(steps)
    def job(n, scale=2):
        stage("b", step="b")
        return n * scale

    assert job(3) == 6 and seen == []  # no command reporting: no plan computed
    with reporting("synth fit", stream=Terminal(), grace=0, estimate=True):
        assert job(3, scale=5) == 15 and seen == [(3, 5)]

    @planned(lambda **_: 1 / 0)
    def fragile():
        return "done"

    with reporting("synth fit", stream=Terminal(), grace=0, estimate=True):
        assert fragile() == "done"


def test_the_time_left_in_words():
    assert [about(s) for s in (3, 12, 58, 61, 150, 3599, 3600, 4500)] == [
        "a few seconds", "about 10 s", "about 1 min", "about 1 min", "about 2 min", "about 1 h", "about 1 h",
        "about 1 h 20 min"]


def test_the_plans_have_distinct_keys_and_the_steps_their_stages_name(clock):
    """A key twice, or a stage naming a step its plan lacks, would silently cost the estimate."""
    from bench.fitspeed import fit_speed_plan
    from bench.runner import bench_steps
    from bench.standard import board_plan
    from bench.suites import suite_plan
    from bench.throughput import throughput_plan
    from synth.demo import demo_plan
    from synth.metrics.privacy import attacks_plan
    from synth.metrics.twosample import score_plan
    from synth.models import PatchPCA
    from synth.models.patch import bridge_plan
    from synth.publish.hub import publish_plan
    from synth.publish.recipe import recipe_plan

    plans = [demo_plan(), suite_plan(), bench_steps(10_000, 1000, ["faiss-hnsw", "faiss-ivf"]), fit_speed_plan(repeats=2),
             board_plan(), throughput_plan(), publish_plan(10**6, train=True), bridge_plan(),
             attacks_plan(PatchPCA()), recipe_plan(ROOT / "recipes" / "minilm-wordnet.yml")]
    for steps in plans:
        keys = [key for key, _ in steps]
        assert len(keys) == len(set(keys)) and all(w >= 0 for _, w in steps), steps
    keys = {key for key, _ in demo_plan()}
    assert {("fit", "patch"), ("score", "random"), "write"} <= keys
    assert [key for key, _ in score_plan(train=True, standard=True)] == ["test", "ceiling", "statistics",
                                                                        "memorization", "standard"]
    assert [key for key, _ in PatchPCA(bridge="auto", recolor=True)._fit_plan()] == [
        "reference", "k-means", "calibrate", "recolor", "check"]
    assert [key for key, _ in PatchPCA(n_patches=5, noise_scale=1.0)._fit_plan()] == ["k-means"]


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


@pytest.mark.slow  # a full fit (4 s); quick-suite budget
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


@pytest.mark.slow  # moved out of the quick suite (its 3-minute budget, 2026-12-08)
def test_fit_shows_the_time_left_on_a_terminal(clustered):
    """End to end under a pseudo-terminal: stderr is a terminal, so the stage lines carry the estimate."""
    import pty
    import threading

    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNTH_PROGRESS_GRACE": "0", "COLUMNS": "120", "LINES": "40"}
    proc = subprocess.Popen([sys.executable, "-m", "synth.cli", "fit", "x.npy", "-o", "tty.safetensors", "--force"],
                            cwd=clustered, env=env, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []

    def read():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    out, _ = proc.communicate(timeout=120)
    reader.join(timeout=10)
    os.close(master)
    err = b"".join(chunks).decode(errors="replace").replace("\r", "\n")
    assert proc.returncode == 0, err
    assert re.search(r"\[synth fit \d+:\d\d, (a few seconds|about \d+ (s|min)) left\] patch: ", err), err
    assert out.splitlines()[0] == "read 2500 x 16 from x.npy (0 duplicate rows)" and "[synth" not in out
