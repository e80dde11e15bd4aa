"""Registry of index plug-ins, discovered from folders.

Each plug-in is a folder ``bench/indexes/<folder>/`` holding ``config.yml`` (name, description, class,
counter, counter_note, build grid, query sweep, and for a library outside the base install the modules it
``requires`` and the ``extra`` that installs them, or the ``install`` command when no extra can) and ``module.py`` (the class, a ``bench.indexes.base.Index``),
plus an empty ``__init__.py`` so that it is packaged (pyproject.toml discovers packages). Adding a folder adds
an index; no central code changes. Reading the registry parses only the YAML and imports nothing; whether a
required library is installed is looked up without importing it, and ``module.py`` is imported on the first
``IndexSpec.create``. A plug-in whose library is missing stays registered but is *unavailable*: the default
runs skip it and naming it gives a one-line error with the install command.

Example ``config.yml``::

    name: faiss-hnsw
    description: faiss IndexHNSWFlat, inner product
    class: FaissHNSW
    counter: faiss hnsw_stats.ndis, distance evaluations on unvisited nodes
    build: {M: [16], efConstruction: [200]}
    query: {efSearch: [16, 32, 64]}

A plug-in for a library outside the base install also names the modules it imports and the extra of this
package that installs them (``pip install ".[ann]"``)::

    requires: [usearch]
    extra: ann

A library that no extra can install (diskannpy 0.7.0 pins an old numpy, so pip would downgrade the project's)
gives its own command instead, and may say why it looks unusual::

    requires: [diskannpy]
    install: pip install --no-deps diskannpy==0.7.0
    install_note: --no-deps because diskannpy 0.7.0 pins numpy==1.25 ...
"""

import importlib
import importlib.util
import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from synth.errors import SynthError
from synth.install import install_hint

ROOT = Path(__file__).parent
REQUIRED = {"name": str, "description": str, "class": str, "counter": (str, type(None)),
            "build": (dict, type(None)), "query": (dict, type(None))}
OPTIONAL = {"counter_note": (str, type(None)), "requires": (list, type(None)), "extra": (str, type(None)),
            "install": (str, type(None)), "install_note": (str, type(None))}
SCALAR = (str, int, float, bool)


@dataclass
class IndexSpec:
    """One registered index: what its config.yml says, and a lazy factory for its class.

    Attributes
    ----------
    name, description : str
    counter : str or None
        What ``Index.distance_count`` counts; None when the library exposes no counter.
    counter_note : str or None
        Why ``counter`` is None.
    build_grid : list of dict
        Cartesian product of the ``build:`` lists, in file order (``[{}]`` when there are none).
    query_param : str or None
        The query-time parameter swept, None when there is none.
    query_values : list
        Its values, cheapest first; ``[None]`` when there is no query parameter.
    requires : list of str
        Modules the plug-in needs beyond the base install (``[]`` for none).
    extra : str or None
        The optional extra of this package that installs them.
    install : str or None
        The command that installs them when no extra can (``extra`` is then None).
    install_note : str or None
        Why ``install`` is written as it is, shown after it.
    """

    name: str
    description: str
    counter: str | None
    counter_note: str | None
    build_grid: list
    query_param: str | None
    query_values: list
    class_name: str = field(repr=False)
    folder: Path = field(repr=False)
    requires: list = field(default_factory=list)
    extra: str | None = None
    install: str | None = None
    install_note: str | None = None

    def install_line(self):
        """The command that installs what this plug-in ``requires``, followed by ``install_note`` in parentheses."""
        if self.install:
            line = self.install
        else:
            line = install_hint(self.extra) if self.extra else "pip install " + " ".join(self.requires)
        return f"{line} ({self.install_note})" if self.install_note else line

    def unavailable(self):
        """Why this plug-in cannot run here ("usearch is not installed; pip install ..."), or None.

        Nothing is imported: a module counts as installed when the import system can find it.
        """
        missing = [m for m in self.requires if not importable(m)]
        if not missing:
            return None
        verb = "is" if len(missing) == 1 else "are"
        return f"{' and '.join(missing)} {verb} not installed; {self.install_line()}"

    def check_available(self):
        """Raise SynthError (one line, with the install command) when the plug-in's library is missing."""
        reason = self.unavailable()
        if reason:
            raise SynthError(f"index {self.name!r} is unavailable: {reason}")

    def index_class(self):
        """Import ``module.py`` (first use only) and return the plug-in's class.

        Raises SynthError with the install command when a library the plug-in ``requires`` is missing.
        """
        self.check_available()
        path = self.folder / "module.py"
        if self.folder.parent == ROOT:
            module = importlib.import_module(f"{__name__}.{self.folder.name}.module")
        else:  # a plug-in folder outside the package (tests, user folders): load it by path
            key = f"_bench_index_plugin_{abs(hash(str(path)))}"
            module = sys.modules.get(key)
            if module is None:
                if not path.is_file():
                    raise SynthError("plug-in module not found", path=path)
                spec = importlib.util.spec_from_file_location(key, path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                sys.modules[key] = module
        cls = getattr(module, self.class_name, None)
        if cls is None:
            raise SynthError(f"no class {self.class_name!r} (named in config.yml)", path=path)
        return cls

    def create(self, build_params, n, d, metric="cosine"):
        """A new, unbuilt index for ``n`` rows of dimension ``d``, searching by ``metric``.

        Parameters
        ----------
        build_params : dict
            One entry of ``build_grid``; a value ``"auto"`` is resolved by the class's ``auto(param, n, d)``.
        n, d : int
        metric : {"cosine", "ip", "l2"}
            Given to the index as its ``metric`` attribute; a plug-in whose class does not list it in
            ``metrics`` is refused (:meth:`check_metric`).

        Returns
        -------
        bench.indexes.base.Index
        """
        cls = self.check_metric(metric)
        index = cls(**self.resolve(cls, build_params, n, d))
        index.metric = metric
        return index

    def check_metric(self, metric):
        """The plug-in's class if it searches by ``metric``; else a one-line SynthError naming the plug-in."""
        from synth.metric import check_metric

        check_metric(metric)
        cls = self.index_class()
        supported = tuple(getattr(cls, "metrics", ("cosine",)))
        if metric not in supported:
            raise SynthError(f"index {self.name!r} cannot search by metric {metric} (it supports "
                             f"{', '.join(supported)})")
        return cls

    @staticmethod
    def resolve(cls, build_params, n, d):
        """``build_params`` with each ``"auto"`` replaced by ``cls.auto(param, n, d)``."""
        return {k: cls.auto(k, n, d) if v == "auto" else v for k, v in build_params.items()}

    def unbuildable(self, build_params, n, d):
        """Why ``build_params`` cannot index ``n`` rows of dimension ``d``, or None (the class's rule)."""
        cls = self.index_class()
        return cls.unbuildable(self.resolve(cls, build_params, n, d), n, d)


def _check(config, path):
    if not isinstance(config, dict):
        raise SynthError("config.yml must be a mapping", path=path)
    missing = sorted(set(REQUIRED) - set(config))
    unknown = sorted(set(config) - set(REQUIRED) - set(OPTIONAL))
    if missing or unknown:
        raise SynthError(f"missing keys {missing}" if missing else f"unknown keys {unknown}", path=path)
    for key, types in {**REQUIRED, **OPTIONAL}.items():
        if key in config and not isinstance(config[key], types):
            raise SynthError(f"{key!r} has the wrong type ({type(config[key]).__name__})", path=path)
    for section in ("build", "query"):
        for param, values in (config[section] or {}).items():
            if not (isinstance(param, str) and isinstance(values, list) and values
                    and all(isinstance(v, SCALAR) for v in values)):
                raise SynthError(f"{section}.{param} must be a non-empty list of scalars", path=path)
    if len(config["query"] or {}) > 1:
        raise SynthError("query may sweep at most one parameter", path=path)
    if not all(isinstance(m, str) and m for m in config.get("requires") or []):
        raise SynthError("requires must be a list of module names", path=path)
    if config.get("extra") and not config.get("requires"):
        raise SynthError("extra is the extra that installs what requires lists: give requires too", path=path)
    if config.get("install") and not config.get("requires"):
        raise SynthError("install is the command that installs what requires lists: give requires too", path=path)
    if config.get("install") and config.get("extra"):
        raise SynthError("give either extra or install, not both", path=path)
    if config.get("install_note") and not config.get("install"):
        raise SynthError("install_note explains install: give install too", path=path)


def load_spec(folder):
    """Parse and check ``folder/config.yml`` into an ``IndexSpec`` (imports nothing)."""
    path = Path(folder) / "config.yml"
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise SynthError(f"cannot read: {e}".splitlines()[0], path=path) from e
    _check(config, path)
    build = config["build"] or {}
    ((query_param, query_values),) = (config["query"] or {None: [None]}).items()
    return IndexSpec(name=config["name"], description=config["description"], counter=config["counter"],
                     counter_note=config.get("counter_note"),
                     build_grid=[dict(zip(build, combo)) for combo in itertools.product(*build.values())],
                     query_param=query_param, query_values=list(query_values),
                     requires=list(config.get("requires") or []), extra=config.get("extra"),
                     install=config.get("install"), install_note=config.get("install_note"),
                     class_name=config["class"], folder=Path(folder))


def registry(root=None):
    """All plug-ins under ``root`` (default: this package), by name, in folder-name order.

    Parameters
    ----------
    root : str or os.PathLike, optional
        Folder whose sub-folders holding a ``config.yml`` are plug-ins.

    Returns
    -------
    dict of str to IndexSpec
    """
    specs = {}
    for folder in sorted(p.parent for p in Path(root or ROOT).glob("*/config.yml")):
        spec = load_spec(folder)
        if spec.name in specs:
            raise SynthError(f"index name {spec.name!r} already used in {specs[spec.name].folder}",
                             path=folder / "config.yml")
        specs[spec.name] = spec
    return specs


def get(name, root=None):
    """The registered plug-in called ``name``; SynthError when there is none."""
    specs = registry(root)
    if name not in specs:
        raise SynthError(f"unknown index {name!r} (known: {', '.join(specs)})")
    return specs[name]


def importable(module):
    """Whether ``module`` can be imported here, found without importing it (a ``None`` in ``sys.modules``, which
    blocks an import, counts as missing)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a module without a spec
        return False


def available(root=None):
    """Names of the plug-ins whose libraries are installed, in registry order (the default set of a run)."""
    return [name for name, spec in registry(root).items() if spec.unavailable() is None]


def require(names, root=None, metric="cosine"):
    """The plug-ins called ``names``; SynthError for an unknown name, a plug-in whose library is missing or
    one that cannot search by ``metric``.

    Call it before any work, so that a run asked for an uninstalled library stops at once with the install
    command instead of after building its corpora.
    """
    specs = [get(name, root) for name in names]
    for spec in specs:
        spec.check_available()
        if metric != "cosine":
            spec.check_metric(metric)
    return specs
