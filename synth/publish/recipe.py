"""Recipes: one YAML file describing a whole job, run by ``synth recipe run FILE``.

A recipe names its source embeddings (a file, a named set, or texts and an embedding model), how to split
them, the fit, the samples to write, the two-sample score, an optional ANN benchmark and an optional publish
step with its card fields. Every key is checked before anything runs; an unknown key, a wrong type, a bad
value or a missing file stops with one line naming the recipe file and the line. Relative paths in a recipe
are relative to the recipe file; outputs go under the run's output folder. See recipes/*.yml.
"""

import json
import time
from pathlib import Path, PurePath

import numpy as np
import yaml

from ..bundled import ATTRIBUTE_KINDS, ATTRIBUTED, LABEL_KINDS, LABELLED, NAMED
from ..errors import SynthError
from ..install import install_hint
from ..metrics.hardness import parse_band
from ..progress import begin, plan, planned, stage

# schema: key -> (types, default, check); a nested dict is a section; (list, item_schema) a list of sections
INT, FLOAT, STR, BOOL = (int,), (int, float), (str,), (bool,)
OPT_STR = (str, type(None))


def _pos(v):
    return None if v > 0 else "must be positive"


def _frac(v):
    return None if 0 < v < 1 else "must be between 0 and 1"


def _noise(v):
    from ..models.patch import noise_scale_problem

    return noise_scale_problem(v)


def _patches(v):
    if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v > 0):
        return None
    return "must be 'auto' or a positive integer"


def _max_mb(v):
    return None if v is None or (not isinstance(v, bool) and v > 0) else "must be a positive number or null"


def _choice(*names):
    return lambda v: None if v in names else f"must be one of {', '.join(names)}"


SCHEMA = {
    "name": (STR, None, None),
    "description": (STR, "", None),
    "requires_network": (BOOL, False, None),
    "source": {
        "embeddings": (OPT_STR, None, None),   # a file (relative to the recipe) or a named set (synth.bundled.NAMED)
        "key": (OPT_STR, None, None),
        "column": (OPT_STR, None, None),
        "split": (OPT_STR, None, None),
        "texts": (OPT_STR, None, None),        # `wordnet`, a text file (one per line) or hf:owner/name
        "text_column": (STR, "text", None),
        "text_split": (STR, "train", None),
        "max_texts": (INT, 40_000, _pos),
        "model": (STR, "minilm", None),        # `minilm` (offline package), a local folder or a Hub model id
        "seed": (INT, 0, None),
        "labels": (OPT_STR, None, None),       # real labels per row: a file (relative to the recipe), lexname or pos
        "attribute": (OPT_STR, None, None),    # a real number per row: a file (relative to the recipe) or gloss-words
    },
    "split": {"train": (INT, 10_000, _pos), "seed": (INT, 0, None)},
    "fit": {
        "kind": (STR, "patch", _choice("patch", "fog", "random")),
        "patches": ((str, int), "auto", _patches), "max_mb": ((int, float, type(None)), 16.0, _max_mb),
        "rank": (INT, 40, None),
        "min_points": (INT, 20, lambda v: None if v >= 10 else "must be at least 10"),
        "noise_scale": ((str, int, float), "auto", _noise), "seed": (INT, 0, None),
        "bridge": ((str, int, float), 0.0, lambda v: None if v == "auto" or not isinstance(v, str) and 0 <= v <= 1
                   else "must be 'auto' or between 0 and 1"),
        "bridge_match": (STR, "both", _choice("both", "ivf", "hnsw")),
        "softness": (FLOAT, 0.0, lambda v: None if v >= 0 else "must be >= 0"),
        "recolor": (BOOL, False, None),
        "copy_guard": (BOOL, True, None),
        "group_size": ((int, type(None)), None, lambda v: None if v is None or not isinstance(v, bool) and v >= 10
                       else "must be an integer >= 10 (and >= min_points) or null"),
        "metric": (STR, "cosine", _choice("cosine", "ip", "l2")),
        "shared_rank": (INT, 0, lambda v: None if v >= 0 else "must be >= 0"),
        "calibration_ratio": ((int, type(None)), None, lambda v: None if v is None or not isinstance(v, bool) and v >= 1
                              else "must be an integer >= 1 or null"),
    },
    "sample": (list, {
        "path": (STR, None, None), "n": (INT, None, _pos), "dtype": (STR, "float32", _choice("float32", "float16")),
        "queries": (INT, 0, None), "neighbors": (INT, 0, None), "seed": (INT, 0, None),
        "query_hardness": (OPT_STR, None, None),  # as `synth sample --query-hardness`
        "filter_selectivity": (list, (int, float, str)),  # as `synth sample --filter-selectivity` (source.labels)
        "range_selectivity": (list, (int, float, str)),  # as `synth sample --range-selectivity` (source.attribute)
    }),
    "score": {"n": (INT, 5000, _pos), "k": (INT, 10, _pos), "permutations": (INT, 200, None), "seed": (INT, 0, None)},
    "bench": {"n": (INT, 10_000, _pos), "queries": (INT, 1000, _pos), "k": (INT, 10, _pos),
              "indexes": (list, STR), "repeats": (INT, 3, _pos), "seed": (INT, 0, None)},
    "publish": {"n": (INT, None, _pos), "queries": (INT, 1000, None), "k": (INT, 100, _pos),
                "audit_n": (INT, 5000, _pos), "shadows": (INT, 0, None), "hnsw": (BOOL, True, None),
                "seed": (INT, 0, None),
                "repo_id": (OPT_STR, None, None), "private": (BOOL, False, None),
                "allow_unsafe": (BOOL, False, None), "card": (dict, (str, list))},
}
OPTIONAL_SECTIONS = ("sample", "bench", "publish", "score")
TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null",
              list: "a list", dict: "a mapping"}


class Recipe(dict):
    """A validated recipe: nested dicts with defaults filled in; ``path`` is the file, ``lines`` the line of
    each dotted key."""

    def __init__(self, data, path, lines):
        super().__init__(data)
        self.path, self.lines = Path(path), lines

    def error(self, key, message):
        line = self.lines.get(key)
        return SynthError(f"line {line}: {key}: {message}" if line else f"{key}: {message}", self.path)

    def file(self, key, value):
        """A path named by the recipe, relative to the recipe file; it must exist."""
        p = Path(value)
        p = p if p.is_absolute() else self.path.parent / p
        if not p.exists():
            raise self.error(key, f"no such file {value!r}")
        return p


def _escapes(value):
    """Why a sample path would leave the run's output folder (None if it stays inside)."""
    p = PurePath(value)
    if p.is_absolute() or value.startswith("~"):
        return f"must be relative to the output folder, got {value!r}"
    if ".." in p.parts:
        return f"must stay inside the output folder (no '..'), got {value!r}"
    if not p.parts:
        return f"must name a file or folder inside the output folder, got {value!r}"
    return None


def _type_name(types):
    return " or ".join(TYPE_NAMES[t] for t in types)


class _Refused(yaml.MarkedYAMLError):
    """YAML that parses but that a recipe refuses (aliases)."""


class _RecipeLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (``*name``).

    A recipe has no use for them, and nested aliases expand exponentially when the document is walked: a
    381-byte "billion laughs" file would take minutes and gigabytes.
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(problem=f"aliases (*{event.anchor}) are not allowed in a recipe",
                           problem_mark=event.start_mark)
        return super().compose_node(parent, index)


def _plain(node, path):
    """Turn a composed YAML node into Python values, recording the line of every dotted key."""
    lines = {}

    def walk(n, key):
        if n.tag == "tag:yaml.org,2002:map":
            out = {}
            for k, v in n.value:
                name = k.value
                full = f"{key}.{name}" if key else name
                if name in out:
                    raise SynthError(f"line {k.start_mark.line + 1}: {full}: duplicate key", path)
                lines[full] = k.start_mark.line + 1
                out[name] = walk(v, full)
            return out
        if n.tag == "tag:yaml.org,2002:seq":
            out = []
            for i, v in enumerate(n.value):
                lines[f"{key}[{i}]"] = v.start_mark.line + 1
                out.append(walk(v, f"{key}[{i}]"))
            return out
        try:
            return yaml.safe_load(yaml.serialize(n))
        except yaml.YAMLError:  # a tag safe_load does not build, e.g. !!python/object
            where = f"{key}: " if key else ""
            raise SynthError(f"line {n.start_mark.line + 1}: {where}tag {n.tag!r} is not allowed in a recipe",
                             path) from None

    return walk(node, ""), lines


def _check_section(value, schema, key, lines, path):
    def err(k, msg):
        line = lines.get(k)
        return SynthError(f"line {line}: {k}: {msg}" if line else f"{k}: {msg}", path)

    if not isinstance(value, dict):
        raise err(key, f"must be a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - set(schema))
    if unknown:
        k = f"{key}.{unknown[0]}" if key else unknown[0]
        raise err(k, f"unknown key (known here: {', '.join(schema)})")
    out = {}
    for name, spec in schema.items():
        full = f"{key}.{name}" if key else name
        if isinstance(spec, dict):
            sub = value.get(name)
            optional = name in OPTIONAL_SECTIONS and sub is None
            out[name] = None if optional else _check_section({} if sub is None else sub, spec, full, lines, path)
            continue
        if len(spec) == 2:  # (list, section), (list, scalar types) or (dict, scalar types)
            container, item = spec
            v = value.get(name, [] if container is list else {})
            if not isinstance(v, container):
                raise err(full, f"must be {TYPE_NAMES[container]}, got {v!r}")
            if isinstance(item, dict):
                out[name] = [_check_section(x, item, f"{full}[{i}]", lines, path) for i, x in enumerate(v)]
                continue
            for i, x in enumerate(v if container is list else v.values()):
                if not isinstance(x, item) or isinstance(x, bool) and bool not in item:
                    where = f"{full}[{i}]" if container is list else f"{full}.{list(v)[i]}"
                    raise err(where, f"must be {_type_name(item)}, got {x!r}")
            out[name] = v
            continue
        types, default, check = spec
        if name not in value:
            out[name] = default
            continue
        v = value[name]
        if isinstance(v, bool) and bool not in types or not isinstance(v, types):
            raise err(full, f"must be {_type_name(types)}, got {v!r}")
        problem = check(v) if check and v is not None else None
        if problem:
            raise err(full, f"{problem}, got {v!r}")
        out[name] = v
    return out


def load_recipe(path):
    """Read and validate a recipe file; returns a :class:`Recipe`. Raises SynthError naming the line."""
    path = Path(path)
    if not path.is_file():
        raise SynthError("no such recipe file", path)
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=_RecipeLoader)
        data, lines = _plain(node, path) if node is not None else (None, {})
    except UnicodeDecodeError:
        raise SynthError("is not UTF-8 text", path) from None
    except RecursionError:
        raise SynthError("is nested too deeply", path) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise SynthError(where + (problem if isinstance(e, _Refused) else f"not valid YAML ({problem})"),
                         path) from None
    if node is None:
        raise SynthError("is empty", path)
    out = _check_section(data, SCHEMA, "", lines, path)
    recipe = Recipe(out, path, lines)
    if not out["name"]:
        raise recipe.error("name", "is required")
    src = out["source"]
    if bool(src["embeddings"]) == bool(src["texts"]):
        raise recipe.error("source", "give exactly one of source.embeddings and source.texts")
    for i, s in enumerate(out["sample"] or []):
        for req in ("path", "n"):
            if s[req] is None:
                raise recipe.error(f"sample[{i}]", f"{req} is required")
        if bool(s["queries"]) != bool(s["neighbors"]):
            raise recipe.error(f"sample[{i}]", "queries and neighbors go together")
        if s["query_hardness"] is not None:
            if not s["queries"]:
                raise recipe.error(f"sample[{i}].query_hardness", "needs queries and neighbors")
            try:
                parse_band(s["query_hardness"])
            except SynthError as e:
                raise recipe.error(f"sample[{i}].query_hardness", e.problem) from None
        problem = _escapes(s["path"])
        if problem:
            raise recipe.error(f"sample[{i}].path", problem)
        if s["filter_selectivity"]:
            if not out["source"]["labels"]:
                raise recipe.error(f"sample[{i}].filter_selectivity", "needs source.labels (a label model)")
            if not s["queries"]:
                raise recipe.error(f"sample[{i}].filter_selectivity", "needs queries and neighbors")
            bad = [v for v in s["filter_selectivity"] if v != "query" and (isinstance(v, str) or not 0 < v <= 1)]
            if bad:
                raise recipe.error(f"sample[{i}].filter_selectivity", f"shares in (0, 1] or 'query', got {bad[0]!r}")
        if s["range_selectivity"]:
            if not out["source"]["attribute"]:
                raise recipe.error(f"sample[{i}].range_selectivity", "needs source.attribute (an attribute model)")
            if not s["queries"]:
                raise recipe.error(f"sample[{i}].range_selectivity", "needs queries and neighbors")
            bad = [v for v in s["range_selectivity"] if v != "query" and (isinstance(v, (bool, str)) or not 0 < v <= 1)]
            if bad:
                raise recipe.error(f"sample[{i}].range_selectivity", f"shares in (0, 1] or 'query', got {bad[0]!r}")
            if "query" in s["range_selectivity"] and len(set(s["range_selectivity"])) < 2:
                raise recipe.error(f"sample[{i}].range_selectivity", "'query' needs the shares it holds: [S, ..., query]")
    metric = out["fit"]["metric"]
    if metric != "cosine":
        if out["fit"]["kind"] != "patch":
            raise recipe.error("fit.metric", f"{metric} needs kind patch ({out['fit']['kind']} is cosine only)")
        for section in ("bench", "publish"):
            if out[section] is not None:
                raise recipe.error(section, f"runs in cosine only; fit.metric is {metric} (use bench cost / "
                                            "bench compare --metric, or drop this section)")
    if out["publish"] is not None:
        if out["publish"]["n"] is None:
            raise recipe.error("publish", "n is required")
        for key, v in out["publish"]["card"].items():
            if isinstance(v, list) and not all(isinstance(x, str) for x in v):
                raise recipe.error(f"publish.card.{key}", f"must be a list of strings, got {v!r}")
    if src["embeddings"] and src["embeddings"] not in NAMED:
        recipe.file("source.embeddings", src["embeddings"])
    if src["texts"] and src["texts"] != "wordnet" and not src["texts"].startswith("hf:"):
        recipe.file("source.texts", src["texts"])
    for key, (kinds, sets, model, named, give) in PER_ROW.items():  # source.labels and source.attribute
        if not src[key]:
            continue
        if out["fit"]["kind"] != "patch":
            raise recipe.error(f"source.{key}", f"{model} needs fit.kind patch, not {out['fit']['kind']}")
        if src[key] in kinds:
            if src["embeddings"] not in sets:
                raise recipe.error(f"source.{key}", f"{src[key]} {named} for source.embeddings "
                                                    f"{' or '.join(sets)} only; give a file of {give}")
        else:
            recipe.file(f"source.{key}", src[key])
    return recipe


# what a source carries per row: its named kinds and the named sets that have them (synth.bundled), its model, and
# the words of the error naming them
PER_ROW = {"labels": (LABEL_KINDS, tuple(LABELLED), "a label model", "labels exist", "labels"),
           "attribute": (ATTRIBUTE_KINDS, tuple(ATTRIBUTED), "an attribute model", "exists", "numbers")}


def _per_row(recipe, key, source_rows):
    """The real labels (``key`` "labels") or attribute values ("attribute") of the recipe's source rows, for a
    source of ``source_rows`` rows: a named kind of the named set, or a file relative to the recipe."""
    from ..bundled import load_attribute, load_labels

    name = recipe["source"][key]
    named = name in PER_ROW[key][0]
    where = name if named else recipe.file(f"source.{key}", name)
    load = load_labels if key == "labels" else load_attribute
    return load(where, recipe["source"]["embeddings"] if named else str(where), source_rows)


# --------------------------------------------------------------------------------------------- running
def _texts(recipe):
    src = recipe["source"]
    spec = src["texts"]
    if spec == "wordnet":
        from ..embed import wordnet_glosses

        texts = [g for _, g in wordnet_glosses()]
    elif spec.startswith("hf:"):
        import datasets

        try:
            ds = datasets.load_dataset(spec[3:], split=src["text_split"])
        except Exception as e:
            raise recipe.error("source.texts", f"could not load {spec} ({type(e).__name__}; this recipe needs "
                                               "the network)") from None
        if src["text_column"] not in ds.column_names:
            raise recipe.error("source.text_column", f"{spec} has no column {src['text_column']!r} "
                                                     f"(columns: {ds.column_names})")
        texts = [t for t in ds[src["text_column"]] if t]
    else:
        texts = [t for t in recipe.file("source.texts", spec).read_text().splitlines() if t.strip()]
    texts = list(dict.fromkeys(texts))  # unique, in order
    if len(texts) > src["max_texts"]:
        pick = np.sort(np.random.default_rng(src["seed"]).choice(len(texts), src["max_texts"], replace=False))
        texts = [texts[i] for i in pick]
    return texts


def _embed(recipe, texts, verbose):
    from ..embed import embed_texts

    model = recipe["source"]["model"]
    if model == "minilm":
        return embed_texts(texts, progress=bool(verbose))
    local = Path(model) if Path(model).is_absolute() else recipe.path.parent / model
    if local.is_dir():
        return embed_texts(texts, model_path=local, progress=bool(verbose))
    try:  # a Hub model id: needs the network
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(model, device="cpu")
    except ImportError:
        raise recipe.error("source.model", f"needs the [embed] extra: {install_hint('embed')}") from None
    except Exception as e:
        raise recipe.error("source.model", f"could not load {model!r} ({type(e).__name__}; a Hub model id "
                                           "needs the network)") from None
    X = st.encode(texts, batch_size=32, show_progress_bar=bool(verbose), convert_to_numpy=True,
                  normalize_embeddings=True)
    return np.asarray(X, dtype=np.float32)


def source_embeddings(recipe, verbose=0):
    """The recipe's real embeddings (float32; unit rows unless ``fit.metric`` is ip or l2)."""
    from ..bundled import load_real

    src = recipe["source"]
    raw = recipe["fit"]["metric"] != "cosine"
    if src["embeddings"]:
        where = {k: src[k] for k in ("key", "column", "split") if src[k]}
        name = src["embeddings"]
        return load_real(name if name in NAMED
                         else recipe.file("source.embeddings", name), raw=raw, **where)
    from ..io.formats import unit_rows

    texts = _texts(recipe)
    stage(f"embedding {len(texts):,} texts with {src['model']}")
    X = _embed(recipe, texts, verbose)
    return np.ascontiguousarray(X, dtype=np.float32) if raw else unit_rows(X, 2, recipe.path)


def recipe_plan(path, **_):
    """The steps of :func:`run_recipe` and their seconds, for the estimate of the time left
    (:mod:`synth.progress`), each from the plan of the job it runs; the source (reading, or embedding texts)
    has weight 0: the estimate starts after it."""
    from bench.runner import bench_steps

    from ..metrics.twosample import score_plan
    from ..models.fitting import fit_rows_plan
    from .hub import QUERY_SECONDS, ROW_SECONDS, publish_plan

    def total(steps):
        return sum(w for _, w in steps)

    r = load_recipe(path)
    f = r["fit"]
    params = {"n_patches": f["patches"], "noise_scale": f["noise_scale"], "bridge": f["bridge"],
              "recolor": f["recolor"], "copy_guard": f["copy_guard"]} if f["kind"] == "patch" else {}
    labelled = {"labels": True} if r["source"]["labels"] else {}
    if r["source"]["attribute"]:
        labelled["attribute"] = True
    steps = [("source", 0.0), ("fit", total(fit_rows_plan(kind=f["kind"], params=params, out=True, **labelled)))]
    if r["score"] is not None:
        steps.append(("score", total(score_plan(n=r["score"]["n"], train=True))))
    for i, s in enumerate(r["sample"] or []):
        steps.append((f"sample[{i}]", s["n"] / 1e6 * (ROW_SECONDS + QUERY_SECONDS * s["queries"] / 1000)))
    if r["bench"] is not None:
        b = r["bench"]
        steps.append(("bench", total(bench_steps(b["n"], b["queries"], b["indexes"], model=True, save=False,
                                                 repeats=b["repeats"]))))
    if r["publish"] is not None:
        p = r["publish"]
        steps.append(("publish", total(publish_plan(p["n"], n_queries=p["queries"], train=True, hnsw=p["hnsw"]))))
    return steps


@planned(recipe_plan)
def run_recipe(path, out, force=False, dry_run=False, verbose=0):
    """Run a recipe into folder ``out``: model, samples, score, bench and publish folder as the recipe asks.

    Writes ``out/model.safetensors``, ``out/score.json``, each sample path, ``out/bench/`` (with a bench
    section), ``out/publish/`` (with a publish section; uploaded only with ``repo_id`` and not ``dry_run``) and
    ``out/recipe.json`` (the validated recipe, what was written, timings). Real rows are never written.
    """
    from ..io.formats import count_duplicates, write_json
    from ..metrics.twosample import score
    from ..models.fitting import fit_rows
    from ..sampling.attributes import plan_ranges, query_ranges_path, write_attribute
    from ..sampling.labels import plan_filters, write_label_outputs
    from ..sampling.stream import sample_to_file, write_truth

    recipe = load_recipe(path)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise SynthError("exists and is not empty (use --force to write into it)", out)
    root = out.resolve()
    for i, s in enumerate(recipe["sample"] or []):
        # resolved, so that a symbolic link inside OUT cannot lead a sample out of it
        try:
            target = (out / s["path"]).resolve()
        except (OSError, RuntimeError):  # a symbolic link loop
            target = None
        if target is None or target == root or not target.is_relative_to(root):
            raise recipe.error(f"sample[{i}].path", f"{s['path']!r} does not resolve to a file inside the output "
                                                    f"folder {out} (a symbolic link leads elsewhere)")
    out.mkdir(parents=True, exist_ok=True)
    times, written = {}, []

    def step(name):
        times[name] = time.perf_counter()
        stage(f"recipe {recipe['name']}: {name}", step=name)

    step("source")
    X = source_embeddings(recipe, verbose)
    n_train = recipe["split"]["train"]
    if len(X) < n_train + 100:
        raise recipe.error("split.train", f"{n_train} leaves {len(X) - n_train} of {len(X)} rows held out; "
                                          "at least 100 are needed")
    order = np.random.default_rng(recipe["split"]["seed"]).permutation(len(X))
    train, heldout = X[np.sort(order[:n_train])], X[np.sort(order[n_train:])]
    labels, values = (_per_row(recipe, key, len(X))[np.sort(order[:n_train])] if recipe["source"][key] else None
                      for key in ("labels", "attribute"))

    step("fit")
    f = recipe["fit"]
    params = {"patch": dict(n_patches=f["patches"], rank=f["rank"], min_points=f["min_points"],
                            noise_scale=f["noise_scale"], bridge=f["bridge"], softness=f["softness"],
                            recolor=f["recolor"], max_mb=f["max_mb"], copy_guard=f["copy_guard"],
                            group_size=f["group_size"], bridge_match=f["bridge_match"])}.get(f["kind"], {})
    if f["metric"] != "cosine":
        params["metric"] = f["metric"]
    if f["shared_rank"] and f["kind"] == "patch":
        params["shared_rank"] = f["shared_rank"]
    if f["calibration_ratio"] and f["kind"] == "patch":
        params["calibration_ratio"] = f["calibration_ratio"]
    model_path = out / "model.safetensors"
    info = {"source": f"recipe {recipe['name']}", "n": int(len(train)), "d": int(train.shape[1]),
            "n_duplicates": count_duplicates(train)}
    gen, _ = fit_rows(train, info, model_path, kind=f["kind"], params=params, random_state=f["seed"],
                      verbose=verbose, path=recipe.path, labels=labels, attribute=values,
                      attribute_source=recipe["source"]["attribute"])
    written.append(str(model_path))

    if recipe["score"] is not None:
        step("score")
        s = recipe["score"]
        fake = gen.sample(min(s["n"], len(heldout)), random_state=s["seed"])
        result = score(heldout, fake, train=train, n=s["n"], k=s["k"], n_permutations=s["permutations"],
                       random_state=s["seed"], metric=f["metric"])
        write_json(out / "score.json", json.loads(json.dumps(result, default=float)))
        written.append(str(out / "score.json"))

    for i, s in enumerate(recipe["sample"] or []):
        step(f"sample[{i}]")
        target = out / s["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        filters = plan_filters(gen, s["filter_selectivity"]) if s["filter_selectivity"] else None
        if s["range_selectivity"]:
            filters = {**(filters or {}), **plan_ranges(gen, s["range_selectivity"], s["seed"], s["queries"])}
        info = sample_to_file(gen, target, s["n"], random_state=s["seed"], dtype=s["dtype"],
                              n_queries=s["queries"], k=s["neighbors"], force=force,
                              query_hardness=s["query_hardness"], filters=filters)
        written.append(str(target))
        if s["queries"]:
            paths = write_truth(target, info["queries"], info["neighbors"], info["scores"], dtype=s["dtype"],
                                metric=f["metric"])
            written += sorted({str(p) for p in paths.values()})
        done = write_label_outputs(target, info, getattr(gen, "label_model_", None), filters, dtype=s["dtype"],
                                   metric=f["metric"])
        if done["labels"]:
            written += sorted({str(p) for p in done["labels"].values()} - {str(target)})
        written += [str(done[key]) for key in ("filters", "query_labels") if done[key]]
        written += [str(query_ranges_path(target, name)[0]) for name, f in (filters or {}).items()
                    if f.get("query_ranges") is not None and query_ranges_path(target, name)[1] is None]
        if "attribute" in info:
            apaths = write_attribute(target, info["attribute"], gen.attribute_model_, info["start"])
            written += sorted({str(p) for p in apaths.values()} - {str(target)})

    if recipe["bench"] is not None:
        step("bench")
        from bench.indexes import available, registry
        from bench.report import write_outputs
        from bench.runner import TARGETS, bench_steps, run
        from bench.suites import build_suite

        b = recipe["bench"]
        known = registry()
        bad = [x for x in b["indexes"] if x not in known]
        if bad:
            raise recipe.error("bench.indexes", f"unknown index {bad[0]!r} (known: {', '.join(known)})")
        missing = [(x, known[x].unavailable()) for x in b["indexes"] if known[x].unavailable()]
        if missing:
            raise recipe.error("bench.indexes", f"index {missing[0][0]!r} is unavailable: {missing[0][1]}")
        with plan(bench_steps(b["n"], b["queries"], b["indexes"], model=gen, save=False, repeats=b["repeats"])):
            suite = build_suite(heldout, model=gen, n=b["n"], n_queries=b["queries"], random_state=b["seed"],
                                verbose=verbose)
            begin("bench")
            result = run(suite, b["indexes"] or available(), targets=TARGETS, k=b["k"], repeats=b["repeats"],
                         verbose=verbose)
            result["suite"] = {"recipe": recipe["name"], "n": b["n"], "queries": b["queries"], "seed": b["seed"]}
            written += [str(p) for p in write_outputs(result, out / "bench")]

    if recipe["publish"] is not None:
        step("publish")
        from .hub import publish

        p = recipe["publish"]
        card = dict(p["card"])
        if p["repo_id"]:
            card["repo_id"] = p["repo_id"]
        info = publish(model_path, out / "publish", p["n"], n_queries=p["queries"], k=p["k"],
                       random_state=p["seed"], train=train, heldout=heldout, audit_n=p["audit_n"],
                       shadows=p["shadows"], hnsw=p["hnsw"], card=card, repo_id=p["repo_id"], private=p["private"], dry_run=dry_run,
                       allow_unsafe=p["allow_unsafe"], force=True, verbose=verbose)
        written.append(str(out / "publish"))
        if info["uploaded"]:
            written.append(info["uploaded"])
    times["end"] = time.perf_counter()
    names = list(times)
    seconds = {a: round(times[b] - times[a], 1) for a, b in zip(names, names[1:])}
    summary = {"recipe": str(recipe.path), "name": recipe["name"], "settings": dict(recipe),
               "n_real": int(len(X)), "n_train": int(len(train)), "n_heldout": int(len(heldout)),
               "written": written, "seconds": seconds}
    write_json(out / "recipe.json", json.loads(json.dumps(summary, default=str)))
    return summary
