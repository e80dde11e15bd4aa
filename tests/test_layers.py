"""synth layers on a tiny randomly initialised BERT built in the test: no downloads."""

import inspect
import json
import re
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from synth.cli import main
from synth.errors import SynthError
from synth.geometry.layers import load_texts, resolve_model_path
from synth.install import install_hint

WORDS = ["the", "cat", "dog", "sat", "on", "a", "mat", "red", "blue", "runs", "fast", "slow", "big", "small",
         "house", "tree", "river", "sings", "green", "old", "new", "bird", "flies", "under", "over"]
N_LAYERS = 2


def make_texts(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(3, 12))) for _ in range(n)]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    # transformers 5 takes the WordPiece vocabulary as `vocab`, 4.x as `vocab_file`
    params = inspect.signature(transformers.BertTokenizerFast.__init__).parameters
    tokenizer = transformers.BertTokenizerFast(**{"vocab" if "vocab" in params else "vocab_file": str(vocab)})
    assert tokenizer.convert_ids_to_tokens(tokenizer("the cat")["input_ids"]) == ["[CLS]", "the", "cat", "[SEP]"]
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(WORDS) + 5, hidden_size=16, num_hidden_layers=N_LAYERS,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    model = transformers.BertModel(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_missing_extra_is_a_one_line_error(monkeypatch):
    from synth.geometry.layers import _import_embed

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(SynthError, match=re.escape(f"torch/transformers not installed: {install_hint('embed')}")):
        _import_embed()


def test_load_texts(tmp_path):
    (tmp_path / "t.txt").write_text("one\n\n  two  \nthree\n")
    assert load_texts(tmp_path / "t.txt") == ["one", "two", "three"]
    (tmp_path / "t.tsv").write_text("0\tn1\tfirst gloss\n1\tn2\tsecond\n")
    assert load_texts(tmp_path / "t.tsv") == ["first gloss", "second"]
    bundled = load_texts()
    assert len(bundled) == 24000 and all(bundled[:10])
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(SynthError):
        load_texts(tmp_path / "empty.txt")


def test_resolve_model_path_follows_modules_json(tmp_path):
    (tmp_path / "0_Transformer").mkdir()
    (tmp_path / "0_Transformer" / "config.json").write_text("{}")
    (tmp_path / "modules.json").write_text(json.dumps(
        [{"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"}]))
    assert resolve_model_path(tmp_path) == tmp_path / "0_Transformer"
    with pytest.raises(SynthError):
        resolve_model_path(tmp_path / "0_Transformer" / "nothing")


def test_hidden_states_shapes_and_padding_independence(tiny_model):
    from synth.geometry.layers import hidden_states, load_model

    tokenizer, model = load_model(tiny_model)
    texts = make_texts(40)
    a = hidden_states(tokenizer, model, texts, max_tokens=50, batch_size=1)
    b = hidden_states(tokenizer, model, texts, max_tokens=50, batch_size=7)
    assert a["sentences"].shape == (N_LAYERS + 1, 40, 16)
    assert a["tokens"].shape == (N_LAYERS + 1, 50, 16)
    # padding in a batch must not leak into the pooled or token vectors
    np.testing.assert_allclose(a["sentences"], b["sentences"], atol=1e-5)
    np.testing.assert_allclose(a["tokens"], b["tokens"], atol=1e-5)
    np.testing.assert_array_equal(a["token_ids"], b["token_ids"])
    assert a["token_ids"].min() >= 5  # no [PAD], [CLS], [SEP]
    assert a["word_table"].shape == (len(set(" ".join(texts).split())), 16)
    # the last layer pooled over the attention mask is the model's mean-pooled output
    import torch

    enc = tokenizer(texts[:1], return_tensors="pt")
    with torch.inference_mode():
        last = model(**enc).last_hidden_state[0].mean(0).numpy()
    np.testing.assert_allclose(a["sentences"][-1, 0], last, atol=1e-5)
    # every word of this vocabulary is one word piece, and all of them are ordinary tokens
    assert a["n_tokens_total"] == sum(len(t.split()) for t in texts)


def test_run_layers_report(tiny_model):
    from synth.geometry.layers import format_layers_markdown, run_layers

    r = run_layers(tiny_model, make_texts(), max_tokens=200, n_simplices=200, fog_rounds=1)
    assert [e["layer"] for e in r["layers"]] == list(range(N_LAYERS + 1))
    assert r["n_texts"] == 120 and r["n_tokens"] == 200
    for rep in [r["word_table"]] + [e for e in r["layers"]] + [e["token"] for e in r["layers"]]:
        assert {"twonn_id", "isoscore", "participation_ratio", "anisotropy", "nn_cosine", "hubness",
                "cm_volume_cv"} <= set(rep)
    for e in r["layers"]:
        assert e["c2st_n"] == 60 and e["token"]["c2st_n"] == 100
        for key in ("c2st", "c2st_real", "c2st_fake", "fog_c2st", "fog_c2st_min", "ceiling_c2st"):
            assert 0 <= e[key] <= 1
        assert e["c2st_min"] == min(e["c2st_real"], e["c2st_fake"])
        assert 0 < e["p_value"] <= 1 and 0 < e["axis_share"] <= 1
    assert r["layers"][0]["axis_cosine_prev"] is None and r["layers"][0]["token"]["axis_cosine_prev"] is None
    assert all(-1 <= e["axis_cosine_prev"] <= 1 for e in r["layers"][1:])
    # the word table has only 25 rows: too few to fit and test, reported as None with the reason
    assert r["word_table"]["c2st"] is None and "too few" in r["word_table"]["c2st_note"]
    md = format_layers_markdown(r)
    assert md.count("| embeddings |") == 2 and "| word table |" in md
    again = run_layers(tiny_model, make_texts(), max_tokens=200, n_simplices=200, fog_rounds=1)
    assert again["layers"] == r["layers"]  # seeded end to end


def test_cli_layers_and_cone_on_a_model(tiny_model, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(make_texts(100)) + "\n")
    runner = CliRunner()
    args = ["layers", str(tiny_model), "--texts", str(texts), "--max-tokens", "120", "--fog-rounds", "1"]
    r = runner.invoke(main, args + ["--json", "--max-texts", "90"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    assert len(out["layers"]) == N_LAYERS + 1 and out["n_texts"] == 90
    assert {"anisotropy", "c2st", "fog_c2st", "c2st_n", "token"} <= set(out["layers"][0])
    r = runner.invoke(main, args + ["--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    for name in ("layers.json", "layers.md", "layers.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert (tmp_path / "out" / "layers.md").read_text().strip() in r.output
    r = runner.invoke(main, args + ["--out", str(tmp_path / "out")])
    assert r.exit_code == 1 and "--force" in r.output
    r = runner.invoke(main, ["cone", str(tiny_model), str(tiny_model), "--texts", str(texts), "--json",
                             "--queries", "10", "--max-texts", "60"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    assert out["comparison"]["axis_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert len(out["sets"]) == 2 and out["sets"][str(tiny_model)]["highest"][0]["text"]
