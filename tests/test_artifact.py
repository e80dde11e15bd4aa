import json

import numpy as np
import pytest
from safetensors.numpy import save

from synth.bundled import load_minilm_wordnet
from synth.errors import SynthError
from synth.io.artifact import SCHEMA_VERSION, _checksum, load_model, model_bytes, read_header, save_model
from synth.models import Fog, PatchPCA, RandomSphere


@pytest.fixture(scope="module")
def real():
    return load_minilm_wordnet()[:4000]


@pytest.fixture(scope="module")
def fitted(real):
    return {"patch": PatchPCA(n_patches=30, rank=16, random_state=0).fit(real),
            "fog": Fog(n_fit=800, n_rounds=1, random_state=0).fit(real),
            "random": RandomSphere().fit(real)}


@pytest.mark.parametrize("kind", ["patch", "fog", "random"])
def test_save_load_same_bytes_same_samples(tmp_path, fitted, kind):
    model = fitted[kind]
    path = tmp_path / "m.safetensors"
    size = save_model(model, path, fit_data={"n": 4000, "d": 384, "sha256": "0" * 64})
    assert size == path.stat().st_size
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    assert getattr(loaded, "noise_scale_", None) == getattr(model, "noise_scale_", None)
    np.testing.assert_array_equal(loaded.sample(500, random_state=3), model.sample(500, random_state=3))
    assert model_bytes(loaded, loaded.header_["fit_data"]) == path.read_bytes()
    assert loaded.header_["schema_version"] == SCHEMA_VERSION and loaded.header_["kind"] == kind


@pytest.mark.slow
def test_refit_with_same_seed_gives_identical_file(real):
    files = [model_bytes(PatchPCA(n_patches=30, rank=16, random_state=7).fit(real)) for _ in range(2)]
    assert files[0] == files[1]
    assert model_bytes(PatchPCA(n_patches=30, rank=16, random_state=8).fit(real)) != files[0]


def test_truncated_file_is_refused(tmp_path, fitted):
    path = tmp_path / "m.safetensors"
    save_model(fitted["patch"], path)
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(SynthError, match="unreadable, truncated or damaged"):
        load_model(path)


def test_altered_array_is_refused(tmp_path, fitted):
    path = tmp_path / "m.safetensors"
    save_model(fitted["patch"], path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # inside the last array's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(SynthError, match="checksum mismatch"):
        load_model(path)


def test_newer_schema_is_refused(tmp_path, fitted):
    model = fitted["random"]
    save_model(model, tmp_path / "m.safetensors")
    header = read_header(tmp_path / "m.safetensors")
    header["schema_version"] = SCHEMA_VERSION + 1
    header.pop("checksum")
    arrays = model._arrays()
    header["checksum"] = _checksum(header, arrays)
    path = tmp_path / "new.safetensors"
    path.write_bytes(save(arrays, metadata={"synth": json.dumps(header)}))
    with pytest.raises(SynthError, match=f"schema {SCHEMA_VERSION + 1}.*upgrade synth"):
        load_model(path)


def test_foreign_files_are_refused(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(SynthError, match="not a synth model file"):
        load_model(tmp_path / "junk.safetensors")
    other = tmp_path / "other.safetensors"
    other.write_bytes(save({"w": np.zeros(3, np.float32)}))
    with pytest.raises(SynthError, match="no synth header"):
        read_header(other)
    with pytest.raises(SynthError, match="no such model file"):
        load_model(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("n, d, limit_mb", [(10000, 384, 8), (20000, 1024, 16)])
@pytest.mark.slow
def test_default_fit_fits_the_size_budget(n, d, limit_mb):
    # 20,000 rows ask for 320 patches; at 1024-d the default 16 MB cap keeps 184
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)).astype(np.float32)
    size = len(model_bytes(PatchPCA(noise_scale=1.0, random_state=0).fit(X)))  # the scale does not change size
    assert size <= limit_mb * 1e6, size
