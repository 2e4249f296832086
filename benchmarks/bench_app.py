"""The app, `vaultmind ui`, in headless Chromium on a copy of the sample vault and on the
synthetic vault, both indexed with "use+bm25": each page's first render on a fresh server and a
later visit through the sidebar, the first search (it loads the model), and the server's peak
memory after a search and every page. Skipped (n/a) without chromium and chromedriver.
Targets: first render ≤ 2 s (sample vault), ≤ 5 s (10,000 notes); server ≤ 1.5 GB.

    .venv/bin/asv run --python=same --bench '^bench_app'
"""

import ctypes
import resource
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from signal import SIGTERM
from urllib.parse import quote

from selenium import webdriver
from selenium.webdriver.support.ui import WebDriverWait

import vaultmind

from .vaults import NOTES, REPO, copy_indexed, notes_of, scratch

QUERIES = {"sample": "как пчёлы переживают зиму", "synthetic": "hive queen nectar swarm"}
VAULTS = list(QUERIES)
WAIT = 300.0  # seconds for the server to answer or a page to be drawn
PLOT, METRIC = "main.querySelector('.js-plotly-plot')", "main.querySelector('[data-testid=stMetric]')"
PAGES = {  # url path: (title, JS over `main` and its `text`, true once the page has drawn its data)
    "overview": ("Overview", f"{METRIC} && {PLOT}"),
    "graph": ("Graph", PLOT),
    "scenes": ("Scenes", f"{PLOT} && text.includes('Export this scene')"),
    "blindspots": ("Blind spots", f"{PLOT} && main.querySelector('[data-testid=stExpander]')"),
    "search": ("Search", "main.querySelector('[data-testid=stTextInput] input')"),
    "note": ("Note", f"{METRIC} || text.includes('Choose a note')"),
    "chips": ("Chips", "main.querySelector('.st-key-chip_build button')"),
    "health": ("Health", "text.includes('Model and store')"),
}
# drawn: the script has finished, nothing is loading or stale, the heading is the page's title, its data is there
DRAWN_JS = """if (document.querySelector('[data-testid=stException]')) return 'error';
const app = document.querySelector('[data-testid=stApp]'), main = document.querySelector('[data-testid=stMain]');
const busy = '[data-testid=stSpinner], [data-testid=stSkeleton], [data-stale=true], [data-testid=stAppSkeleton]';
const h1 = main && main.querySelector('h1'), text = main ? main.innerText : '';
return !!app && app.dataset.testScriptState === 'notRunning' && app.dataset.testConnectionState === 'CONNECTED'
  && !document.querySelector(busy) && !!h1 && h1.innerText.trim() === TITLE && !!(DRAWN);"""


class _App:  # a fresh `vaultmind ui` server and a fresh headless Chromium for each sample
    number, rounds, warmup_time, repeat, timeout = 1, 1, 0, (1, 3, 30.0), 3600.0  # setup_cache may index

    def setup_cache(self) -> dict[str, tuple[str, str]]:
        sample = scratch("app-sample") / "vault"
        shutil.copytree(REPO / "sample_vault", sample, ignore=shutil.ignore_patterns(".vaultmind"))
        vaultmind.index(sample, model="use+bm25")
        synthetic = copy_indexed(NOTES, "use+bm25", name="app")
        return {"sample": (str(sample), "bees/14_зимовка_диалог.md"),
                "synthetic": (str(synthetic), notes_of(synthetic)[0].relative_to(synthetic).as_posix())}

    def setup(self, vaults: dict, vault: str, *_: str) -> None:
        chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
        if not (chromium and driver):
            raise NotImplementedError("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = str(s.getsockname()[1])
        (path, self.note), self.url = vaults[vault], f"http://127.0.0.1:{port}"
        # PR_SET_PDEATHSIG: the server stops with this process (asv skips teardown after a timeout)
        self.server = subprocess.Popen([str(Path(sys.executable).with_name("vaultmind")), "ui", path, "--no-index",
                                        "--port", port], preexec_fn=lambda: ctypes.CDLL(None).prctl(1, SIGTERM))
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        options.arguments.extend("--headless=new --no-sandbox --disable-dev-shm-usage --window-size=1400,1000".split())
        self.driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)
        WebDriverWait(self.driver, WAIT, 0.1, (OSError,)).until(  # until the server answers
            lambda _: urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2), "the app server did not start")

    def teardown(self, *_: object) -> None:
        self.driver.quit()
        self.server.send_signal(SIGTERM)  # `vaultmind ui` passes it on to Streamlit and waits for it
        self.server.wait(60)

    def drawn(self, page: str, drawn: str | None = None) -> None:
        js = DRAWN_JS.replace("TITLE", repr(PAGES[page][0])).replace("DRAWN", drawn or PAGES[page][1])
        if WebDriverWait(self.driver, WAIT, poll_frequency=0.03).until(lambda d: d.execute_script(js)) == "error":
            raise RuntimeError(f"the {page} page shows an exception")

    def go(self, page: str, sidebar: bool = False) -> None:
        """Open the page by its address (a page load), or click its sidebar entry (no page load)."""
        address = "" if page == "overview" else page  # the default page is served at /
        if sidebar:
            self.driver.find_element("css selector", f'[data-testid=stSidebarNav] a[href$="/{address}"]').click()
        else:
            self.driver.get(f"{self.url}/{address}" + (f"?path={quote(self.note, safe='')}" if page == "note" else ""))
        self.drawn(page)


class Pages(_App):
    params, param_names = (VAULTS, list(PAGES), ["first", "again"]), ["vault", "page", "visit"]

    def setup(self, vaults: dict, vault: str, page: str, visit: str) -> None:
        super().setup(vaults, vault)
        if visit == "again":  # drawn once, then left for another page
            self.go(page)
            self.go("health" if page == "overview" else "overview", sidebar=True)

    def time_render(self, vaults: dict, vault: str, page: str, visit: str) -> None:
        self.go(page, sidebar=visit == "again")


class Search(_App):
    params, param_names = VAULTS, ["vault"]

    def setup(self, vaults: dict, vault: str) -> None:
        super().setup(vaults, vault)
        self.go("search")

    def time_search(self, vaults: dict, vault: str) -> None:
        box = self.driver.find_element("css selector", "[data-testid=stMain] [data-testid=stTextInput] input")
        box.send_keys(QUERIES[vault] + "\n")  # typed, then Enter
        self.drawn("search", "main.querySelector('a[href*=\"/note?path=\"]')")  # a hit links to its note

    def track_server_peak_mib(self, vaults: dict, vault: str) -> float:
        """The server's largest process (Streamlit) at its peak, after a search and every page."""
        self.time_search(vaults, vault)
        for page in PAGES:
            self.go(page, sidebar=True)
        self.server.send_signal(SIGTERM)
        self.server.wait(60)  # reaped, its peak counts among this process's children
        return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux

    track_server_peak_mib.unit = "MiB"
