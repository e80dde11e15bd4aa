"""Every shell command in the README runs as written (issue 17).

The test reads the fenced blocks of README.md (and of docs/**/*.md) marked ```bash or ```sh, and the plain
``` blocks whose lines start with ``synth `` or ``bench ``; it joins backslash-continued and indented
lines and drops comments after `` #``. Each command is then one of:

- **not run**: the install lines (``pip install ...``; CI runs them) and the commands of ``NOT_RUN`` below,
  each with its reason (Hub uploads, a Dask cluster, ...);
- **synopsis** (a ``[--option ...]`` or an upper-case placeholder such as ``REAL`` or ``FILE``, as in the
  Commands section): ``--help`` of that subcommand exits 0 and names every option the line shows;
- **run**: in a temporary folder holding ``train.npy`` (2,000 rows of the bundled sample), ``heldout.npy``
  (5,000 other rows), ``real.npy`` (3,000 other rows) and ``model.safetensors`` (docs/publishing.md's
  ``synth fit train.npy -o model.safetensors`` on ``train.npy``), except the files the block writes itself,
  through ``synth``, ``bench`` and ``python`` on PATH that run this checkout; the commands of one README block
  share the folder and run in order (a test runs the block's earlier commands first), so a later command
  sees what an earlier one wrote. It must exit 0. ``ALSO_RUN`` lists the commands that stand for several
  jobs (one ``--shard`` of 16): the test runs the other jobs too.

Sizes are made small by one rule, driven by the environment variable ``SYNTH_README_SCALE`` (default
0.01; 1 runs the README's own sizes): every size option (``SIZE_OPTIONS``: ``-n``, ``--n``, ``--fit``,
``--train``, ``--heldout``, ``--sizes``, ``--queries``) whose value, or one of whose comma-separated
values, is at least 1,000 has every value multiplied by the scale, then raised to the option's floor
(``FLOORS``, the least that keeps the command valid) and lowered to 20,000 (``MAX_ROWS``), and a list is
sorted and deduplicated; a size option the line leaves at a default of at least 1,000 is added, rewritten by the same
rule. Below scale 1 the named real sets (``bundled``, and ``minilm-word-table`` and ``minilm-wordnet-all``,
which need the ``[embed]`` extra) are replaced by ``bundled-small.npy``, 4,000 other rows of the bundled
sample (more above scale 1/6), since the commands also test at the largest n the real rows allow. The
cheapest commands (the synopses, ``synth fit`` on 2,000 rows in the fixture, ``synth sample`` small) run
by default, in about 10 s; the rest are marked slow (about 6 minutes on 2 cores).
"""
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCALE = float(os.environ.get("SYNTH_README_SCALE", "0.01"))
SIZE_OPTIONS = ("-n", "--n", "--fit", "--train", "--heldout", "--sizes", "--queries")
FLOORS = {"-n": 1000, "--n": 1000, "--fit": 500, "--train": 200, "--heldout": 100, "--sizes": 100,
          "--queries": 100}
MAX_ROWS = 20000
REAL_SETS = ("bundled", "minilm-word-table", "minilm-wordnet-all")
SMALL_REAL = "bundled-small.npy"

# the commands that are not run, with the reason: by the start of the command, or by an option it passes
WORD_TABLE_SPLIT = ("fits on the raw word table's named split, which needs the [embed] extra (not in CI), then uses "
                    "it; tests/test_board_models.py and tests/test_cli.py run the same route on small data")
LEMMAS = ("embeds the WordNet lemmas with the [embed] extra (not in CI); tests/test_query_model.py runs the same "
          "route on small data")
WORDNET_LABELS = ("minilm-wordnet-all's real labels are read from Debian's wordnet-base, and the named set is replaced "
                  "by bundled rows at small scale (tests/test_labels.py runs the same commands on small data)")
NOT_RUN = {
    "synth fit minilm-word-table:train": WORD_TABLE_SPLIT,
    "--model word-table-l2.safetensors": WORD_TABLE_SPLIT,
    "pip install": "installs the package; CI (.ci/run) runs the install lines",
    "dask scheduler": "starts a Dask scheduler on a cluster machine",
    "dask worker": "starts Dask workers on cluster machines",
    "synth sample model.safetensors -n 1000000000 -o /shared/corpus --scheduler tcp://HOST:8786":
        "needs a running Dask cluster at HOST",
    "--repo-id": "uploads to the Hugging Face Hub (network and a token)",
    "huggingface-cli": "talks to the Hugging Face Hub (network and a token)",
    "bench query-bands minilm-debian.npy": "reads the Debian set made on the machine (docs/cost/README.md)",
    "bench query-model minilm-debian.npy": "reads the Debian sets made on the machine (docs/workloads.md)",
    "synth fit minilm-wordnet-all --queries minilm-wordnet-lemmas": LEMMAS,
    "synth sample wordnet.safetensors": LEMMAS,
    "bench query-model minilm-wordnet-all minilm-wordnet-lemmas": LEMMAS,
    "bench query-bands e5-debian.npy": "reads the Debian set made on the machine (docs/cost/README.md)",
    "synth fit minilm-wordnet-all:train --labels lexname": WORDNET_LABELS,
    "synth sample labelled.safetensors": WORDNET_LABELS,
    "bench filtered minilm-wordnet-all --labels lexname": WORDNET_LABELS,
    "bench filtered minilm-debian.npy": "reads the Debian set and its sections made on the machine (docs/workloads.md)",
    "synth fit minilm-debian.npy --labels minilm-debian-tags.txt --multi-label":
        "reads the Debian set and its debtags made on the machine (tests/test_tags.py runs the same route on small data)",
    "synth sample tagged.safetensors": "samples the Debian tag model above (tests/test_tags.py runs it on small data)",
    "python docs/workloads/scratch/tag_filters.py": "reads the Debian set and its debtags made on the machine",
    "bench filtered minilm-wordnet-all --attribute gloss-words":
        "gloss-words belongs to the named WordNet sets, which the test replaces by a file of bundled rows",
}
# commands that stand for several jobs: the test runs the others as well, before the line itself
ALSO_RUN = {
    "synth sample model.safetensors -n 100000000 -o corpus/ --shard 3/16":
        ["--shard %d/16" % i for i in range(16) if i != 3],
}
# the default run: the synopses (--help) and `synth sample` small; `synth fit` on small data runs in the
# `inputs` fixture (docs/publishing.md's own fit reads 10,000 rows: slow)
QUICK = ("synth sample model.safetensors -n 10000000 -o corpus.fbin", "bench indexes")


def markdown_files():
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def extract_commands(path):
    """(line number, command) for every shell command of the fenced blocks of one Markdown file."""
    commands, block, fence = [], None, None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            if block is None:
                fence, block = line[3:].strip(), []
                continue
            lines = [(n, text) for n, text in block if text.strip()]
            if fence in ("bash", "sh") or (fence == "" and lines and all(
                    text.startswith(("synth ", "bench ")) or text[:1].isspace() for _, text in lines)):
                commands.append(join_lines(lines))
            block = None
        elif block is not None:
            block.append((number, line))
    return [c for block_commands in commands for c in block_commands]


def join_lines(lines):
    """Join continued lines (a trailing backslash, or an indented next line) and drop ``  # comments``."""
    out = []
    for number, text in lines:
        text = re.sub(r"\s+#(\s.*)?$", "", text).rstrip()
        if out and (out[-1][2] or text[:1].isspace()):
            first, joined, _ = out[-1]
            out[-1] = (first, joined + " " + text.strip().rstrip("\\").strip(), text.endswith("\\"))
        else:
            out.append((number, text.rstrip("\\").strip(), text.endswith("\\")))
    block_id = out[0][0] if out else 0
    return [(number, block_id, command) for number, command, _ in out]


def all_commands():
    found = []
    for path in markdown_files():
        for number, block_id, command in extract_commands(path):
            found.append((path.relative_to(ROOT).as_posix(), number, block_id, command))
    return found


def kind(command):
    if not_run_reason(command):
        return "not run"
    if not command.startswith(("synth ", "bench ", "python ")):
        return "unknown"
    words = shlex.split(command)
    if any(w.startswith("[") or re.fullmatch(r"[A-Z][A-Z_]*(\|\S+)?", w) for w in words):
        return "synopsis"
    return "run"


def not_run_reason(command):
    """The reason in NOT_RUN for not running a command, or None."""
    for key, reason in NOT_RUN.items():
        if command.startswith(key) or (key.startswith("--") and f" {key} " in f" {command} "):
            return reason
    return None


def scale_value(option, value, scale=None):
    """The rule of the module docstring, for one size option's value (a string)."""
    scale = SCALE if scale is None else scale
    numbers = [int(v) for v in str(value).split(",")]
    if max(numbers) < 1000 or scale >= 1:
        return str(value)
    numbers = sorted({min(MAX_ROWS, max(FLOORS[option], int(v * scale))) for v in numbers})
    return ",".join(str(v) for v in numbers)


def size_defaults(words):
    """Size options of the subcommand in words, with their defaults, read from the click command."""
    import click

    if words[0] == "synth":
        from synth.cli import main
    else:
        from bench.cli import main
    command, rest = main, words[1:]
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    defaults = {}
    for param in command.params:
        names = [o for o in param.opts if o in SIZE_OPTIONS]
        if names and param.default not in (None, ""):
            defaults[names[0]] = (param.opts, str(param.default))
    return defaults


def rewrite(command, scale=None):
    """The command with its sizes scaled and the [embed] real sets replaced, as an argument list."""
    scale = SCALE if scale is None else scale
    words = [(SMALL_REAL if w in REAL_SETS and scale < 1 else w) for w in shlex.split(command)]
    if words[0] not in ("synth", "bench"):
        return words
    out, given = [], set()
    for i, word in enumerate(words):
        if i and words[i - 1] in SIZE_OPTIONS and re.fullmatch(r"[\d,]+", word):
            given.add(words[i - 1])
            word = scale_value(words[i - 1], word, scale)
        out.append(word)
    for option, (opts, default) in size_defaults(words).items():
        if not given & set(opts) and re.fullmatch(r"[\d,]+", default) and scale_value(option, default, scale) != default:
            out += [opts[-1], scale_value(option, default, scale)]
    return out


COMMANDS = all_commands()


def command_id(entry):
    path, number, _, command = entry
    return f"{path}:{number}:{command.split(' --')[0][:40]}"


def marks(entry):
    command = entry[3]
    quick = kind(command) == "synopsis" or any(command.startswith(q) for q in QUICK)
    return () if quick else (pytest.mark.slow,)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The small inputs every block's folder starts with, and the synth / bench scripts."""
    from synth.bundled import load_real

    folder = tmp_path_factory.mktemp("inputs")
    X = load_real("bundled")
    p = np.random.default_rng(0).permutation(len(X))
    np.save(folder / "train.npy", X[p[:2000]])
    np.save(folder / "heldout.npy", X[p[2000:7000]])
    np.save(folder / "real.npy", X[p[7000:10000]])
    np.save(folder / SMALL_REAL, X[p[12000:12000 + max(4000, int(len(X) * SCALE))]])
    bin_dir = tmp_path_factory.mktemp("bin")
    for name in ("synth", "bench"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m {name}.cli "$@"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (bin_dir / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    subprocess.run(["synth", "fit", "train.npy", "-o", "model.safetensors", "-q"], cwd=folder, env=env,
                   check=True, capture_output=True)
    return folder, env


BLOCKS = {}


def block_folder(inputs, tmp_path_factory, path, block_id):
    """The folder of one README block, with the inputs its commands read and do not write themselves."""
    key = (path, block_id)
    if key not in BLOCKS:
        folder = tmp_path_factory.mktemp(f"block-{block_id}")
        text = " ".join(c for p, _, b, c in COMMANDS if (p, b) == key)
        for name in ("train.npy", "heldout.npy", "real.npy", "model.safetensors", SMALL_REAL):
            if not re.search(rf"(-o |save\(')({re.escape(name)})", text):  # a file the block writes itself
                shutil.copy(inputs[0] / name, folder / name)
        BLOCKS[key] = (folder, set())
    return BLOCKS[key]


# Arrow's dataset scanner can leave a worker thread running into interpreter shutdown, which then aborts the
# process after its work is done (SIGABRT, "terminate called without an active exception"; apache/arrow#39862,
# huggingface/datasets#7566). CI hit it once on the `datasets.load_dataset` line of docs/publishing.md, and
# 40 runs of that line on a loaded machine did not, so such a run is repeated once; any other failure is not.
ARROW_EXIT_ABORT = "terminate called without an active exception"


def run(words, folder, env):
    result = subprocess.run(words, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode == -signal.SIGABRT and ARROW_EXIT_ABORT in result.stderr:
        result = subprocess.run(words, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    return result


def run_entry(entry, inputs, tmp_path_factory):
    path, number, block_id, command = entry
    folder, done = block_folder(inputs, tmp_path_factory, path, block_id)
    for earlier in COMMANDS:
        if earlier[0] == path and earlier[2] == block_id and earlier[1] < number and earlier[1] not in done:
            if kind(earlier[3]) == "run":
                run_entry(earlier, inputs, tmp_path_factory)
            done.add(earlier[1])
    words = rewrite(command)
    for prefix, variants in ALSO_RUN.items():
        if command.startswith(prefix):
            for variant in variants:
                other = rewrite(command.replace("--shard 3/16", variant))
                result = run(other, folder, inputs[1])
                assert result.returncode == 0, f"{path}:{number}: {shlex.join(other)}\n{result.stderr[-3000:]}"
    result = run(words, folder, inputs[1])
    done.add(number)
    assert result.returncode == 0, f"{path}:{number}: {shlex.join(words)}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.parametrize("entry", [pytest.param(e, id=command_id(e), marks=marks(e)) for e in COMMANDS
                                   if kind(e[3]) != "not run"])
def test_readme_command_runs(entry, inputs, tmp_path_factory):
    path, number, _, command = entry
    if kind(command) == "run":
        run_entry(entry, inputs, tmp_path_factory)
        return
    words = shlex.split(command)
    subcommand = [w for w in words[:3] if re.fullmatch(r"[a-z][a-z-]*", w)]
    result = run([*subcommand, "--help"], inputs[0], inputs[1])
    assert result.returncode == 0, f"{path}:{number}: {' '.join(subcommand)} --help\n{result.stderr}"
    for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", command):
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.stdout), \
            f"{path}:{number}: {' '.join(subcommand)} --help does not list {option}"


def test_every_command_is_run_or_listed_as_not_run():
    for path, number, _, command in COMMANDS:
        assert kind(command) != "unknown", f"{path}:{number}: neither runnable here nor in NOT_RUN: {command}"
    not_run = [c for _, _, _, c in COMMANDS if kind(c) == "not run"]
    assert sum(c.startswith("pip install") for c in not_run) >= 2, "the install lines at the top are not run"
    assert not_run_reason("synth publish m.safetensors --n 10 --out o --repo-id me/x") == NOT_RUN["--repo-id"]


def test_every_readme_block_is_extracted():
    numbers = [n for p, n, _, _ in COMMANDS if p == "README.md"]
    readme = (ROOT / "README.md").read_text()
    assert readme.count("```bash") <= len(numbers)
    assert any(c.startswith("bench cost ") for _, _, _, c in COMMANDS)


def test_size_rule():
    assert scale_value("-n", "1000000", 0.01) == "10000"
    assert scale_value("-n", "100000000", 0.01) == str(MAX_ROWS)
    assert scale_value("--sizes", "10000,30000,100000", 0.01) == "100,300,1000"
    assert scale_value("--train", "2500,5000,10000,20000", 0.01) == "200"
    assert scale_value("--queries", "500", 0.01) == "500"
    assert scale_value("-n", "100000000", 1) == "100000000"
    assert rewrite("bench fidelity minilm-word-table --out x", 0.01)[:3] == ["bench", "fidelity", SMALL_REAL]
