"""Fit-time search cost (synth.metrics.searchcost) and the bridge amount chosen by it (PatchPCA bridge="auto")."""

import faiss
import numpy as np
import pytest
from click.testing import CliRunner

from synth.errors import SynthError
from synth.metrics.searchcost import cost_at_recall, cost_ratio, hnsw_cost, ivf_cells, ivf_cost, search_cost
from synth.models import PatchPCA
from synth.models.patch import BRIDGE_GRID, best_amount, first_crossing, match_score, refined_amount


def unit(X):
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def blobs():
    """3,000 base rows and 200 queries in 30 overlapping clusters on S^31."""
    rng = np.random.default_rng(0)
    C = rng.standard_normal((30, 32))
    X = unit(C[rng.integers(30, size=3200)] + 0.6 * rng.standard_normal((3200, 32)))
    return X[:3000], X[3000:]


def testcost_at_recall_interpolates_on_the_frontier():
    assert cost_at_recall([0.5, 0.9, 1.0], [10, 20, 40], 0.95) == pytest.approx(30.0)
    assert cost_at_recall([0.5, 0.9, 1.0], [10, 20, 40], 0.4) == 10.0  # the first point already reaches it
    assert cost_at_recall([0.5, 0.9], [10, 20], 0.95) is None  # never reached
    # a point that does not raise recall is off the frontier: 0.8 at cost 30 is skipped
    assert cost_at_recall([0.8, 0.8, 1.0], [10, 30, 50], 0.9) == pytest.approx(30.0)


def test_ivf_cost_is_what_a_faiss_ivf_index_with_the_same_cells_scans(blobs):
    base, queries = blobs
    k = 10
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    truth = flat.search(queries, k)[1]
    centroids, assign = ivf_cells(base)
    nlist = len(centroids)
    quantizer = faiss.IndexFlatIP(base.shape[1])
    quantizer.add(centroids)
    ivf = faiss.IndexIVFFlat(quantizer, base.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.is_trained = True
    ivf.add_with_ids(base, np.arange(len(base)).astype(np.int64))  # assigned by the same centroids
    recalls, costs = [], []
    for nprobe in range(1, nlist + 1):
        ivf.nprobe = nprobe
        faiss.cvar.indexIVF_stats.reset()
        got = ivf.search(queries, k)[1]
        recalls.append(np.mean([len(np.intersect1d(g, t)) for g, t in zip(got, truth)]) / k)
        costs.append(nlist + faiss.cvar.indexIVF_stats.ndis / len(queries))
    for target in (0.8, 0.9, 0.95, 0.99):
        assert ivf_cost(base, queries, truth, target) == pytest.approx(cost_at_recall(recalls, costs, target), rel=1e-6)


def test_hnsw_cost_grows_with_recall_and_search_cost_reports_both(blobs):
    base, queries = blobs
    truth = faiss.IndexFlatIP(base.shape[1])
    truth.add(base)
    nbrs = truth.search(queries, 10)[1]
    low, high = hnsw_cost(base, queries, nbrs, 0.8), hnsw_cost(base, queries, nbrs, 0.99)
    assert 0 < low < high < len(base)
    assert hnsw_cost(base, queries, nbrs, 0.99, ef_search=(10,)) is None or low <= high
    both = search_cost(base, queries, recall=0.95)
    assert set(both) == {"ivf", "hnsw"} and all(v > 0 for v in both.values())
    assert search_cost(base, queries, recall=0.95) == both  # one thread, seeded cells: the same figures again
    assert cost_ratio({"ivf": 50.0, "hnsw": None}, {"ivf": 100.0, "hnsw": 10.0}) == {"ivf": 0.5, "hnsw": None}


@pytest.fixture(scope="module")
def auto_fit():
    from synth.bundled import load_real

    X = load_real("bundled")[:3000]
    return X, PatchPCA(n_patches=40, rank=8, bridge="auto", random_state=0).fit(X)


@pytest.mark.slow  # a bridge=auto fit on bundled rows (8 s with the fixture); quick-suite budget
def test_bridge_auto_chooses_the_amount_whose_fakes_cost_most_like_the_training_rows(auto_fit):
    X, model = auto_fit
    cal = model.bridge_calibration_
    assert cal["n_queries"] == 300 and cal["n_base"] == 2700 and cal["match"] == "both"
    # the grid, plus the interpolated amount when the match changes sign between two of its amounts
    assert set(BRIDGE_GRID) <= set(cal["grid"]) and cal["grid"] == sorted(cal["grid"])
    assert len(cal["grid"]) == len(BRIDGE_GRID) + (cal["refined"] is not None)
    ratios = {b: {"ivf": i, "hnsw": h} for b, i, h in zip(cal["grid"], cal["ivf"], cal["hnsw"])}
    assert cal["refined"] == refined_amount({b: ratios[b] for b in BRIDGE_GRID}, "both")
    crossing = first_crossing({b: ratios[b] for b in BRIDGE_GRID}, "both")
    upto = 1.0 if crossing is None else crossing[2]
    scores = {b: max(abs(np.log(r["ivf"])), abs(np.log(r["hnsw"]))) for b, r in ratios.items() if b <= upto}
    assert model.bridge_ == min(scores, key=scores.get) == best_amount(ratios, "both", upto=upto)
    # the noise scale is calibrated for the chosen amount, and more bridging asks for less noise
    assert model.noise_scale_ == pytest.approx(cal["noise_scale"][cal["grid"].index(model.bridge_)], abs=1e-4)
    assert cal["noise_scale"][0] > cal["noise_scale"][-1]
    # bridging makes IVF costlier on these data: the fakes' ratio rises from 0 to the largest amount
    assert cal["ivf"][-1] > cal["ivf"][0]
    again = PatchPCA(n_patches=40, rank=8, bridge="auto", random_state=0).fit(X)
    assert again.bridge_ == model.bridge_ and again.bridge_calibration_ == cal
    np.testing.assert_array_equal(again.sample(300, random_state=5), model.sample(300, random_state=5))


@pytest.mark.slow  # a bridge=auto fit on bundled rows (8 s with the fixture); quick-suite budget
def test_bridge_auto_model_file_round_trip_and_a_file_without_the_amount(auto_fit, tmp_path):
    from safetensors.numpy import load_file

    from synth.io.artifact import load_model, save_model

    _, model = auto_fit
    save_model(model, tmp_path / "m.safetensors")
    back = load_model(tmp_path / "m.safetensors")
    assert back.bridge == "auto" and back.bridge_ == model.bridge_
    np.testing.assert_array_equal(back.sample(400, random_state=2), model.sample(400, random_state=2))
    fixed = PatchPCA(n_patches=40, rank=8, bridge=0.5, noise_scale=1.0, random_state=0).fit(auto_fit[0])
    save_model(fixed, tmp_path / "f.safetensors")
    assert "bridge" not in load_file(str(tmp_path / "f.safetensors"))  # a number in the parameters is enough


@pytest.mark.slow  # a bridge=auto fit on bundled rows (8 s with the fixture); quick-suite budget
def test_bridge_auto_file_missing_its_amount_is_refused(auto_fit, tmp_path):
    import json

    from safetensors.numpy import save

    from synth.io.artifact import _checksum, _open, load_model, save_model

    _, model = auto_fit
    save_model(model, tmp_path / "m.safetensors")
    header, stored = _open(tmp_path / "m.safetensors")
    for name, arrays in (("none", {k: v for k, v in stored.items() if k != "bridge"}),
                         ("big", {**stored, "bridge": np.array([1.5])})):
        header.pop("checksum", None)
        header["checksum"] = _checksum(header, arrays)
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(save(arrays, metadata={"synth": json.dumps(header, sort_keys=True)}))
        with pytest.raises(SynthError) as e:
            load_model(path)
        assert e.value.path == str(path)
        assert ("no fitted 'bridge' array" if name == "none" else "'bridge' must lie between 0 and 1") in e.value.problem


def test_bridge_must_be_auto_or_a_fraction():
    X = unit(np.random.default_rng(0).standard_normal((200, 8)))
    for bad in ("sometimes", -0.1, 1.5, np.nan):
        with pytest.raises(SynthError, match="bridge must be 'auto' or between 0 and 1"):
            PatchPCA(bridge=bad).fit(X)


@pytest.mark.slow
def test_cli_fit_bridge_auto_reports_the_choice(auto_fit, tmp_path):
    from synth.cli import main

    np.save(tmp_path / "real.npy", auto_fit[0])
    r = CliRunner().invoke(main, ["fit", str(tmp_path / "real.npy"), "-o", str(tmp_path / "a.safetensors"),
                                  "--patches", "40", "--rank", "8", "--bridge", "auto"])
    assert r.exit_code == 0, r.output
    assert f"bridge {auto_fit[1].bridge_:g} (calibrated, matching both): fakes cost" in r.output
    assert "what 2,700 training rows cost to search at recall 0.95" in r.output


def test_cli_fit_refuses_a_bridge_that_is_not_auto_or_a_fraction(tmp_path):
    from synth.cli import main

    np.save(tmp_path / "real.npy", unit(np.random.default_rng(0).standard_normal((100, 8))))
    for bad, words in (("often", "'often' is not 'auto' or a number between 0 and 1"),
                       ("1.5", "'1.5' is not between 0 and 1")):
        r = CliRunner().invoke(main, ["fit", str(tmp_path / "real.npy"), "-o", str(tmp_path / "b.safetensors"),
                                      "--bridge", bad])
        assert r.exit_code == 2 and words in r.output
        assert not (tmp_path / "b.safetensors").exists()


def test_cost_board_shows_the_amount_each_auto_config_chose():
    import json
    from pathlib import Path

    from bench.cost import markdown

    folder = Path(__file__).resolve().parent.parent / "docs" / "cost" / "auto-bundled"
    result = json.loads((folder / "cost.json").read_text())
    text = markdown(result)
    assert text.strip() == (folder / "cost.md").read_text().strip()  # the committed page is this rendering
    cal = result["configs"]["auto"]["bridge_calibration"]
    line = next(ln for ln in text.splitlines() if ln.startswith("- auto: "))
    chosen = cal["grid"].index(result["configs"]["auto"]["bridge"])
    assert f"**{cal['grid'][chosen]:g}**: {cal['ivf'][chosen]:.2f} / {cal['hnsw'][chosen]:.2f}" in line
    assert line.count("**") == 2  # one amount is marked


@pytest.mark.slow  # a second bridge=auto fit (9 s); the quick suite keeps the first
def test_bridge_auto_with_recolor_calibrates_without_a_stale_map(auto_fit):
    X, plain = auto_fit
    model = PatchPCA(n_patches=40, rank=8, bridge="auto", recolor=True, random_state=0).fit(X)
    # the map is fitted after the amount is chosen, so the choice is the one made without recolouring
    assert model.bridge_calibration_ == plain.bridge_calibration_ and model.recolor_map_ is not None
    refit = model.set_params(bridge=0.5).fit(X)
    assert refit.bridge_ == 0.5 and refit.bridge_calibration_ is None


def table(ivf, hnsw, grid=BRIDGE_GRID):
    return {b: {"ivf": i, "hnsw": h} for b, i, h in zip(grid, ivf, hnsw)}


def test_the_match_decides_which_family_the_amount_serves():
    # IVF reaches real's cost late, HNSW early: one amount cannot serve both (as on MiniLM-WordNet)
    ratios = table([0.45, 0.6, 0.75, 0.9, 0.93], [0.77, 0.85, 0.96, 1.14, 1.19])
    assert best_amount(ratios, "ivf") == 1.0
    assert best_amount(ratios, "hnsw") == 0.5
    assert best_amount(ratios, "both") == 0.75  # worse ratio 1.14 against 1 / 0.9
    assert match_score(ratios[0.75], "both") == pytest.approx(np.log(1.14))
    assert match_score(ratios[0.75], "ivf") == pytest.approx(-np.log(0.9))
    # interpolated where the family's log ratio changes sign: HNSW between 0.5 and 0.75
    t = -np.log(0.96) / (np.log(1.14) - np.log(0.96))
    assert refined_amount(ratios, "hnsw") == round(0.5 + 0.25 * t, 2) == 0.56
    assert refined_amount(ratios, "ivf") is None  # IVF never reaches 1 on this grid
    # both: where log r_ivf + log r_hnsw changes sign (the two straddle 1 by equal factors)
    s5, s75 = np.log(0.75 * 0.96), np.log(0.9 * 1.14)
    assert refined_amount(ratios, "both") == round(0.5 + 0.25 * s5 / (s5 - s75), 2)


def test_the_amount_bridges_as_little_as_matches_and_refines_the_first_crossing():
    # IVF on e5 embeddings (docs/cost/auto-e5-debian): 1 just past 0.25, then back towards 1 at bridge 1.
    # Amounts past the first match are not considered, however near 1 they come again.
    e5 = table([0.59, 0.91, 1.30, 1.26, 1.01], [0.79, 1.10, 1.49, 1.79, 1.55])
    assert first_crossing(e5, "ivf")[::2] == (0.25, 0.5)
    assert best_amount(e5, "ivf") == 0.25 and best_amount(e5, "ivf", upto=1.0) == 1.0
    t = np.log(0.91) / (np.log(0.91) - np.log(1.30))
    assert refined_amount(e5, "ivf") == round(0.25 + 0.25 * t, 2) == 0.32
    with_refined = {**e5, 0.32: {"ivf": 1.06, "hnsw": 1.23}}
    assert best_amount(with_refined, "ivf", upto=0.5) == 0.32
    # several sign changes: the lowest is refined, whatever lies beyond it
    ratios = table([0.8, 1.3, 1.4, 0.99, 1.2], [1.0] * 5)
    assert best_amount(ratios, "ivf") == 0.0  # 0.8 is nearer 1 than 1.3; 0.99 at 0.75 lies past the first match
    assert 0 < refined_amount(ratios, "ivf") < 0.25
    # no sign change: every amount counts
    assert best_amount(table([0.5, 0.8, 0.9, 0.95, 0.93], [1.0] * 5), "ivf") == 0.75
    # a point already tried is not tried again, and a cost not reached never counts as a match
    assert refined_amount({0.0: {"ivf": 0.5, "hnsw": 1}, 0.5: {"ivf": 2.0, "hnsw": 1}}, "ivf") == 0.25
    assert refined_amount({0.0: {"ivf": 0.5, "hnsw": 1}, 0.25: {"ivf": 1.0, "hnsw": 1}, 0.5: {"ivf": 2.0, "hnsw": 1}},
                          "ivf") is None
    gaps = table([0.5, None, 0.9, 1.1, 1.3], [1.0, 1.0, None, 1.0, 1.0])
    assert match_score(gaps[0.25], "ivf") == np.inf and match_score(gaps[0.5], "both") == np.inf
    assert best_amount(gaps, "ivf") == 0.75 and best_amount(gaps, "both", upto=1.0) == 0.75
    assert refined_amount(gaps, "ivf") == round(0.5 + 0.25 * np.log(0.9) / (np.log(0.9) - np.log(1.1)), 2)
    assert best_amount(table([0.9, 1 / 0.9, 1.3, 1.4, 1.5], [1] * 5), "ivf") == 0.0  # a tie: the smaller amount


def test_bridge_match_must_be_a_family_or_both(tmp_path):
    from synth.cli import main

    X = unit(np.random.default_rng(0).standard_normal((200, 8)))
    for bad in ("IVF", "graph", None):
        with pytest.raises(SynthError, match="bridge_match must be one of both, ivf, hnsw"):
            PatchPCA(bridge="auto", bridge_match=bad).fit(X)
    np.save(tmp_path / "real.npy", X)
    r = CliRunner().invoke(main, ["fit", str(tmp_path / "real.npy"), "-o", str(tmp_path / "m.safetensors"),
                                  "--bridge", "auto", "--bridge-match", "graph"])
    assert r.exit_code == 2 and "'graph' is not one of 'both', 'ivf', 'hnsw'" in r.output
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.slow
def test_bridge_match_per_family_on_a_corpus_where_they_part(tmp_path):
    from synth.bundled import load_real
    from synth.io.artifact import load_model, save_model

    X = load_real("bundled")[:8000]
    # a fixed patch count: with "auto" the copy guard may back off at one chosen amount and not at another
    fits = {m: PatchPCA(n_patches=128, bridge="auto", bridge_match=m, random_state=0).fit(X)
            for m in ("both", "ivf", "hnsw")}
    cals = {m: f.bridge_calibration_ for m, f in fits.items()}
    for m, cal in cals.items():
        ratios = {b: {"ivf": i, "hnsw": h} for b, i, h in zip(cal["grid"], cal["ivf"], cal["hnsw"])}
        # the grid's measurements do not depend on the match; the choice and the refinement do
        assert {b: ratios[b] for b in BRIDGE_GRID} == {b: r for b, r in zip(cals["both"]["grid"], [
            {"ivf": i, "hnsw": h} for i, h in zip(cals["both"]["ivf"], cals["both"]["hnsw"])]) if b in BRIDGE_GRID}
        crossing = first_crossing({b: ratios[b] for b in BRIDGE_GRID}, m)  # bounds the amounts considered
        assert fits[m].bridge_ == best_amount(ratios, m, upto=1.0 if crossing is None else crossing[2])
        assert cal["match"] == m
        assert cal["refined"] == refined_amount({b: ratios[b] for b in BRIDGE_GRID}, m)
        assert fits[m].noise_scale_ == pytest.approx(cal["noise_scale"][cal["grid"].index(fits[m].bridge_)], abs=1e-4)
    # on the bundled sample graph search grows dear sooner than IVF: the two families ask for different amounts
    assert fits["hnsw"].bridge_ < fits["ivf"].bridge_
    save_model(fits["hnsw"], tmp_path / "h.safetensors")
    back = load_model(tmp_path / "h.safetensors")
    assert back.bridge_match == "hnsw" and back.bridge_ == fits["hnsw"].bridge_
    np.testing.assert_array_equal(back.sample(200, random_state=3), fits["hnsw"].sample(200, random_state=3))
