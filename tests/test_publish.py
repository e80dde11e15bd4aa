"""synth publish: the Hub-ready folder loads back with datasets, the card parses and states the audit, uploads
go through HfApi with the right arguments and are refused when the memorization check fails."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import save_real_split

from synth.cli import main
from synth.io.artifact import load_model
from synth.models.fitting import fit_model

N, Q, K = 5000, 100, 10


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = save_real_split(tmp_path_factory.mktemp("publish"), n_heldout=4000)
    fit_model(tmp / "train.npy", tmp / "model.safetensors", params=dict(n_patches=40, rank=16, noise_scale=1.0))
    return tmp


@pytest.fixture(scope="module")
def published(files):
    out = files / "pub"
    r = run("publish", files / "model.safetensors", "--n", N, "--queries", Q, "--k", K, "--out", out,
            "--train", files / "train.npy", "--heldout", files / "heldout.npy", "--audit-n", 2000,
            "--card", "pretty_name=Test corpus", "--card", "source_model=all-MiniLM-L6-v2", "--seed", 3)
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.slow  # moved out of the quick suite (its 3-minute budget, 2026-12-08)
def test_folder_loads_as_three_configs_with_exact_neighbours(files, published, tmp_path):
    import datasets
    import faiss

    cache = str(tmp_path / "cache")
    corpus = datasets.load_dataset(str(published), "corpus", split="train", cache_dir=cache)
    queries = datasets.load_dataset(str(published), "queries", split="test", cache_dir=cache)
    neighbors = datasets.load_dataset(str(published), "neighbors", split="test", cache_dir=cache)
    assert corpus.features["vector"] == datasets.List(datasets.Value("float32"), length=384)
    X = np.asarray(corpus.with_format("numpy")["vector"])
    Qv = np.asarray(queries.with_format("numpy")["vector"])
    assert X.shape == (N, 384) and X.dtype == np.float32 and Qv.shape == (Q, 384)
    assert list(corpus["id"][:3]) == [0, 1, 2]
    # the corpus is the sample of the model with that seed, not some other rows
    np.testing.assert_array_equal(X, load_model(files / "model.safetensors").sample(N, random_state=3))
    scores, ids = faiss.knn(Qv, X, K, metric=faiss.METRIC_INNER_PRODUCT)
    got = np.asarray(neighbors.with_format("numpy")["neighbors"])
    got_scores = np.asarray(neighbors.with_format("numpy")["scores"])
    assert got.shape == (Q, K)
    np.testing.assert_allclose(got_scores, scores, atol=1e-6)
    assert (got == ids).mean() > 0.99  # ties may order differently; the scores above are exact


@pytest.mark.slow  # moved out of the quick suite (its 3-minute budget, 2026-12-08)
def test_card_parses_with_three_configs_and_states_the_measured_audit(published):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(published / "README.md")
    data = card.data.to_dict()
    assert [c["config_name"] for c in data["configs"]] == ["corpus", "queries", "neighbors"]
    assert data["size_categories"] == ["1K<n<10K"] and data["pretty_name"] == "Test corpus"
    assert "synthetic" in data["tags"]
    info = {i["config_name"]: i for i in data["dataset_info"]}
    assert info["corpus"]["splits"][0]["num_examples"] == N and info["neighbors"]["splits"][0]["num_examples"] == Q
    audit = json.loads((published / "audit.json").read_text())
    s = audit["audit"]["score"]
    body = card.text
    assert f"c2st {s['c2st']:.3f}" in body and f"{s['ceiling']:.3f}" in body
    assert f"{s['dcr']['memorization_rate']:.3f}" in body and f"{s['dcr']['fake_median']:.3f}" in body
    privacy = body.split("## Privacy audit")[1]
    # memorization passes; membership inference does not: the model file gives its training rows away
    assert audit["privacy"]["memorization_passed"] and audit["privacy"]["membership_passed"] is False
    assert not audit["privacy"]["passed"] and "**Check failed: membership inference, subspace_residual AUC" in privacy
    attacks = audit["audit"]["membership"]["attacks"]
    assert set(attacks) == {"subspace_residual", "likelihood", "nearest_patch_mean", "nearest_fake"}
    # the nearest-fake attack searched the published corpus itself: all N rows here (at most 100,000)
    assert audit["audit"]["membership"]["n_fakes"] == N and f"searches this corpus's first {N:,} rows" in body
    for name, a in attacks.items():
        assert f"| {name} | {a['auc']:.3f} [{a['auc_ci'][0]:.3f}-{a['auc_ci'][1]:.3f}] |" in privacy
    c = s["standard"]["data_copying"]
    assert f"| data-copying test C_T (Meehan et al. 2020) | {c['c_t']:.2f} over {c['cells_used']} of" in privacy
    assert f"| detection score (SDMetrics LogisticDetection) | {s['standard']['detection']['score']:.3f}" in body
    assert "all-MiniLM-L6-v2" in body and "$" not in re.sub(r"```.*?```", "", body, flags=re.S)
    assert 0.2 < s["c2st"] < 0.52 and s["dcr"]["memorization_rate"] <= 0.06


@pytest.mark.slow
def test_synth_fit_reads_the_folder_and_a_hub_id(published, tmp_path, monkeypatch):
    r = run("fit", published, "-o", tmp_path / "refit.safetensors", "--patches", 20, "--rank", 8,
            "--noise-scale", 1)
    assert r.exit_code == 0, r.output
    assert f"read {N} x 384" in r.output
    import datasets

    real_load = datasets.load_dataset
    asked = []

    def fake_load(path, name=None, split=None, **kw):  # the Hub, served from the local folder
        asked.append((path, name, split))
        return real_load(str(published), name, split=split, cache_dir=str(tmp_path / "cache"))

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    r = run("fit", "hf:owner/corpus", "-o", tmp_path / "hub.safetensors", "--patches", 20, "--rank", 8,
            "--noise-scale", 1)
    assert r.exit_code == 0, r.output
    assert asked == [("owner/corpus", None, "train")]


@pytest.mark.slow  # moved out of the quick suite (its 3-minute budget, 2026-12-08)
def test_upload_calls_create_repo_and_upload_folder(files, tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("create", repo_id, kw)))
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, **kw: calls.append(("upload", kw)) or "url")
    out = tmp_path / "up"
    r = run("publish", files / "model.safetensors", "--n", 500, "--queries", 10, "--k", 5, "--out", out,
            "--train", files / "train.npy", "--heldout", files / "heldout.npy", "--audit-n", 500, "--no-hnsw",
            "--repo-id", "me/synthetic-minilm", "--private", "--allow-unsafe")  # the model leaks membership:
    assert r.exit_code == 0, r.output  # the refusal is test_upload_is_refused_when_membership_inference_succeeds
    assert calls[0] == ("create", "me/synthetic-minilm", {"repo_type": "dataset", "private": True, "exist_ok": True})
    assert calls[1][0] == "upload"
    kw = calls[1][1]
    assert kw["repo_id"] == "me/synthetic-minilm" and kw["repo_type"] == "dataset"
    assert Path(kw["folder_path"]) == out and (out / "README.md").exists()
    assert "hf:me/synthetic-minilm" in (out / "README.md").read_text()

    calls.clear()  # --dry-run never uploads
    r = run("publish", files / "model.safetensors", "--n", 500, "--queries", 10, "--k", 5, "--out", out,
            "--force", "--repo-id", "me/x", "--dry-run")
    assert r.exit_code == 0, r.output
    assert calls == [] and "not uploaded" in r.output


@pytest.mark.slow  # moved out of the quick suite (its 3-minute budget, 2026-12-08)
def test_upload_is_refused_when_the_memorization_check_fails(files, tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, *a, **kw: calls.append("create"))
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, **kw: calls.append("upload"))
    # held-out rows from elsewhere on the sphere: real-looking fakes sit far closer to the training rows than
    # they do, so the check fails on its own figures
    rng = np.random.default_rng(0)
    far = rng.standard_normal((2000, 384)).astype(np.float32)
    np.save(tmp_path / "far.npy", far)
    args = ["publish", files / "model.safetensors", "--n", 500, "--queries", 10, "--k", 5, "--out",
            tmp_path / "p", "--train", files / "train.npy", "--heldout", tmp_path / "far.npy", "--audit-n", 500,
            "--no-hnsw", "--repo-id", "me/x", "-q"]
    r = run(*args)
    assert r.exit_code == 1 and "refusing to upload" in r.output and "memorization rate" in r.output
    assert len(r.output.strip().splitlines()) == 1 and calls == []
    card = (tmp_path / "p" / "README.md").read_text()  # the folder is written and says why
    assert "**Check failed: memorization rate" in card
    r = run(*args, "--force", "--allow-unsafe")
    assert r.exit_code == 0, r.output
    assert calls == ["create", "upload"]


@pytest.mark.slow  # moved out of the quick suite (its 3-minute budget, 2026-12-08)
def test_upload_is_refused_when_membership_inference_succeeds(files, tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    monkeypatch.setattr(HfApi, "create_repo", lambda self, *a, **kw: pytest.fail("must not upload"))
    r = run("publish", files / "model.safetensors", "--n", 500, "--queries", 10, "--k", 5, "--out", tmp_path / "p",
            "--train", files / "train.npy", "--heldout", files / "heldout.npy", "--audit-n", 500, "--no-hnsw",
            "--repo-id", "me/x", "-q")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert "refusing to upload: the privacy check failed: membership inference, subspace_residual AUC" in r.output
    assert "(memorization check passed:" in r.output


@pytest.mark.slow
def test_publish_runs_the_shadow_attack_and_names_it_on_the_card(files, tmp_path):
    """--shadows K adds the shadow-model attack to the audit: in audit.json, in the card's table (with a sentence
    saying what it is) and in the privacy check."""
    r = run("publish", files / "model.safetensors", "--n", 500, "--queries", 10, "--k", 5, "--out", tmp_path / "p",
            "--train", files / "train.npy", "--heldout", files / "heldout.npy", "--audit-n", 500, "--no-hnsw",
            "--shadows", 2)
    assert r.exit_code == 0, r.output
    assert "shadow_lira AUC" in r.output
    audit = json.loads((tmp_path / "p" / "audit.json").read_text())
    shadow = audit["audit"]["membership"]["shadow"]
    assert shadow["ran"] and shadow["shadows"] == 2 and shadow["rows"] == 3500
    assert audit["audit"]["membership"]["attacks"]["shadow_lira"]["auc"] > 0.8
    card = (tmp_path / "p" / "README.md").read_text()
    assert "| shadow_lira |" in card and "2 shadow models fitted like this one on 3,500 held-out rows" in card


def test_upload_without_an_audit_is_refused(files, tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    monkeypatch.setattr(HfApi, "create_repo", lambda self, *a, **kw: pytest.fail("must not upload"))
    r = run("publish", files / "model.safetensors", "--n", 300, "--queries", 5, "--k", 5, "--out", tmp_path / "p",
            "--repo-id", "me/x")
    assert r.exit_code == 1 and "not run" in r.output
    card = (tmp_path / "p" / "README.md").read_text()
    assert "**Not measured**" in card


def test_bad_inputs_fail_in_one_line_and_leave_nothing(files, tmp_path):
    out = tmp_path / "p"
    r = run("publish", files / "model.safetensors", "--n", 300, "--out", out, "--k", 5, "--queries", 5,
            "--train", files / "heldout.npy", "--heldout", files / "train.npy")
    assert r.exit_code == 1 and "not the data this model was fitted on" in r.output
    assert "model.safetensors" in r.output and len(r.output.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".p.*"))
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    r = run("publish", files / "model.safetensors", "--n", 300, "--out", out, "--k", 5, "--queries", 5)
    assert r.exit_code == 1 and "--force" in r.output and (out / "mine.txt").read_text() == "keep"
    r = run("publish", files / "model.safetensors", "--n", 300, "--out", tmp_path / "q", "--train",
            files / "train.npy")
    assert r.exit_code != 0 and "--heldout" in r.output


@pytest.mark.skipif(not (os.environ.get("HF_TOKEN") and os.environ.get("SYNTH_TEST_REPO_ID")),
                    reason="live Hub test: set HF_TOKEN and SYNTH_TEST_REPO_ID (a dataset repo you own)")
def test_live_upload(files, tmp_path):
    from huggingface_hub import HfApi

    repo = os.environ["SYNTH_TEST_REPO_ID"]
    r = run("publish", files / "model.safetensors", "--n", 500, "--queries", 10, "--k", 5, "--out", tmp_path / "p",
            "--train", files / "train.npy", "--heldout", files / "heldout.npy", "--audit-n", 500, "--no-hnsw",
            "--repo-id", repo, "--private")
    assert r.exit_code == 0, r.output
    names = HfApi().list_repo_files(repo, repo_type="dataset")
    assert "README.md" in names and "corpus/train-00000-of-00001.parquet" in names
