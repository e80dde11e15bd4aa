"""What the package installs: setuptools discovers every package folder (so a new index plug-in folder needs
no edit in pyproject.toml), and the wheel carries every source, config and data file of synth/ and bench/."""

import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOPS = ("synth", "bench")


def source_files():
    """Every file under synth/ and bench/ except bytecode, relative to the repository root."""
    return sorted(str(p.relative_to(ROOT).as_posix()) for top in TOPS for p in (ROOT / top).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def test_packages_are_discovered_not_listed():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "packages" not in setuptools and "package-dir" not in setuptools  # setup.py states them
    setup_py = (ROOT / "setup.py").read_text()
    assert 'find_packages(include=["synth", "synth.*", "bench", "bench.*"])' in setup_py  # no hand-kept list
    assert 'package_dir={"synth.cards": "cards"}' in setup_py
    # discovery needs an __init__.py in every folder of Python code (data-only folders such as synth/data
    # ship as package data of their parent, see the wheel test)
    folders = {Path(f).parent for f in source_files() if f.endswith(".py")}
    missing = sorted(str(f) for f in folders if not (ROOT / f / "__init__.py").is_file())
    assert not missing, f"folders that would not be installed (add an __init__.py): {missing}"


def test_packages_found_by_setuptools():
    from setuptools import find_packages

    found = set(find_packages(str(ROOT), include=["synth", "synth.*", "bench", "bench.*"]))
    expected = {".".join(p.parent.relative_to(ROOT).parts) for top in TOPS
                for p in (ROOT / top).rglob("__init__.py")}
    assert found == expected
    assert {"bench.indexes.usearch_hnsw", "bench.indexes.faiss_hnsw"} <= found and "synth.cards" not in found


@pytest.mark.slow
def test_wheel_holds_every_source_config_and_data_file(tmp_path):
    """Build a wheel from a copy of the sources (pip, setuptools) and list it: every .py, every plug-in's
    config.yml, the bundled data (synth/data) and the card templates (cards/, as synth/cards), nothing missing."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for top in (*TOPS, "cards"):
        shutil.copytree(ROOT / top, src / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    try:  # build with the installed setuptools when it is recent enough, else in pip's isolated environment
        isolated = int(metadata.version("setuptools").split(".")[0]) < 68
    except (metadata.PackageNotFoundError, ValueError):
        isolated = True
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(src)]
    proc = subprocess.run(cmd + ([] if isolated else ["--no-build-isolation"]), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("synth_embeddings-*.whl")
    names = {n for n in zipfile.ZipFile(wheel).namelist() if not n.split("/")[0].endswith(".dist-info")}
    assert names == set(source_files()) | {f"synth/cards/{c.name}" for c in (ROOT / "cards").glob("*.md")}
    plugins = [p.parent.name for p in (ROOT / "bench" / "indexes").glob("*/config.yml")]
    assert len(plugins) >= 11
    for plugin in plugins:
        assert {f"bench/indexes/{plugin}/{f}" for f in ("__init__.py", "module.py", "config.yml")} <= names
    assert {"synth/data/minilm-wordnet.npz", "synth/data/minilm-wordnet.tsv.gz", "synth/data/README.md",
            "synth/cards/dataset_card.md", "synth/cards/minilm-wordnet.md"} <= names
