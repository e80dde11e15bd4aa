"""The fit job: read real embeddings, fit a model, write the model file with the data's fingerprint."""

import numpy as np

from ..errors import SynthError
from ..io.arrays import unit_rows
from ..io.artifact import save_model
from ..io.formats import fingerprint, load_embeddings
from ..metric import check_metric
from ..metrics.statistics import geometry_stats
from ..progress import planned, stage
from . import MODELS

STATS_N = 5000  # statistics stored in the model file are measured on this many fit points
# seconds of a fit of 10,000 bundled 384-d rows by `synth fit` (2 cores, load 4), for the estimate of the time
# left (synth.progress); a patch model's come from its own plan
FIT_SECONDS = {"fog": 65.0, "random": 0.0}
CHECK_SECONDS = {"patch": 0.8, "fog": 2.2, "random": 2.2}  # the statistics and memorization check, likewise
ATTRIBUTE_SECONDS = 4.0  # `synth fit bundled:train --attribute gloss-words`'s attribute model (10,000 x 384, 2 cores)
TIE_QUERIES = 20_000  # the query tie is fitted on at most this many real queries (and as many query-model fakes)
TIE_SECONDS = 10.8  # fit_query_tie on 10,000 x 384 rows and as many queries (bundled:train, 2 cores beside other jobs)
LABEL_SECONDS = 9.1  # `synth fit bundled:train --labels lexname`'s label model (10,000 x 384, 41 classes; 2 cores, quiet)


def make_model(kind, random_state=0, verbose=0, **params):
    """An unfitted model of the registered ``kind`` (``patch``, ``fog``, ``random``)."""
    if kind not in MODELS:
        raise SynthError(f"unknown model kind {kind!r} (known: {', '.join(MODELS)})")
    cls = MODELS[kind]
    extra = {"random_state": random_state, "verbose": verbose}
    names = cls._get_param_names()
    return cls(**params, **{k: v for k, v in extra.items() if k in names})


def fit_seconds(model, X=None):
    """Seconds ``model.fit(X)`` takes, as its plan says, or :data:`FIT_SECONDS` (measured on 10,000 x 384)."""
    steps = getattr(model, "_fit_plan", None)
    return sum(w for _, w in steps(X=X)) if steps else FIT_SECONDS.get(model.kind, 0.0)


def fit_model(source, out=None, kind="patch", params=None, random_state=0, verbose=0, key=None, column=None,
              split=None, queries=None, labels=None, attribute=None, multi_label=False, tag_bundles=0):
    """Fit a model to the embeddings in ``source`` and optionally write its model file.

    Parameters
    ----------
    source : str or os.PathLike
        Anything :func:`synth.io.formats.load_embeddings` reads.
    out : str or os.PathLike, optional
        Model file to write.
    kind : {"patch", "fog", "random"}
    params : dict, optional
        Model parameters (e.g. ``n_patches``, ``rank``, ``min_points``).
    random_state : int
    verbose : int
    key, column, split
        Where the vectors are inside ``source``.
    queries : str or os.PathLike, optional
        Real *queries* (anything :func:`synth.io.formats.load_embeddings` reads): a second model of the same
        kind and parameters is fitted on them and stored in the same file as the corpus model's query model
        (``model.query_model_``), from which `synth sample` draws the queries.
    labels : str or os.PathLike, optional
        Real labels of the rows of ``source``, one per row: a file (:func:`synth.models.labels.read_labels`) or a
        named kind of a named set (``lexname``, ``pos``: :func:`synth.bundled.named_labels`). A label model
        (:class:`synth.models.labels.LabelModel`) is fitted on them and stored in the same file
        (``model.label_model_``); `synth sample` then labels every row it writes.
    multi_label : bool, default=False
        ``labels`` is a tags file, several labels per row (:func:`synth.models.tags.read_tags`): a tag model
        (:class:`synth.models.tags.TagModel`) is fitted instead, and every row written gets a set of tags.
    tag_bundles : int, default=0
        With ``multi_label``, at most this many bundles of tags that go together (``TagModel(bundles=...)``); 0:
        tags drawn independently given the row.
    attribute : str or os.PathLike, optional
        A real numeric attribute of the rows of ``source``, one number per row: a file
        (:func:`synth.models.attributes.read_values`) or the named kind ``gloss-words`` of the WordNet sets
        (:func:`synth.bundled.load_attribute`). An attribute model (:class:`synth.models.attributes.AttributeModel`)
        is fitted on it and stored in the same file (``model.attribute_model_``); `synth sample` then gives every
        row it writes a value.

    Returns
    -------
    model : Generator
    info : dict
        What was read (``n``, ``d``, ``n_duplicates``, ...).
    size : int or None
        Bytes written.
    """
    metric = check_metric((params or {}).get("metric", "cosine"))
    if metric != "cosine" and kind != "patch":
        raise SynthError(f"metric {metric!r} needs the patch model (--kind patch); {kind} models are cosine only")
    stage(f"reading {source}")
    X, info = load_embeddings(source, key=key, column=column, split=split, normalize=metric == "cosine")
    query_rows = query_info = None
    if queries is not None:
        stage(f"reading {queries}")
        query_rows, query_info = load_embeddings(queries, normalize=metric == "cosine")
        if query_rows.shape[1] != X.shape[1]:
            raise SynthError(f"queries of dimension {query_rows.shape[1]}, the corpus {X.shape[1]}: they must share "
                             "one embedding space", queries)
        info["queries"] = query_info
    y = None
    if labels is not None:
        from ..bundled import load_labels
        from .labels import parse_knob

        y = None if multi_label else parse_knob(labels)
        if multi_label:
            from .tags import read_tags

            stage(f"reading tags {labels}")
            y = read_tags(labels, len(X))
        elif y is None:
            stage(f"reading labels {labels}")
            y = load_labels(labels, source, len(X))
        info["labels"] = str(labels)
    values = None
    if attribute is not None:
        from ..bundled import load_attribute

        stage(f"reading the attribute {attribute}")
        values = load_attribute(attribute, source, len(X))
        info["attribute"] = str(attribute)
    model, size = fit_rows(X, info, out, kind=kind, params=params, random_state=random_state, verbose=verbose,
                           path=source, query_rows=query_rows, query_path=queries, labels=y, attribute=values,
                           attribute_source=attribute, tag_bundles=tag_bundles)
    return model, info, size


def fit_rows_plan(X=None, kind="patch", params=None, out=None, labels=None, attribute=None, query_rows=None, **_):
    """The steps of :func:`fit_rows` and their seconds (:mod:`synth.progress`); writing takes no time."""
    steps = [("fit", fit_seconds(make_model(kind, **(params or {})), X))]
    scale = (len(X) * X.shape[1] / (10_000 * 384)) if X is not None else 1.0
    if query_rows is not None:  # the query model's tie to the corpus model
        steps.append(("tie", TIE_SECONDS * scale))
    if labels is not None:  # the label model: measured at 10,000 x 384, scaled by rows x dimension
        steps.append(("labels", LABEL_SECONDS * scale))
    if attribute is not None:
        steps.append(("attribute", ATTRIBUTE_SECONDS * scale))
    return steps + ([("check", CHECK_SECONDS.get(kind, 2.2)), ("write", 0.0)] if out is not None else [])


def _fit(X, kind, params, random_state, verbose, path, what=""):
    model = make_model(kind, random_state=random_state, verbose=verbose, **(params or {}))
    stage(f"fitting {kind} on {len(X):,} {what}rows", step="fit")
    try:
        model.fit(X)
    except SynthError as e:
        raise e if e.path or path is None else SynthError(e.problem, path) from None
    return model


def _fit_data(X, info):
    return {"source": info["source"], "n": info["n"], "d": info["d"], "n_duplicates": info["n_duplicates"],
            "sha256": fingerprint(X)}  # ip / l2: of the rows as given, norms included


@planned(fit_rows_plan)
def fit_rows(X, info, out=None, kind="patch", params=None, random_state=0, verbose=0, path=None, query_rows=None,
             query_path=None, labels=None, attribute=None, attribute_source=None, tag_bundles=0):
    """Fit a model to unit rows ``X`` already in memory and optionally write its model file.

    ``info`` describes the rows for the file's fingerprint (``source``, ``n``, ``d``, ``n_duplicates``;
    ``queries``, the same of ``query_rows``); ``path`` names them in errors. ``query_rows``: real queries, on
    which the same kind and parameters fit the query model (``model.query_model_``). ``labels``: one real label
    per row of ``X`` (or a list of tag tuples, one per row: a tag model), on which the label model is fitted
    (``model.label_model_``; ``tag_bundles``: :func:`fit_labels`' ``bundles``). ``attribute``: one real number
    per row of ``X``, on which the attribute model is fitted (``model.attribute_model_``, named after
    ``attribute_source``, the file or named kind it was read from). Returns ``(model, bytes written or None)``.
    """
    model = _fit(X, kind, params, random_state, verbose, path)
    metric = check_metric(getattr(model, "metric", "cosine"))
    if query_rows is not None:
        model.query_model_ = _fit(query_rows, kind, params, random_state, verbose, query_path, "query ")
        model.query_model_.fit_data_ = _fit_data(query_rows, info["queries"])
    # the tie, the label and the attribute model calibrate on as many fakes: drawn once when two need them
    needs = (query_rows is not None) + (labels is not None) + (attribute is not None)
    fakes = calibration_fakes(model, X, random_state) if needs > 1 else None
    if query_rows is not None:
        model.query_model_.tie_ = fit_query_tie(model, X, query_rows, random_state, fakes)
    if labels is not None:
        model.label_model_ = fit_labels(model, X, labels, random_state, path, fakes, bundles=tag_bundles)
    if attribute is not None:
        model.attribute_model_ = fit_attribute(model, X, attribute, random_state, path, attribute_source, fakes)
    size = None
    if out is not None:
        fit_data = _fit_data(X, info)
        if metric != "cosine":  # the statistics and the memorization check are of the directions
            X = unit_rows(X)
        stage("statistics and memorization check for the model file", step="check")
        stats = geometry_stats(X, n=STATS_N, random_state=random_state)
        model.fit_check_ = fit_check(model, X, random_state)
        if query_rows is not None:  # the query model is held to the same rule on its own training rows
            Q = query_rows if metric == "cosine" else unit_rows(query_rows)
            model.query_model_.fit_check_ = fit_check(model.query_model_, Q, random_state)
        stage(f"writing {out}", step="write")
        size = save_model(model, out, fit_data=fit_data, stats=stats, fit_check=model.fit_check_)
    return model, size


def calibration_fakes(model, X, random_state=0):
    """As many fakes of the fitted corpus ``model`` as ``X`` has rows (unit rows, seed ``random_state + 1``): what
    the label and attribute models calibrate on."""
    from .base import check_seed

    return unit_rows(model.sample(len(X), random_state=check_seed(random_state) + 1))


def fit_query_tie(model, X, query_rows, random_state=0, fakes=None):
    """The tie of a corpus ``model`` and its query model (:mod:`synth.models.tie`): the real training queries
    (at most :data:`TIE_QUERIES`, a seeded subset) against the training rows ``X``, as many query-model fakes (seed
    ``random_state + 2``) against as many corpus fakes as ``X`` has rows (:func:`calibration_fakes`, or ``fakes``)."""
    from .base import check_seed
    from .tie import fit_tie

    if len(query_rows) > TIE_QUERIES:  # the tables need thousands, not all: a seeded subset keeps the search small
        keep = np.sort(np.random.default_rng(check_seed(random_state)).permutation(len(query_rows))[:TIE_QUERIES])
        query_rows = query_rows[keep]
    stage(f"fitting the query tie on {len(query_rows):,} queries against {len(X):,} rows", step="tie")
    query_fakes = unit_rows(model.query_model_.sample(len(query_rows), random_state=check_seed(random_state) + 2))
    fakes = calibration_fakes(model, X, random_state) if fakes is None else fakes
    return fit_tie(model, model.query_model_, unit_rows(X), unit_rows(query_rows), fakes, query_fakes,
                   min_points=getattr(model, "min_points", 20))


def _name_path(e, path):
    """``e`` naming ``path`` when it names no file of its own."""
    return SynthError(e.problem, path) if path is not None and e.path is None else e


def fit_labels(model, X, labels, random_state=0, path=None, fakes=None, bundles=0):
    """The label model of a fitted corpus ``model``: fitted on its training rows ``X`` (directions) and their
    ``labels``, calibrated on as many of the model's fakes (:func:`calibration_fakes`, or ``fakes``;
    :class:`synth.models.labels.LabelModel`); ``labels`` a dict of knobs (:func:`synth.models.labels.parse_knob`)
    sets them without real labels (``fit_knob``); a list of tuples (tags, :func:`synth.models.tags.read_tags`)
    fits a tag model (:class:`synth.models.tags.TagModel`), with ``bundles`` > 0 one of tags that go together."""
    from .base import check_seed
    from .labels import LabelModel
    from .tags import TagModel

    params = getattr(model, "get_params", dict)()
    cls = TagModel if isinstance(labels, list) else LabelModel
    lm = cls(min_points=params.get("min_points", 20), random_state=check_seed(random_state),
             **({"bundles": bundles} if bundles else {}))
    fakes = calibration_fakes(model, X, random_state) if fakes is None else fakes
    try:
        if isinstance(labels, list):
            stage(f"fitting the tag model on {len(X):,} rows", step="labels")
            return lm.fit(unit_rows(X), labels, fakes)
        if isinstance(labels, dict):  # set by a knob (parse_knob): no real labels
            stage(f"setting {labels['classes']} labels by the knob on {len(X):,} fakes", step="labels")
            return lm.fit_knob(fakes, **labels)
        stage(f"fitting the label model on {len(X):,} labelled rows", step="labels")
        return lm.fit(unit_rows(X), labels, fakes)
    except SynthError as e:
        raise _name_path(e, path) from None


def fit_attribute(model, X, values, random_state=0, path=None, source=None, fakes=None):
    """The numeric attribute model of a fitted corpus ``model``: fitted on its training rows ``X`` (directions) and
    their ``values``, calibrated on as many of the model's fakes (:func:`calibration_fakes`, or ``fakes``;
    :class:`synth.models.attributes.AttributeModel`), named after ``source``, where the values were read
    (:func:`synth.models.attributes.attribute_name`)."""
    from .attributes import AttributeModel, attribute_name

    params = getattr(model, "get_params", dict)()
    am = AttributeModel(min_points=params.get("min_points", 20), name=attribute_name(source))
    fakes = calibration_fakes(model, X, random_state) if fakes is None else fakes
    stage(f"fitting the attribute model on {len(X):,} rows", step="attribute")
    try:
        return am.fit(unit_rows(X), values, fakes)
    except SynthError as e:
        raise _name_path(e, path) from None


def fit_check(model, X, random_state=0):
    """The publish gate's memorization check of a fitted model on its training rows ``X``.

    The copy guard's last :func:`synth.models.patch.copy_check` when it ran (it is of this very model),
    else one run now: an explicit patch count, ``copy_guard=False``, a guard that backed off to one patch,
    a fog or a random model. Returns the check with ``warning``: None when it passes, else the one line
    saying that ``synth publish`` will refuse the model.
    """
    from .base import check_seed
    from .patch import copy_check

    tried = getattr(model, "copy_check_", None)
    check = dict(tried[-1]) if tried else copy_check(model, X, check_seed(random_state))
    check["warning"] = None if not check["copies"] else (
        f"the model fails the memorization check on its training rows ({check['check']}): synth publish is "
        "likely to refuse it; fit fewer patches (--patches) or let --patches auto back off (--copy-guard)")
    return check
