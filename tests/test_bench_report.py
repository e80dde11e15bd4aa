"""`bench report` (issue 14, item 6): one static HTML page of a `bench compare` / `bench run` folder.

The page is checked as text here (what it holds, bad inputs, the committed pages up to date) and in a real
headless Chromium (no console errors, every plot drawn): the browser tests skip, with the reason, where
Chromium, chromedriver or selenium is missing; .ci/run installs Debian's chromium and chromium-driver where
it can.
"""

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_one_line_error, listing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.cli import main
from bench.page import RESULTS, load_result, render, write_report
from bench.suites import make_corpus, save_corpus
from synth.bundled import load_minilm_wordnet
from synth.errors import SynthError

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ("docs/bench", "docs/bench/db", "docs/bench/all")


class Elements(HTMLParser):
    """Every start tag of a page as ``(tag, attributes)``."""

    def __init__(self, page):
        super().__init__()
        self.tags = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def plots(page):
    """``data-plot`` of every plot element, in page order."""
    return [attrs["data-plot"] for tag, attrs in Elements(page).tags if "plot" in attrs.get("class", "").split()]


def expected_plots(result):
    """Two panels per index, then the two hardness histograms (or the embedded hardness.png)."""
    panels = [f"{key}:{index}" for index in result["results"] for key in ("ndis", "qps")]
    return panels + (["hardness:rc", "hardness:lid"] if "hardness_histograms" in result else ["hardness:png"])


def copy_run(source, folder):
    """A `bench compare` folder's results.json and hardness.png, copied (the page needs nothing else)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (RESULTS, "hardness.png"):
        shutil.copy(ROOT / source / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real `bench run --html` on three small corpora (bundled rows, noisy copies, random), three indexes."""
    tmp = tmp_path_factory.mktemp("report")
    X = load_minilm_wordnet()[:640]
    rng = np.random.default_rng(0)
    noisy = X + 0.02 * rng.standard_normal(X.shape).astype(np.float32)
    uniform = rng.standard_normal(X.shape).astype(np.float32)
    (tmp / "suite").mkdir()
    for name, rows in (("real", X), ("noisy-copies", noisy), ("random", uniform)):
        rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        save_corpus(make_corpus(name, rows[:600], rows[600:]), tmp / "suite" / f"{name}.h5")
    out = tmp / "run"
    r = CliRunner().invoke(main, ["run", str(tmp / "suite"), "--index", "faiss-flat", "--index", "faiss-hnsw",
                                  "--index", "hnswlib", "--repeats", "1", "--out", str(out), "--html", "-q"])
    assert r.exit_code == 0, r.output
    return out


# ------------------------------------------------------------------------------------------ the page


def test_page_of_the_committed_run_holds_every_plot_table_and_parameter(tmp_path):
    folder = copy_run("docs/bench", tmp_path / "bench")
    r = CliRunner().invoke(main, ["report", str(folder)])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"wrote {folder / 'report.html'}"
    page = (folder / "report.html").read_text()
    result = json.loads((folder / RESULTS).read_text())
    assert plots(page) == expected_plots(result)
    # the tables of results.md, as HTML: cost at each target, build time and size, hardness
    for cells in ("<td>faiss-hnsw</td><td>450</td><td>333 (0.74x)</td><td>1,068 (2.37x)</td>",
                  "<td>hnswlib</td><td colspan=4 class=na>null: hnswlib does not expose its distance counter",
                  "<td>faiss-ivfpq</td><td>13.26 s, 1.1 MiB</td>", "<td>fog</td><td>1.180 [1.155-1.263]</td>"):
        assert cells in page, cells
    for t in ("0.90", "0.95", "0.99"):
        assert f"distance computations per query at recall@10 = {t}</strong>" in page
        assert f"queries per second (1 thread) at recall@10 = {t}</strong>" in page
    for pair in ("<dt>real</dt><dd>bundled</dd>", "<dt>n (base rows per corpus)</dt><dd>10000</dd>",
                 "<dt>queries per corpus</dt><dd>1000</dd>", "<dt>seed</dt><dd>0</dd>", "<dt>k</dt><dd>10</dd>"):
        assert pair in page, pair
    assert "not recorded" in page  # this results.json predates the versions


def test_page_fetches_nothing(tmp_path):
    """Self-contained: no attribute points outside the page (no CDN, no files beside it)."""
    page = write_report(copy_run("docs/bench", tmp_path / "b")).read_text()
    for tag, attrs in Elements(page).tags:
        for key in ("src", "href", "xlink:href", "data"):
            value = attrs.get(key) or ""
            assert value.startswith(("#", "data:image/png;base64,")) or not value, (tag, key, value[:60])
    assert "http://" not in page and "https://" not in page


def test_run_with_html_writes_the_page_of_bench_report(tiny_run, tmp_path):
    page = (tiny_run / "report.html").read_text()
    result = json.loads((tiny_run / RESULTS).read_text())
    assert set(result["hardness_histograms"]) == {"rc", "lid"}
    assert {"python", "synth-embeddings", "numpy", "faiss", "hnswlib"} <= set(result["versions"])
    assert plots(page) == expected_plots(result)
    assert f"synth-embeddings {result['versions']['synth-embeddings']}" in page
    # the same bytes from `bench report` on the folder (the run's own page names the same results.json)
    r = CliRunner().invoke(main, ["report", str(tiny_run), "-o", str(tmp_path / "again.html")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "again.html").read_text() == page
    # a corpus with a name of its own gets a colour of its own
    assert ".c2 polyline,.c2 path{stroke:#d62728}" in page


def test_histograms_count_every_query_inside_the_shared_bins(tiny_run):
    result = json.loads((tiny_run / RESULTS).read_text())
    for key in ("rc", "lid"):
        hist = result["hardness_histograms"][key]
        assert len(hist["edges"]) == 51 and hist["edges"] == sorted(hist["edges"])
        total = sum(sum(c) for c in hist["counts"].values())
        assert 0.95 * 3 * 40 <= total <= 3 * 40  # the 0.5 % tails on each side fall outside


@pytest.mark.parametrize("source", COMMITTED)
def test_committed_report_pages_are_up_to_date(source):
    """docs/bench/report.html and docs/bench/db/report.html are what `bench report` writes today."""
    folder = ROOT / source
    page = render(load_result(folder), folder, source=f"{source}/{RESULTS}")
    assert (folder / "report.html").read_text() == page, f"regenerate: bench report {source} --force"


def test_a_missing_hardness_png_is_said_in_the_page(tmp_path):
    folder = copy_run("docs/bench", tmp_path / "b")
    (folder / "hardness.png").unlink()
    page = write_report(folder).read_text()
    assert "hardness:png" not in plots(page) and "there is no hardness.png" in page


def test_help_explains():
    r = CliRunner().invoke(main, ["report", "--help"])
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for words in ("DIR/results.json", "bench compare", "report.html", "offline", "--force", "-o, --out FILE",
                  "bench compare --html"):
        assert words in text, words
    r = CliRunner().invoke(main, ["compare", "--help"])
    assert "--html" in r.output and "bench report OUT" in " ".join(r.output.split())


# ------------------------------------------------------------------------------------------ bad inputs


def edit(key_path, value):
    """A change to a valid result: the entry at ``key_path`` set to ``value`` (deleted for ``...``)."""
    def change(result):
        *parents, last = key_path
        for key in parents:
            result = result[key]
        if value is ...:
            del result[last]
        else:
            result[last] = value
    return change


BROKEN = [
    ("not JSON", lambda f: f.write_text('{"k": 10,'), ["not valid JSON", "line 1, column 10"]),
    ("not UTF-8", lambda f: f.write_bytes(b"\xff\xfe{}"), ["cannot be read"]),
    ("a list", lambda f: f.write_text("[1, 2]"), ["not a bench result: the top level is [1, 2], expected an object"]),
    ("deeply nested", lambda f: f.write_text("[" * 100_000 + "]" * 100_000), ["cannot be read"]),
]
EDITS = [
    (("results",), ..., 'has no "results"'),
    (("results",), {}, "results is empty"),
    (("k",), "10", 'k is "10", expected an integer'),
    (("k",), True, "k is true, expected an integer"),
    (("targets", 1), 1.5, "targets[1] is 1.5, expected a recall"),
    (("results", "faiss-hnsw", "real", "curve", 2, "recall"), ..., 'results["faiss-hnsw"]["real"]["curve"][2] has no'),
    (("results", "faiss-hnsw", "fog", "curve", 0, "qps"), "fast", '["curve"][0]["qps"] is "fast", expected a number'),
    (("results", "faiss-hnsw", "fog", "curve", 0, "ndis"), float("nan"), "is NaN, expected a number or null"),
    (("results", "faiss-hnsw", "fog", "curve"), [], '["curve"] is empty'),
    (("results", "faiss-ivf", "real", "ndis_at_target", "0.95"), ..., '["ndis_at_target"] has no "0.95"'),
    (("results", "faiss-ivf", "random"), ..., "holds corpora"),
    (("indexes", "hnswlib"), ..., 'indexes has no "hnswlib"'),
    (("hardness", "fog", "lid", "p90"), None, 'hardness["fog"]["lid"]["p90"] is null, expected a number'),
]


@pytest.mark.parametrize("name,write,words", BROKEN, ids=[b[0] for b in BROKEN])
def test_unreadable_results_are_a_one_line_error_and_write_nothing(tmp_path, name, write, words):
    folder = copy_run("docs/bench", tmp_path / "b")
    write(folder / RESULTS)
    before = listing(tmp_path)
    r = CliRunner().invoke(main, ["report", str(folder)])
    assert_one_line_error(r, folder / RESULTS, *words)
    assert listing(tmp_path) == before


@pytest.mark.parametrize("key_path,value,words", EDITS, ids=[str(e[0][-1]) + ":" + str(e[1])[:8] for e in EDITS])
def test_malformed_results_name_the_entry_and_write_nothing(tmp_path, key_path, value, words):
    folder = copy_run("docs/bench", tmp_path / "b")
    result = json.loads((folder / RESULTS).read_text())
    edit(key_path, value)(result)
    (folder / RESULTS).write_text(json.dumps(result))
    before = listing(tmp_path)
    r = CliRunner().invoke(main, ["report", str(folder)])
    assert_one_line_error(r, folder / RESULTS, "not a bench result", words)
    assert listing(tmp_path) == before


def test_missing_folder_or_results_or_a_file_for_dir(tmp_path):
    r = CliRunner().invoke(main, ["report", str(tmp_path / "nowhere")])
    assert_one_line_error(r, tmp_path / "nowhere", "no such folder")
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(main, ["report", str(tmp_path / "empty")])
    assert_one_line_error(r, tmp_path / "empty" / RESULTS, "not found", "bench compare")
    (tmp_path / "file").write_text("x")
    r = CliRunner().invoke(main, ["report", str(tmp_path / "file")])
    assert_one_line_error(r, tmp_path / "file", "not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file"]


def test_an_existing_page_is_replaced_only_with_force(tmp_path):
    folder = copy_run("docs/bench", tmp_path / "b")
    (folder / "report.html").write_text("mine")
    r = CliRunner().invoke(main, ["report", str(folder)])
    assert_one_line_error(r, folder / "report.html", "exists already", "--force")
    assert (folder / "report.html").read_text() == "mine"
    r = CliRunner().invoke(main, ["report", str(folder), "--force"])
    assert r.exit_code == 0 and (folder / "report.html").read_text().startswith("<!DOCTYPE html>")
    r = CliRunner().invoke(main, ["report", str(folder), "-o", str(tmp_path)])
    assert_one_line_error(r, tmp_path, "is a folder")
    r = CliRunner().invoke(main, ["report", str(folder), "-o", str(tmp_path / "no" / "x.html")])
    assert_one_line_error(r, tmp_path / "no", "output folder does not exist")


JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=True) | st.text(max_size=3),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=6)


def entries(obj, path=()):
    """Every key path of a JSON value."""
    yield path
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        yield from entries(value, (*path, key))


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_to_a_real_result_is_a_page_or_a_one_line_error(tiny_run, tmp_path_factory, data):
    """Delete or replace any one entry of a real results.json: the page is written, or SynthError says why
    (never another exception)."""
    result = json.loads((tiny_run / RESULTS).read_text())
    paths = [p for p in entries(result) if p]
    key_path = data.draw(st.sampled_from(paths))
    edit(key_path, data.draw(st.just(...) | JSON))(result)
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / RESULTS).write_text(json.dumps(result))
    try:
        write_report(folder)
    except SynthError as e:
        assert str(e).startswith(f"{folder / RESULTS}: not a bench result: ") and "\n" not in str(e)
        assert not (folder / "report.html").exists()


# ------------------------------------------------------------------------------------------ in Chromium

BROWSERS = ("chromium", "chromium-browser", "google-chrome")

# per plot: its size on the page, and the size of the lines, points and steps drawn in it
MEASURE = """
return Array.from(document.querySelectorAll(".plot")).map(function (plot) {
  var box = plot.getBoundingClientRect();
  var marks = Array.from(plot.querySelectorAll(".series polyline, .series circle, .series path"))
    .map(function (m) { var b = m.getBoundingClientRect(); return b.width + b.height; });
  return {plot: plot.getAttribute("data-plot"), width: box.width, height: box.height,
          decoded: plot.tagName === "IMG" ? plot.complete && plot.naturalWidth > 0 : null,
          marks: marks.length, drawn: marks.filter(function (s) { return s > 0; }).length,
          note: plot.querySelector(".note") !== null};
});
"""


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by chromedriver, its console collected; every host name resolves to
    nothing, so a page that fetched anything would log an error."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the [test] extra)")
    binary = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("Chromium or chromedriver is not installed (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,900", "--host-resolver-rules=MAP * ~NOTFOUND"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    yield chrome
    chrome.quit()


def open_page(browser, path):
    """Load a file; return the console's SEVERE entries (JavaScript errors, failed loads)."""
    browser.get_log("browser")  # drop what an earlier page left
    browser.get(Path(path).resolve().as_uri())
    # get() may return while a large page is still parsing on a busy machine: wait for it (a page that never
    # completes fails here)
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 60, poll_frequency=0.1).until(
        lambda b: b.execute_script("return document.readyState") == "complete")
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def assert_every_plot_drawn(browser, result):
    measured = browser.execute_script(MEASURE)
    assert [m["plot"] for m in measured] == expected_plots(result)
    for m in measured:
        assert m["width"] > 100 and m["height"] > 50, m
        if m["decoded"] is not None:
            assert m["decoded"], m
        elif m["note"]:  # an index without a distance counter: the panel says so instead of drawing
            assert m["plot"].startswith("ndis:") and m["marks"] == 0, m
        else:
            assert m["marks"] > 0 and m["drawn"] == m["marks"], m


def test_the_browser_check_sees_errors_and_fetches(browser, tmp_path):
    """The check below is not vacuous: a script error and a fetch attempt are both SEVERE entries."""
    (tmp_path / "bad.html").write_text('<!DOCTYPE html><img src="https://example.invalid/x.png">'
                                       "<script>undefinedFunction();</script>")
    messages = " ".join(e["message"] for e in open_page(browser, tmp_path / "bad.html"))
    assert "undefinedFunction is not defined" in messages and "example.invalid" in messages


@pytest.mark.parametrize("source", COMMITTED)
def test_committed_pages_load_in_chromium_with_every_plot(browser, source):
    assert open_page(browser, ROOT / source / "report.html") == []
    assert_every_plot_drawn(browser, json.loads((ROOT / source / RESULTS).read_text()))


def test_run_page_loads_in_chromium_and_hides_a_corpus_on_click(browser, tiny_run):
    assert open_page(browser, tiny_run / "report.html") == []
    assert_every_plot_drawn(browser, json.loads((tiny_run / RESULTS).read_text()))
    from selenium.webdriver.common.by import By

    shown = "return Array.from(document.querySelectorAll('.series.c2')).map(e => getComputedStyle(e).display)"
    pressed = "return Array.from(document.querySelectorAll('button.key.c2')).map(b => b.getAttribute('aria-pressed'))"
    assert set(browser.execute_script(shown)) == {"inline"}
    browser.find_elements(By.CSS_SELECTOR, "button.key.c2")[1].click()
    assert set(browser.execute_script(shown)) == {"none"} and set(browser.execute_script(pressed)) == {"false"}
    browser.find_elements(By.CSS_SELECTOR, "button.key.c2")[0].click()
    assert set(browser.execute_script(shown)) == {"inline"} and set(browser.execute_script(pressed)) == {"true"}
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


@pytest.mark.slow
def test_compare_html_page_loads_in_chromium(browser, tmp_path):
    """End to end: `bench compare --html` on bundled rows (real, fake, fog, random; a minute on 2 cores)."""
    np.save(tmp_path / "real.npy", load_minilm_wordnet()[:3100])
    out = tmp_path / "cmp"
    r = CliRunner().invoke(main, ["compare", str(tmp_path / "real.npy"), "--n", "1000", "--queries", "50",
                                  "--index", "faiss-hnsw", "--index", "faiss-ivf", "--index", "hnswlib",
                                  "--repeats", "1", "--out", str(out), "--html", "-q"])
    assert r.exit_code == 0, r.output
    result = json.loads((out / RESULTS).read_text())
    assert list(next(iter(result["results"].values()))) == ["real", "fake", "fog", "random"]
    assert open_page(browser, out / "report.html") == []
    assert_every_plot_drawn(browser, result)
