"""The model file: everything needed to sample, in safetensors, with a JSON header and a checksum.

A model file holds named arrays (float16/float32/int64) and one metadata entry ``synth``: a JSON header with
the schema version, the model kind and parameters, the dimension, the fit data's fingerprint
(n, d, sha256) and statistics, and a sha256 checksum over the header and every array. No pickle: any
safetensors reader opens it, and nothing in it executes.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save

from .. import __version__
from ..errors import SynthError
from .formats import atomic_path

FORMAT = "synth-model"
SCHEMA_VERSION = 1
QUERY_PREFIX = "queries."  # the arrays of a query model stored beside the corpus model
LABEL_PREFIX = "labels."  # the arrays of a label model (synth.models.labels)
ATTRIBUTE_PREFIX = "attribute."  # the arrays of a numeric attribute model (synth.models.attributes)


def _models():
    from ..models import MODELS  # late: models import metrics, which must not import this module's users

    return MODELS


def _checksum(header, arrays):
    h = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}".encode())
        h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


def _params(model):
    params = {k: v for k, v in model.get_params().items() if k != "verbose"}
    if params.get("metric") == "cosine":  # the default: cosine files keep the bytes of files before the option
        del params["metric"]
    if params.get("shared_rank") == 0:  # likewise without shared directions
        del params["shared_rank"]
    if "calibration_ratio" in params and params["calibration_ratio"] is None:  # and the default calibration
        del params["calibration_ratio"]
    return params


def model_bytes(model, fit_data=None, stats=None, fit_check=None):
    """Serialize a fitted model to the bytes of a model file.

    Parameters
    ----------
    model : Generator
        A fitted model.
    fit_data : dict, optional
        Fingerprint of the data it was fitted on: ``n``, ``d``, ``sha256``, ``n_duplicates``, ``source``.
    stats : dict, optional
        Geometry statistics of the fit data (see :func:`synth.metrics.statistics.geometry_stats`).
    fit_check : dict, optional
        The memorization check on the fit data (:func:`synth.models.fitting.fit_check`), with its ``warning``;
        stored only when given, so files written without it keep their bytes.

    A model with a query model (``model.query_model_``, fitted on real queries by `synth fit --queries`) stores
    it in the same file: its arrays under the prefix ``queries.`` and its kind, parameters and fit data's
    fingerprint (``query_model_.fit_data_``) in the header's ``queries`` entry, with its tie to the corpus model
    (``query_model_.tie_``, :mod:`synth.models.tie`) under ``tie``. Files without one keep their bytes.

    A model with a label model (``model.label_model_``, `synth fit --labels`) stores its arrays under the prefix
    ``labels.`` and its classes, parameters and fit figures in the header's ``labels`` entry (a tag model,
    :class:`synth.models.tags.TagModel`, the same with ``"kind": "tags"``); one with a numeric
    attribute model (``model.attribute_model_``, `synth fit --attribute`) under ``attribute.`` and the header's
    ``attribute`` entry.
    """
    model._check_fitted()
    arrays = {name: np.ascontiguousarray(a) for name, a in model._arrays().items()}
    header = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "synth_version": __version__,
              "kind": model.kind, "params": _params(model), "dim": model.n_features_,
              "fit_data": fit_data, "stats": stats}
    if fit_check is not None:
        header["fit_check"] = fit_check
    queries = getattr(model, "query_model_", None)
    if queries is not None:  # a query model beside the corpus model: its arrays under QUERY_PREFIX
        queries._check_fitted()
        arrays.update({QUERY_PREFIX + name: np.ascontiguousarray(a) for name, a in queries._arrays().items()})
        header["queries"] = {"kind": queries.kind, "params": _params(queries), "dim": queries.n_features_,
                             "fit_data": getattr(queries, "fit_data_", None)}
        if getattr(queries, "fit_check_", None) is not None:
            header["queries"]["fit_check"] = queries.fit_check_
        if getattr(queries, "tie_", None) is not None:
            header["queries"]["tie"] = queries.tie_
    lm = getattr(model, "label_model_", None)
    if lm is not None:
        arrays.update({LABEL_PREFIX + name: np.ascontiguousarray(a) for name, a in lm._arrays().items()})
        header["labels"] = {"classes": list(lm.classes_), "params": {"min_points": lm.min_points, "C": lm.C},
                            "fit": getattr(lm, "fit_info_", None)}
        if getattr(lm, "multi_label", False):  # a tag model (several per row); one-label entries keep their bytes
            header["labels"]["kind"] = "tags"
    am = getattr(model, "attribute_model_", None)
    if am is not None:
        arrays.update({ATTRIBUTE_PREFIX + name: np.ascontiguousarray(a) for name, a in am._arrays().items()})
        header["attribute"] = {"name": am.name, "params": {"min_points": am.min_points, "alpha": am.alpha},
                               "fit": getattr(am, "fit_info_", None)}
    header["checksum"] = _checksum(header, arrays)
    # one metadata key: the JSON text is ours, so the file's bytes do not depend on map ordering
    return save(arrays, metadata={"synth": json.dumps(header, sort_keys=True)})


def save_model(model, path, fit_data=None, stats=None, fit_check=None):
    """Write a model file atomically; returns its size in bytes."""
    data = model_bytes(model, fit_data, stats, fit_check)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return len(data)


def read_header(path):
    """The JSON header of a model file, checked for format and schema version (arrays not verified)."""
    return _open(path)[0]


def _open(path):
    if not Path(path).is_file():
        raise SynthError("no such model file", path)
    try:
        with safe_open(os.fspath(path), framework="np") as f:
            meta = f.metadata() or {}
            arrays = {name: f.get_tensor(name) for name in f.keys()}
    except Exception:
        raise SynthError("not a synth model file (unreadable, truncated or damaged)", path) from None
    try:
        header = json.loads(meta["synth"])
    except (KeyError, ValueError):
        raise SynthError("not a synth model file (no synth header)", path) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SynthError("not a synth model file (wrong format tag)", path)
    version = header.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise SynthError(f"written with model schema {version}; this synth {__version__} reads up to "
                         f"{SCHEMA_VERSION}: upgrade synth", path)
    return header, arrays


def _build(cls, header, arrays, path, what=""):
    """A model of ``cls`` from a header's parameters and its arrays, checked against the header's dimension."""
    try:
        model = cls(**header["params"])
        model._set_arrays(arrays)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise SynthError(f"{what}model arrays do not fit kind {header['kind']!r} ({e})", path) from None
    if header.get("dim") != model.n_features_:
        raise SynthError(f"the header says {what}dimension {header.get('dim')!r}, the arrays {model.n_features_}",
                         path)
    return model


def load_model(path):
    """Read and verify a model file.

    Returns
    -------
    model : Generator
        The fitted model; its header (fit data fingerprint, statistics) is in ``model.header_``.

    Raises
    ------
    SynthError
        For a missing, truncated, altered, foreign or newer-schema file.
    """
    header, arrays = _open(path)
    stored = header.pop("checksum", None)
    if stored != _checksum(header, arrays):
        raise SynthError("checksum mismatch: the file was altered or damaged", path)
    header["checksum"] = stored
    cls = _models().get(header.get("kind"))
    if cls is None:
        raise SynthError(f"unknown model kind {header.get('kind')!r}", path)
    # a checksum only proves the file is what its writer meant: a hand-made or buggy file can carry a valid
    # checksum over NaN parameters or arrays of the wrong shape, which would sample NaN rows or crash
    for name in sorted(arrays):
        a = arrays[name]
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise SynthError(f"model array {name!r} holds NaN or infinite values", path)
    own = {name: a for name, a in arrays.items() if not name.startswith((QUERY_PREFIX, LABEL_PREFIX, ATTRIBUTE_PREFIX))}
    model = _build(cls, header, own, path)
    if isinstance(header.get("queries"), dict):
        q = header["queries"]
        qcls = _models().get(q.get("kind"))
        if qcls is None:
            raise SynthError(f"unknown query model kind {q.get('kind')!r}", path)
        model.query_model_ = _build(qcls, q, {name[len(QUERY_PREFIX):]: a for name, a in arrays.items()
                                              if name.startswith(QUERY_PREFIX)}, path, "query model ")
        model.query_model_.fit_data_ = q.get("fit_data")
        if "fit_check" in q:
            model.query_model_.fit_check_ = q["fit_check"]
        if isinstance(q.get("tie"), dict):
            model.query_model_.tie_ = q["tie"]
        if model.query_model_.n_features_ != model.n_features_:
            raise SynthError(f"the query model has dimension {model.query_model_.n_features_}, the corpus model "
                             f"{model.n_features_}", path)
    if isinstance(header.get("labels"), dict):
        model.label_model_ = _label_model(header["labels"], {name[len(LABEL_PREFIX):]: a for name, a in arrays.items()
                                                             if name.startswith(LABEL_PREFIX)}, model, path)
    if isinstance(header.get("attribute"), dict):
        model.attribute_model_ = _attribute_model(header["attribute"], {
            name[len(ATTRIBUTE_PREFIX):]: a for name, a in arrays.items() if name.startswith(ATTRIBUTE_PREFIX)},
            model, path)
    model.header_ = header
    model.path_ = str(path)
    return model


def _attribute_model(entry, arrays, model, path):
    from ..models.attributes import AttributeModel

    try:
        am = AttributeModel(name=str(entry.get("name", "attribute")), **entry.get("params", {}))._set_arrays(arrays)
    except (KeyError, TypeError, ValueError) as e:
        raise SynthError(f"attribute model arrays are malformed ({e})", path) from None
    if am.coef_.shape[0] != model.n_features_:
        raise SynthError(f"the attribute model has dimension {am.coef_.shape[0]}, the corpus model "
                         f"{model.n_features_}", path)
    am.fit_info_ = entry.get("fit")
    return am


def _label_model(entry, arrays, model, path):
    from ..models.labels import LabelModel
    from ..models.tags import TagModel

    kind = entry.get("kind", "labels")
    if kind not in ("labels", "tags"):
        raise SynthError(f"unknown label model kind {kind!r}", path)
    try:
        lm = (TagModel if kind == "tags" else LabelModel)(**entry.get("params", {}))._set_arrays(arrays,
                                                                                                 entry["classes"])
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise SynthError(f"label model arrays do not fit its classes ({e})", path) from None
    if lm.coef_.shape[1] != model.n_features_:
        raise SynthError(f"the label model has dimension {lm.coef_.shape[1]}, the corpus model {model.n_features_}",
                         path)
    lm.fit_info_ = entry.get("fit")
    return lm
