"""`bench report`: one static HTML page of a `bench compare` or `bench run` folder.

The page is drawn from the folder's ``results.json`` alone: recall against cost (distance computations and
single-thread QPS) per index with every corpus on one plot, the cost tables of :mod:`bench.report`, build
time and index size, the query-hardness histograms and the run's parameters. Plots are inline SVG written
here, with a few lines of inline JavaScript that show and hide corpora; nothing is fetched, so the page works
offline and as a file attachment. A ``results.json`` written before its hardness histograms were recorded
(``hardness_histograms``) gets the folder's ``hardness.png`` instead, embedded as a data URI.

The same ``results.json`` gives the same bytes.
"""

import base64
import html
import json
import math
import re
import textwrap
from pathlib import Path

from synth import __version__
from synth.errors import SynthError
from synth.io.formats import atomic_path

from .report import COLORS, HARDNESS, build_table, cost_table, hardness_table

RESULTS = "results.json"
PAGE = "report.html"
PALETTE = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
WIDTH, HEIGHT = 460, 300  # one plot panel, in SVG user units
MARGIN = {"left": 62, "right": 14, "top": 14, "bottom": 44}
INSET = 6  # the data's distance from the plot area's edges, so that points at recall 1 show whole


# --------------------------------------------------------------------------------------------- reading


class Malformed(ValueError):
    """A ``results.json`` that parses but is not a bench result; the message says where."""


def _show(value):
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _where(path):
    """``results["hnswlib"]["real"]["curve"][2]`` from ``("results", "hnswlib", "real", "curve", 2)``."""
    return path[0] + "".join(f"[{json.dumps(p)}]" for p in path[1:]) if path else "the top level"


def _check(value, path, kinds, what):
    """``value`` if it is one of ``kinds`` (a bool is no number, NaN and infinities are none), else
    :class:`Malformed`."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if (isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds)
            or isinstance(value, float) and not math.isfinite(value)):
        raise Malformed(f"{_where(path)} is {_show(value)}, expected {what}")
    return value


def _get(obj, path, key, kinds, what, optional=False):
    """``obj[key]`` checked by :func:`_check`; a missing key is :class:`Malformed` unless ``optional``."""
    if key not in obj:
        if optional:
            return None
        raise Malformed(f"{_where(path)} has no {json.dumps(key)}")
    return _check(obj[key], (*path, key), kinds, what)


NUMBER, MAYBE_NUMBER = (int, float), (int, float, type(None))
MAYBE_TEXT = (str, type(None))


def _check_run(result, path, targets):
    """One index on one corpus: its curve, its costs at the targets, its build time and size."""
    curve = _get(result, path, "curve", list, "a list of sweep points")
    if not curve:
        raise Malformed(f"{_where((*path, 'curve'))} is empty")
    for i, point in enumerate(curve):
        where = (*path, "curve", i)
        _check(point, where, dict, "an object")
        if not 0 <= _get(point, where, "recall", NUMBER, "a number") <= 1:
            raise Malformed(f"{_where((*where, 'recall'))} is {point['recall']}, expected a recall in [0, 1]")
        _get(point, where, "ndis", MAYBE_NUMBER, "a number or null")
        _get(point, where, "qps", MAYBE_NUMBER, "a number or null")
    for key in ("ndis_at_target", "qps_at_target"):
        costs = _get(result, path, key, dict, "an object")
        for t in targets:
            _get(costs, (*path, key), f"{t:.2f}", MAYBE_NUMBER, "a number or null")
    _get(result, path, "build_seconds", NUMBER, "a number")
    _get(result, path, "memory_bytes", NUMBER, "a number")
    for key in _get(result, path, "build_details", dict, "an object", optional=True) or {}:
        _get(result["build_details"], (*path, "build_details"), key, NUMBER, "a number")


def _check_histograms(result, corpora):
    """The optional ``hardness_histograms``: edges and one count per bin and corpus."""
    histograms = _get(result, (), "hardness_histograms", dict, "an object", optional=True) or {}
    for key, _ in HARDNESS:
        hist = _get(histograms, ("hardness_histograms",), key, dict, "an object", optional=not histograms)
        if hist is None:
            continue
        path = ("hardness_histograms", key)
        edges = _get(hist, path, "edges", list, "a list of numbers")
        for i, e in enumerate(edges):
            _check(e, (*path, "edges", i), NUMBER, "a number")
        if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
            raise Malformed(f"{_where((*path, 'edges'))} is not increasing (at least two edges)")
        counts = _get(hist, path, "counts", dict, "an object")
        for name in corpora:
            row = _get(counts, (*path, "counts"), name, list, "a list of counts")
            if len(row) != len(edges) - 1 or not all(isinstance(c, int) and c >= 0 for c in row):
                raise Malformed(f"{_where((*path, 'counts', name))} is not {len(edges) - 1} counts")


def check_result(result):
    """Check that a parsed ``results.json`` holds what the page draws.

    Raises
    ------
    Malformed
        Naming the first entry that is missing or of the wrong type, e.g.
        ``results["hnswlib"]["real"]["curve"][2] has no "recall"``.
    """
    _check(result, (), dict, "an object")
    k = _get(result, (), "k", int, "an integer")
    if k < 1:
        raise Malformed(f"k is {k}, expected at least 1")
    targets = _get(result, (), "targets", list, "a list of recalls")
    for i, t in enumerate(targets):
        if not 0 < _check(t, ("targets", i), NUMBER, "a number") <= 1:
            raise Malformed(f"targets[{i}] is {t}, expected a recall in (0, 1]")
    indexes = _get(result, (), "indexes", dict, "an object")
    results = _get(result, (), "results", dict, "an object")
    if not results:
        raise Malformed("results is empty: no index was run")
    corpora = None
    for name, per_corpus in results.items():
        _check(per_corpus, ("results", name), dict, "an object")
        info = _get(indexes, ("indexes",), name, dict, "an object")
        for key in ("counter", "counter_note"):
            _get(info, ("indexes", name), key, MAYBE_TEXT, "a text or null")
        for key in ("description", "query_param"):
            _get(info, ("indexes", name), key, MAYBE_TEXT, "a text or null", optional=True)
        if corpora is None:
            corpora = list(per_corpus)
        if not per_corpus or list(per_corpus) != corpora:
            raise Malformed(f"results[{json.dumps(name)}] holds corpora {list(per_corpus)}, the first index {corpora}")
        for corpus, run in per_corpus.items():
            _check(run, ("results", name, corpus), dict, "an object")
            _check_run(run, ("results", name, corpus), targets)
    hardness = _get(result, (), "hardness", dict, "an object")
    for corpus in corpora:
        h = _get(hardness, ("hardness",), corpus, dict, "an object")
        for key, _ in HARDNESS:
            summary = _get(h, ("hardness", corpus), key, dict, "an object")
            for stat in ("median", "p10", "p90"):
                _get(summary, ("hardness", corpus, key), stat, NUMBER, "a number")
    _check_histograms(result, corpora)
    for key in ("skipped", "suite", "versions"):
        _get(result, (), key, dict, "an object", optional=True)


def load_result(folder):
    """Read and check ``folder/results.json``.

    Raises
    ------
    SynthError
        One line naming the folder or the file and the problem: no such folder, no ``results.json``,
        unreadable, not JSON, or not a bench result (:func:`check_result`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SynthError("not a folder" if folder.exists() else "no such folder", folder)
    path = folder / RESULTS
    if not path.is_file():
        raise SynthError("not found: give the folder that `bench compare` or `bench run` wrote (--out)", path)
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SynthError(f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}", path) from None
    except (OSError, UnicodeDecodeError, RecursionError) as e:
        raise SynthError(f"cannot be read: {getattr(e, 'strerror', None) or e}", path) from None
    try:
        check_result(result)
    except Malformed as e:
        raise SynthError(f"not a bench result: {e}", path) from None
    return result


# ------------------------------------------------------------------------------------------ SVG plots


def _fmt(value):
    """A tick label: ``0.95``, ``500``, ``2k``, ``10k``, ``1M``."""
    value = float(f"{value:.6g}")
    for size, unit in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"


def linear_ticks(lo, hi, most=8):
    """Round tick values within [lo, hi]: steps of 1, 2 or 5 times a power of ten, at most ``most``."""
    span = hi - lo
    base = 10.0 ** math.floor(math.log10(span)) / 10
    step = next(base * m for m in (1, 2, 5, 10, 20, 50, 100) if span / (base * m) <= most)
    first = math.ceil(lo / step - 1e-9)
    return [round(i * step, 10) for i in range(first, math.floor(hi / step + 1e-9) + 1)]


def log_ticks(lo, hi):
    """Ticks of a log axis within [lo, hi]: powers of ten, or 1-2-5 (then 1-9) multiples when too few."""
    exponents = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    exponents = exponents[::math.ceil(len(exponents) / 8)]  # at most about 8 decades labelled
    for multiples in ((1,), (1, 2, 5), range(1, 10)):
        ticks = [m * 10.0 ** e for e in exponents for m in multiples if lo <= m * 10.0 ** e <= hi]
        if len(ticks) >= 3:
            break
    return ticks


class Axis:
    """A value range drawn on a pixel range, linear or logarithmic."""

    def __init__(self, lo, hi, start, end, log=False):
        self.lo, self.hi, self.start, self.end, self.log = lo, hi, start, end, log

    def __call__(self, value):
        f = math.log10 if self.log else float
        return self.start + (f(value) - f(self.lo)) / (f(self.hi) - f(self.lo)) * (self.end - self.start)

    def ticks(self):
        return log_ticks(self.lo, self.hi) if self.log else linear_ticks(self.lo, self.hi)


def log_range(values):
    """A log axis range around the positive values, padded by a quarter on each side (a factor of 2 around
    a single value)."""
    lo, hi = min(values), max(values)
    return (lo / 2, hi * 2) if lo == hi else (lo / 1.25, hi * 1.25)


def _frame(x, y, xlabel, ylabel, y_ticks=True):
    """Axes, grid, tick labels and axis titles of one panel (no y ticks for a panel with no values)."""
    left, right, top, bottom = MARGIN["left"], WIDTH - MARGIN["right"], MARGIN["top"], HEIGHT - MARGIN["bottom"]
    parts = [f'<rect class="area" x="{left}" y="{top}" width="{right - left}" height="{bottom - top}"/>']
    for t in x.ticks():
        px = x(t)
        parts.append(f'<line class="grid" x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{bottom}"/>'
                     f'<text class="tick" x="{px:.1f}" y="{bottom + 15}" text-anchor="middle">{_fmt(t)}</text>')
    for t in y.ticks() if y_ticks else []:
        py = y(t)
        parts.append(f'<line class="grid" x1="{left}" y1="{py:.1f}" x2="{right}" y2="{py:.1f}"/>'
                     f'<text class="tick" x="{left - 5}" y="{py + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    parts.append(f'<text class="label" x="{(left + right) / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle">'
                 f'{html.escape(xlabel)}</text>'
                 f'<text class="label" transform="translate(14 {(top + bottom) / 2:.0f}) rotate(-90)" '
                 f'text-anchor="middle">{html.escape(ylabel)}</text>')
    return parts


def _svg(kind, title, parts):
    """One ``<svg class="plot">`` panel; ``data-plot`` names what it shows."""
    return (f'<svg class="plot" data-plot="{html.escape(kind)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-label="{html.escape(title)}"><title>{html.escape(title)}</title>' + "".join(parts) + "</svg>")


def _note(lines):
    """Centered text in the plot area, for a panel that has nothing to draw."""
    x = (MARGIN["left"] + WIDTH - MARGIN["right"]) / 2
    y0 = (MARGIN["top"] + HEIGHT - MARGIN["bottom"]) / 2 - 8 * (len(lines) - 1)
    spans = "".join(f'<tspan x="{x:.0f}" y="{y0 + 16 * i:.0f}">{html.escape(line)}</tspan>'
                    for i, line in enumerate(lines))
    return f'<text class="note" text-anchor="middle">{spans}</text>'


COST = {"ndis": ("distance computations per query", "distance computations per query"),
        "qps": ("queries per second (1 thread)", "QPS")}


def _point_title(corpus, param_name, point, k):
    """The tooltip of one sweep point."""
    setting = f"{param_name} = {point.get('param')}" if param_name else "one setting"
    costs = [f"{point[key]:,.0f} {COST[key][1]}" for key in COST if point[key] is not None]
    return f"{corpus}, {setting}: recall@{k} {point['recall']:.4f}; " + ", ".join(costs)


def curve_panel(result, index, key, series):
    """One panel: recall@k (x) against one cost (y, log) of one index, a line per corpus, the target recalls
    as dotted lines; a note instead of lines where the index has no counter.

    Parameters
    ----------
    result : dict
        A checked ``results.json``.
    index : str
    key : {"ndis", "qps"}
    series : dict of str to str
        Corpus name to its CSS class (``c0``, ``c1``, ...).
    """
    k, info, per_corpus = result["k"], result["indexes"][index], result["results"][index]
    recalls = [p["recall"] for r in per_corpus.values() for p in r["curve"]] + list(result["targets"])
    lo = max(0.0, min(math.floor(min(recalls) * 10) / 10, 0.9))
    costs = [p[key] for r in per_corpus.values() for p in r["curve"] if p[key] is not None and p[key] > 0]
    y = Axis(*(log_range(costs) if costs else (1, 10)), HEIGHT - MARGIN["bottom"], MARGIN["top"], log=True)
    x = Axis(lo, 1.0, MARGIN["left"] + INSET, WIDTH - MARGIN["right"] - INSET)
    parts = _frame(x, y, f"recall@{k}", COST[key][0], y_ticks=bool(costs))
    for t in result["targets"]:
        parts.append(f'<line class="target" x1="{x(t):.1f}" y1="{MARGIN["top"]}" x2="{x(t):.1f}" '
                     f'y2="{HEIGHT - MARGIN["bottom"]}"><title>target recall {t:g}</title></line>')
    if not costs:
        why = (info.get("counter_note") or "the library keeps none") if key == "ndis" else "no timings"
        parts.append(_note([f"no {COST[key][1]}", *textwrap.wrap(f"({why})", 44)]))
    for corpus, run in per_corpus.items():
        points = [p for p in run["curve"] if p[key] is not None and p[key] > 0]
        if not points:
            continue
        xy = [(x(p["recall"]), y(p[key])) for p in points]
        line = " ".join(f"{a:.1f},{b:.1f}" for a, b in xy)
        line = f'<polyline points="{line}"/>' if len(set(line.split())) > 1 else ""  # a single point: no line
        dots = "".join(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3"><title>'
                       f'{html.escape(_point_title(corpus, info.get("query_param"), p, k))}</title></circle>'
                       for (a, b), p in zip(xy, points))
        parts.append(f'<g class="series {series[corpus]}" data-corpus="{html.escape(corpus)}">'
                     f'{line}{dots}</g>')
    return _svg(f"{key}:{index}", f"{index}: recall@{k} against {COST[key][0]}", parts)


def histogram_panel(result, key, label, series):
    """One panel: the step histograms of one hardness measure, a line per corpus."""
    hist = result["hardness_histograms"][key]
    edges = hist["edges"]
    top = max(max(c) for c in hist["counts"].values()) or 1
    x = Axis(edges[0], edges[-1], MARGIN["left"], WIDTH - MARGIN["right"])
    y = Axis(0, top * 1.05, HEIGHT - MARGIN["bottom"], MARGIN["top"])
    parts = _frame(x, y, f"{label} at k = {result['k']}", "queries")
    for corpus, cls in series.items():
        counts = hist["counts"][corpus]
        steps = [f"M{x(edges[0]):.1f},{y(0):.1f}"]
        for i, c in enumerate(counts):
            steps.append(f"L{x(edges[i]):.1f},{y(c):.1f}L{x(edges[i + 1]):.1f},{y(c):.1f}")
        steps.append(f"L{x(edges[-1]):.1f},{y(0):.1f}")
        h = result["hardness"][corpus][key]
        title = f"{corpus}: {label} median {h['median']:.3g} [10th-90th percentile {h['p10']:.3g}-{h['p90']:.3g}]"
        parts.append(f'<g class="series {cls}" data-corpus="{html.escape(corpus)}">'
                     f'<path d="{"".join(steps)}"/><title>{html.escape(title)}</title></g>')
    return _svg(f"hardness:{key}", f"per-query {label} at k = {result['k']}, one histogram per corpus", parts)


def embedded_png(path, alt, kind):
    """An ``<img>`` holding a PNG file as a data URI."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<img class="plot" data-plot="{html.escape(kind)}" alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{data}">')


# ----------------------------------------------------------------------------------------- page parts


def _inline(text):
    """One line of Markdown (``**bold**``, ```code```) as HTML."""
    text = re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text))
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)


def _cells(row):
    """``<td>`` cells of one table row; a cell followed by empty ones spans them (the row of an index with no
    counter holds its note in one cell)."""
    out = []
    for cell in row:
        if not cell and out:
            out[-1][1] += 1
        else:
            out.append([cell, 1])
    return "".join(f'<td{f" colspan={span}" if span > 1 else ""}'
                   f'{" class=na" if cell.startswith(("not reached", "null")) else ""}>{_inline(cell)}</td>'
                   for cell, span in out)


def _table(rows):
    """A Markdown pipe table as an HTML table (the first row is the header; the ``|---|`` row is dropped)."""
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows
             if not set(row) <= set("|-: ")]
    head = "".join(f"<th>{_inline(c)}</th>" for c in cells[0])
    body = "".join(f"<tr>{_cells(row)}</tr>" for row in cells[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def markdown_html(text):
    """The Markdown of :mod:`bench.report` (bold lines, pipe tables, ``- `` lists) as HTML."""
    out, rows, items = [], [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            rows.append(line)
            continue
        if rows:
            out.append(_table(rows))
            rows = []
        if line.startswith("- "):
            items.append(f"<li>{_inline(line[2:])}</li>")
            continue
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    return "\n".join(out)


def _text(value):
    """A value of results.json as text; a list as its items joined by commas."""
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _definition_list(pairs):
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in pairs) + "</dl>"


def parameters(result):
    """The run's parameters: what `bench compare` was given (``suite``), k, targets, corpora, versions."""
    suite = result.get("suite") or {}
    corpora = list(next(iter(result["results"].values())))
    pairs = [("real", suite.get("real")), ("model", suite.get("model") or ("fitted on leftover real rows"
                                                                            if "real" in suite else None)),
             ("corpus files", suite.get("files")), ("n (base rows per corpus)", suite.get("n")),
             ("queries per corpus", suite.get("queries")), ("dimension", suite.get("d")),
             ("seed", suite.get("seed")), ("k", result["k"]),
             ("target recalls", ", ".join(f"{t:g}" for t in result["targets"])), ("corpora", ", ".join(corpora)),
             ("indexes", ", ".join(result["results"]))]
    pairs = [(key, _text(value)) for key, value in pairs if value is not None]
    versions = result.get("versions")
    pairs.append(("versions", ", ".join(f"{name} {v}" for name, v in versions.items()) if versions
                  else "not recorded (results.json written before versions were)"))
    return "<h2 id=parameters>Parameters</h2>" + _definition_list(pairs)


def _legend(series):
    buttons = "".join(f'<button type="button" class="key {cls}" data-series="{cls}" aria-pressed="true">'
                      f'<span class="swatch"></span>{html.escape(corpus)}</button>' for corpus, cls in series.items())
    return f'<div class="legend" title="click to show or hide a corpus">{buttons}</div>'


def curves_section(result, series):
    """Per index: its description and counter, the legend, recall against distance computations and QPS."""
    parts = ["<h2 id=curves>Recall against cost</h2>",
             "<p>One line per corpus along the index's query-parameter sweep (cheapest setting first); dotted: "
             "the target recalls. Hover a point for its setting and costs; click a corpus to hide it.</p>"]
    for index in result["results"]:
        info = result["indexes"][index]
        counter = info["counter"] or "none: " + (info.get("counter_note") or "the library keeps no counter")
        parts.append(f'<section class="index" data-index="{html.escape(index)}"><h3>{html.escape(index)}</h3>'
                     f'<p>{html.escape(info.get("description") or "")}. Distance counter: {html.escape(counter)}.</p>'
                     + _legend(series) + '<div class="panels">'
                     + curve_panel(result, index, "ndis", series) + curve_panel(result, index, "qps", series)
                     + "</div></section>")
    return "\n".join(parts)


def tables_section(result):
    """Cost at each target recall (distance computations, then QPS) and build time and index size."""
    tables = [cost_table(result, t, key) for key in ("ndis", "qps") for t in result["targets"]]
    return ("<h2 id=tables>Cost at target recall</h2>\n" + "\n".join(markdown_html(t) for t in tables)
            + "\n<h2 id=build>Build time and index size</h2>\n" + markdown_html(build_table(result)))


def hardness_section(result, series, folder):
    """The hardness table and histograms (from ``hardness_histograms``, else the folder's hardness.png)."""
    parts = ["<h2 id=hardness>Query hardness</h2>", markdown_html(hardness_table(result))]
    png = Path(folder) / "hardness.png"
    if result.get("hardness_histograms"):  # an empty object holds none, as when the run recorded none
        parts += [_legend(series), '<div class="panels">', *(histogram_panel(result, key, label, series)
                                                              for key, label in HARDNESS), "</div>"]
    elif png.is_file():
        parts.append("<p>Per-query histograms: the run's hardness.png (its results.json predates recorded "
                     "histograms).</p>" + embedded_png(png, "per-query relative contrast and LID of each corpus",
                                                        "hardness:png"))
    else:
        parts.append("<p>No per-query histograms: results.json does not hold them and there is no hardness.png "
                     "beside it.</p>")
    return "\n".join(parts)


def _params(params):
    return ", ".join(f"{k} = {v}" for k, v in params.items()) if isinstance(params, dict) and params else "none"


def plugins_section(result):
    """One row per index setting run: what it is, its build parameters, the parameter swept and what its
    distance counter counts; then the plug-ins that were not run, and why."""
    rows = []
    for index, per_corpus in result["results"].items():
        info = result["indexes"][index]
        counter = info["counter"] or "null: " + (info.get("counter_note") or "no counter")
        cells = (index, info.get("description") or "", _params(next(iter(per_corpus.values())).get("build_params")),
                 info.get("query_param") or "none", counter)
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    parts = ["<h2 id=plugins>Index plug-ins</h2>", '<table class="text"><thead><tr><th>index</th><th>what it is</th>'
             "<th>build parameters</th><th>swept</th><th>distance counter</th></tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>"]
    if result.get("skipped"):
        parts.append(markdown_html("Not run:\n" + "\n".join(f"- `{name}`: {reason}"
                                                             for name, reason in result["skipped"].items())))
    return "\n".join(parts)


STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;max-width:1000px;margin:0 auto;
padding:0 16px 40px}
h1{font-size:1.5em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}h3{margin-bottom:.2em}
nav a{margin-right:1em}code{font-size:.92em;background:#f3f3f3;padding:0 3px}
table{border-collapse:collapse;margin:.4em 0 1.2em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
td.na{color:#888}table.text td,table.text th{text-align:left;vertical-align:top}
td:first-child{white-space:nowrap}dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px}
dt{font-weight:600}dd{margin:0}
.panels{display:flex;flex-wrap:wrap;gap:8px}.plot{flex:1 1 420px;max-width:100%;height:auto}
img.plot{border:0}svg.plot .area{fill:#fff;stroke:#999}svg.plot .grid{stroke:#e6e6e6}
svg.plot .tick{font-size:11px;fill:#555}svg.plot .label{font-size:12px;fill:#222}
svg.plot .note{font-size:12px;fill:#777}svg.plot .target{stroke:#aaa;stroke-dasharray:2 3}
svg.plot polyline,svg.plot path{fill:none;stroke-width:1.6}svg.plot circle{stroke:none}
svg.plot circle:hover{r:5}.legend{margin:4px 0}
.key{font:inherit;font-size:13px;border:1px solid #bbb;background:#fff;border-radius:3px;margin-right:6px;
cursor:pointer;padding:1px 8px}.key[aria-pressed=false]{opacity:.4;text-decoration:line-through}
.swatch{display:inline-block;width:12px;height:3px;vertical-align:middle;margin-right:5px}
"""

SCRIPT = """
document.querySelectorAll("button.key").forEach(function (button) {
  button.addEventListener("click", function () {
    var cls = button.getAttribute("data-series");
    var hidden = document.body.classList.toggle("hide-" + cls);
    document.querySelectorAll("button.key." + cls).forEach(function (key) {
      key.setAttribute("aria-pressed", hidden ? "false" : "true");
    });
  });
});
"""


def series_style(series):
    """Each corpus's colour (lines, points, legend swatch) and the rule that hides it."""
    rules, others = [], iter(PALETTE * len(series))
    for corpus, cls in series.items():
        color = COLORS.get(corpus) or next(others)
        rules.append(f".{cls} polyline,.{cls} path{{stroke:{color}}}.{cls} circle{{fill:{color}}}"
                     f".{cls} .swatch{{background:{color}}}.hide-{cls} .series.{cls}{{display:none}}")
    return "\n".join(rules)


def render(result, folder, source=RESULTS):
    """The page of a checked ``results.json`` (:func:`check_result`) as one HTML text.

    Parameters
    ----------
    result : dict
    folder : str or Path
        Where ``hardness.png`` is looked for when ``result`` holds no histograms.
    source : str
        How the page names the results file it was made from.
    """
    corpora = list(next(iter(result["results"].values())))
    series = {corpus: f"c{i}" for i, corpus in enumerate(corpora)}
    suite = result.get("suite") or {}
    what = _text(suite.get("real") or suite.get("files") or "saved corpora")
    title = f"ANN benchmark: {what}"
    sub = (f"{len(result['results'])} index settings on {len(corpora)} corpora ({', '.join(corpora)})"
           + (f", n = {suite['n']:,}" if isinstance(suite.get("n"), int) else "") + f", k = {result['k']}")
    nav = "".join(f'<a href="#{anchor}">{name}</a>' for anchor, name in (
        ("curves", "curves"), ("tables", "cost tables"), ("build", "build"), ("hardness", "hardness"),
        ("plugins", "plug-ins"), ("parameters", "parameters")))
    body = [f"<h1>{html.escape(title)}</h1><p>{html.escape(sub)}</p><nav>{nav}</nav>",
            curves_section(result, series), tables_section(result), hardness_section(result, series, folder),
            plugins_section(result), parameters(result),
            f"<footer><p>Written by <code>bench report</code> (synth-embeddings {html.escape(__version__)}) "
            f"from {html.escape(source)}.</p></footer>"]
    return ("<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
            '<meta name=viewport content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}{series_style(series)}\n</style>\n</head>\n"
            "<body>\n" + "\n".join(body) + f"\n<script>{SCRIPT}</script>\n</body>\n</html>\n")


def write_report(folder, out=None, force=True):
    """Write the page of a `bench compare` / `bench run` folder.

    Parameters
    ----------
    folder : str or Path
        Holds ``results.json`` (and, for an older one, ``hardness.png``).
    out : str or Path, optional
        The HTML file; default ``folder/report.html``. Written under a temporary name and renamed when
        complete, so a failure leaves no partial page.
    force : bool, default=True
        Replace ``out`` if it exists; if False, an existing ``out`` is an error.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    SynthError
        For a missing folder or ``results.json``, one that is not a bench result (:func:`load_result`), or
        an ``out`` that is a folder, or exists without ``force``; nothing is written then.
    """
    result = load_result(folder)
    out = Path(out) if out is not None else Path(folder) / PAGE
    if out.is_dir():
        raise SynthError("is a folder; give the HTML file to write", out)
    if out.exists() and not force:
        raise SynthError("exists already (use --force to overwrite)", out)
    try:
        page = render(result, folder, source=str(Path(folder) / RESULTS))
    except (ArithmeticError, ValueError) as e:  # a value no axis can hold (1e-320, 1e308): checked, yet undrawable
        raise SynthError(f"not a bench result: a value cannot be drawn ({e})", Path(folder) / RESULTS) from None
    with atomic_path(out) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return out
