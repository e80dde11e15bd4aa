import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands():
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command():
    install_and_demo, install_and_test = readme_commands()[:2]
    assert install_and_demo.endswith("synth demo")
    assert install_and_test in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_demo_table_is_the_committed_demo_output():
    table = (ROOT / "docs" / "demo" / "demo.md").read_text().strip()
    assert table in (ROOT / "README.md").read_text()


def test_readme_bench_table_is_the_committed_bench_output():
    readme = (ROOT / "README.md").read_text()
    results = (ROOT / "docs" / "bench" / "results.md").read_text()
    start = readme.index("**distance computations per query at recall@10 = 0.95**")
    table = readme[start:readme.index("\n\n", readme.index("| hnswlib", start))]
    assert table in results


def test_readme_fidelity_tables_are_the_committed_scoreboards():
    readme = (ROOT / "README.md").read_text()
    for name, parts in (("bundled", (2, 4)), ("word-table", (2,)), ("bridge/bundled", range(1, 7)),
                        ("bridge/word-table", range(1, 7)), ("wordnet-all-100k", (2, 4, 6))):
        board = (ROOT / "docs" / "fidelity" / name / "fidelity.md").read_text().strip().split("\n\n")
        for i in parts:
            assert board[i] in readme, (name, i)
    speed = (ROOT / "docs" / "fidelity" / "fit-speed.md").read_text().strip().split("\n\n")
    assert speed[1] in readme
    for name, parts in (("wordnet-all", (1, 2)), ("word-table", (2,))):
        board = (ROOT / "docs" / "fidelity" / "scaling" / name / "scaling.md").read_text().strip().split("\n\n")
        for i in parts:
            assert board[i] in readme, ("scaling", name, i)


def test_readme_layer_tables_are_the_committed_layers_output():
    readme = (ROOT / "README.md").read_text()
    layers = (ROOT / "docs" / "layers" / "layers.md").read_text().strip()
    assert layers in readme
    for name in ("cone.txt", "cm-sweep.txt"):
        assert (ROOT / "docs" / "layers" / name).read_text().strip() in readme


def test_readme_scale_table_is_the_committed_throughput_output():
    table = (ROOT / "docs" / "scale" / "throughput.md").read_text().strip()
    assert table in (ROOT / "README.md").read_text()


def test_readme_cost_tables_are_the_committed_cost_board():
    readme = (ROOT / "README.md").read_text()
    board = (ROOT / "docs" / "cost" / "wordnet-all-100k" / "cost.md").read_text().strip().split("\n\n")
    tables = [part for part in board if part.startswith(("| config |", "| corpus |", "| set |"))]
    assert len(tables) >= 5, "the committed cost board lacks its index, diagnostics or statistics tables"
    for part in tables[:3] + tables[-3:]:
        assert part in readme


def test_readme_route_from_the_bundled_data_to_train_npy_runs(tmp_path):
    import os
    import shlex
    import subprocess
    import sys

    import numpy as np

    readme = (ROOT / "README.md").read_text().splitlines()
    line = next(line for line in readme if line.startswith("python -c") and "train.npy" in line)
    args = shlex.split(line)
    subprocess.run([sys.executable, *args[1:]], cwd=tmp_path, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    train, heldout = np.load(tmp_path / "train.npy"), np.load(tmp_path / "heldout.npy")
    assert train.shape == (10_000, 384) and heldout.shape == (14_000, 384)
    # a split, not a copy: no held-out row is a training row
    assert not set(map(bytes, heldout[:500])) & set(map(bytes, train))
    assert readme.index(line) + 1 == next(i for i, s in enumerate(readme) if s.startswith("synth fit train.npy"))
