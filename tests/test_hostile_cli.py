"""Hostile inputs (issue 16): each ends in one line naming the file, no traceback, nothing written or lost."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_one_line_error, listing

from bench.cli import main as bench_main
from bench.suites import make_corpus, save_corpus
from synth.cli import main
from synth.install import install_hint

RECIPE = """name: tiny
source:
  embeddings: bundled
split:
  train: 3000
fit:
  kind: random
"""


def run(*args, cli=main):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    np.save(folder / "rows.npy", np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32))
    r = run("fit", folder / "rows.npy", "-o", folder / "random.safetensors", "--kind", "random")
    assert r.exit_code == 0, r.output
    return folder / "random.safetensors"


# ------------------------------------------------------------------------- 2. recipe outputs stay inside OUT
@pytest.mark.parametrize("where", ["absolute", "../victim.fbin", "sub/../../victim.fbin"])
def test_recipe_sample_path_leaving_out_is_refused(tmp_path, where):
    victim = tmp_path / "victim.fbin"
    victim.write_bytes(b"precious")
    path = str(victim) if where == "absolute" else where
    recipe = tmp_path / "r.yml"
    recipe.write_text(RECIPE + f"sample:\n  - path: {path}\n    n: 10\n")
    before = listing(tmp_path)
    for args in (("check", recipe), ("run", recipe, "--out", tmp_path / "out", "--force")):
        r = run("recipe", *args)
        assert_one_line_error(r, recipe, "line 9: sample[0].path:", repr(path))
    assert victim.read_bytes() == b"precious"
    assert listing(tmp_path) == before


def test_recipe_sample_path_through_a_symlink_out_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "fake.fbin").write_bytes(b"precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(outside, target_is_directory=True)
    recipe = tmp_path / "r.yml"
    recipe.write_text(RECIPE + "sample:\n  - path: link/fake.fbin\n    n: 10\n")
    before = listing(tmp_path)
    r = run("recipe", "run", recipe, "--out", out, "--force")
    assert_one_line_error(r, recipe, "sample[0].path", "does not resolve to a file inside the output folder")
    assert listing(tmp_path) == before


# ------------------------------------------------------------------------- 4. YAML bombs and python tags
def billion_laughs(levels=9):
    names = "abcdefghijklmnopqrstuvwxyz"[:levels]
    lines = [f'{names[0]}: &{names[0]} ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip(names, names[1:]):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_at_once(tmp_path):
    bomb = tmp_path / "bomb.yml"
    bomb.write_text(billion_laughs())
    assert len(bomb.read_bytes()) < 400
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "synth.cli", "recipe", "check", str(bomb)], capture_output=True,
                          text=True, timeout=120)
    assert time.perf_counter() - t0 < 30
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"Error: {bomb}: line 2: aliases (*a) are not allowed in a recipe"


@pytest.mark.parametrize("text, words", [
    ("name: !!python/object/apply:os.system ['touch PWNED']\nsource: {embeddings: bundled}\n",
     ["line 1: name:", "python/object/apply:os.system", "not allowed"]),
    ("name: x\nsource: !!python/object:os.Foo {embeddings: bundled}\n",
     ["line 2: source:", "python/object:os.Foo", "not allowed"]),
    ("name: x\nsource:\n  embeddings: !!python/name:os.system\n", ["line 3: source.embeddings:", "python/name"]),
    ("name: " + "[" * 3000 + "]" * 3000 + "\n", ["nested too deeply"]),
])
def test_recipe_with_python_tags_or_deep_nesting_is_a_one_line_error(tmp_path, monkeypatch, text, words):
    monkeypatch.chdir(tmp_path)
    recipe = tmp_path / "r.yml"
    recipe.write_text(text)
    r = run("recipe", "check", recipe)
    assert_one_line_error(r, recipe, *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.yml"]


def test_recipe_that_is_not_utf8_is_a_one_line_error(tmp_path):
    recipe = tmp_path / "r.yml"
    recipe.write_bytes(b"name: \xff\xfe\n")
    assert_one_line_error(run("recipe", "check", recipe), recipe, "not UTF-8")


# ------------------------------------------------------------------------- 6. merge-neighbors
@pytest.fixture(scope="module")
def parts(model):
    folder = model.parent / "parts"
    folder.mkdir()
    for i in range(2):
        r = run("sample", model, "-n", 200, "-o", folder / "c.fbin", "--shard", f"{i}/2", "--queries", 5,
                "--neighbors", 5, "--force")
        assert r.exit_code == 0, r.output
    (folder / "c.fbin").unlink()
    r = run("sample", model, "-n", 200, "-o", folder / "whole.fbin", "--queries", 5, "--neighbors", 5)
    assert r.exit_code == 0, r.output
    return sorted(folder.glob("c.fbin.neighbors-part-*.npz"))


def test_merge_neighbors_refuses_k_above_what_the_parts_hold(parts, tmp_path):
    out = tmp_path / "c.fbin"
    r = run("merge-neighbors", out, *parts, "--neighbors", 7)
    assert_one_line_error(r, parts[0], "top-5", "top-7 would not be exact")
    assert list(tmp_path.iterdir()) == []
    # K as made (or less) merges to the exact top-K of the whole corpus
    r = run("merge-neighbors", out, *parts, "--neighbors", 5)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "c.gt.bin").read_bytes() == (parts[0].parent / "whole.gt.bin").read_bytes()


@pytest.mark.parametrize("kind, words", [
    ("junk", ["not a readable .npz archive"]),
    ("keyless", ["no queries, ids, scores", "['x']"]),
    ("npy", ["single .npy array"]),
    ("shapes", ["shapes disagree"]),
])
def test_merge_neighbors_on_junk_or_keyless_npz_is_a_one_line_error(parts, tmp_path, kind, words):
    bad = tmp_path / ("bad.npy" if kind == "npy" else "bad.npz")
    if kind == "junk":
        bad.write_bytes(b"PK\x03\x04 not really a zip")
    elif kind == "keyless":
        np.savez(bad, x=np.zeros(3))
    elif kind == "npy":
        np.save(bad, np.zeros(3))
    else:
        np.savez(bad, queries=np.zeros((5, 8)), ids=np.zeros((4, 5), np.int64), scores=np.zeros((4, 5)))
    before = listing(tmp_path)
    r = run("merge-neighbors", tmp_path / "c.fbin", parts[0], bad, "--neighbors", 5)
    assert_one_line_error(r, bad, *words)
    assert listing(tmp_path) == before


# ------------------------------------------------------------------------- 8. tracebacks shown to users
@pytest.mark.parametrize("n", [2**31, 2**32])
@pytest.mark.slow
def test_sample_count_the_fbin_header_cannot_hold(model, tmp_path, n):
    out = tmp_path / "x.fbin"
    proc = subprocess.run([sys.executable, "-m", "synth.cli", "sample", str(model), "-n", str(n), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (f"Error: {out}: {n:,} rows do not fit: the .fbin header stores the count as a "
                                   "32-bit integer, at most 2,147,483,647 rows (write .npy, .h5 or a parquet "
                                   "folder)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["D.fbin", "D.npy", "D.h5"])
def test_sample_with_force_onto_an_existing_folder(model, tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    before = listing(tmp_path)
    r = run("sample", model, "-n", 10, "-o", folder, "--force")
    assert_one_line_error(r, folder, "is a folder", "never written over a folder")
    assert listing(tmp_path) == before


def test_sample_folder_output_onto_an_existing_file(model, tmp_path):
    target = tmp_path / "corpus"
    target.write_text("mine")
    r = run("sample", model, "-n", 10, "-o", target, "--force")
    assert_one_line_error(r, target, "is a file")
    assert listing(tmp_path) == {"corpus": b"mine"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """An ann-benchmarks file whose base has 50 rows (so 50 true neighbours per query)."""
    X = np.random.default_rng(1).standard_normal((60, 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    path = tmp_path_factory.mktemp("tiny") / "tiny.h5"
    save_corpus(make_corpus("real", X[:50], X[50:]), path)
    return path


def test_bench_run_k_above_the_stored_neighbours(tiny, tmp_path):
    r = run("run", tiny, "--k", 100, "--out", tmp_path / "o", "--index", "faiss-flat", cli=bench_main)
    assert_one_line_error(r, tiny, "holds 50 true neighbours per query", "k = 100")
    assert list(tmp_path.iterdir()) == []


def test_bench_run_skips_index_settings_that_cannot_be_built(tiny, tmp_path):
    out = tmp_path / "o"
    r = CliRunner().invoke(bench_main, ["run", str(tiny), "--out", str(out), "--index", "faiss-ivf", "--index",
                                        "faiss-ivfpq", "--repeats", "1"])
    assert r.exit_code == 0, r.output
    note = "skipped faiss-ivfpq: nbits = 8 needs at least 256 base rows to train its codes, got 50"
    assert r.stderr.strip().splitlines()[-1] == note
    result = json.loads((out / "results.json").read_text())
    assert set(result["results"]) == {"faiss-ivf"} and set(result["skipped"]) == {"faiss-ivfpq"}
    assert "faiss-ivfpq" in (out / "results.md").read_text()
    # nothing left to run: one line, nothing written
    r = run("run", tiny, "--out", tmp_path / "o2", "--index", "faiss-ivfpq", cli=bench_main)
    assert_one_line_error(r, tiny, "no index asked for can be built on its 50 base rows", "256")
    assert not (tmp_path / "o2").exists()


def test_workers_without_the_dask_extra(model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)  # an import of it now fails, as when it is not installed
    monkeypatch.setitem(sys.modules, "distributed", None)
    r = run("sample", model, "-n", 10, "-o", tmp_path / "x.fbin", "--workers", 2)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.strip() == f"Error: running on Dask needs the dask extra: {install_hint('dask')}"
    assert list(tmp_path.iterdir()) == []
