"""The app end to end in a real browser: `vaultmind ui` serves a copy of the sample vault (through
tests/app_child.py, so the server embeds with the tests' HashEmbedder) and headless Chromium,
driven by Selenium with Debian's chromium and chromedriver, visits every page, opens a blind
spot's evidence and a note from it, clicks a scene, dismisses a blind spot, searches and exports
chips, asserting what the page shows against the library's own answers.

Screenshots of each page go to tests/artifacts/browser/ (git-ignored), or to the folder named by
VAULTMIND_ARTIFACTS. Skips when chromium or chromedriver is missing (`.ci/run` installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import ROOT, SAMPLE_VAULT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromedriver (apt-get install chromium chromium-driver; .ci/run does)",
)
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

import vaultmind  # noqa: E402

LAUNCHER = Path(__file__).resolve().parent / "app_child.py"
ARTIFACTS = Path(os.environ.get("VAULTMIND_ARTIFACTS") or ROOT / "tests" / "artifacts" / "browser")
TOPICS = json.loads((ROOT / "tests" / "data" / "sample_topics.json").read_text(encoding="utf-8"))
WANTED = max(TOPICS["wanted"], key=lambda name: len(TOPICS["wanted"][name]))  # the most linked wanted note
DISMISSED = "Scoring patterns"  # a wanted note linked from one note: the finding the test dismisses
BEE_QUERY = "зимовка пчёл сила семьи корм"  # shares words with the bee notes: the hash embedder knows only words
BEE_NOTE = "bees/14_зимовка_диалог.md"
PAGE_TITLES = ("Overview", "Graph", "Scenes", "Blind spots", "Search", "Note", "Chips", "Health")
SERVER_START = 120.0  # seconds: interpreter, imports, indexing the copy with the hash embedder, Streamlit
WAIT = 60.0  # seconds for a page or a rerun to finish

# Streamlit has finished: the script is not running, the tab is connected, and nothing is still
# loading (a spinner, a component's skeleton) or left over from the previous run (stale).
IDLE_JS = """
const app = document.querySelector('[data-testid="stApp"]');
return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && !document.querySelector('[data-testid="stSpinner"], [data-testid="stSkeleton"], [data-stale="true"]');
"""


@dataclass(frozen=True)
class App:
    url: str
    vault: Path
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """`vaultmind ui COPY --port P` on a copy of the sample vault, until the module's tests end."""
    work = tmp_path_factory.mktemp("browser")
    vault = work / "vault"
    shutil.copytree(SAMPLE_VAULT, vault, ignore=shutil.ignore_patterns(".vaultmind"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, str(LAUNCHER), str(vault), "--port", str(port)], cwd=ROOT,
                                  env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START
        while not healthy(url):
            if server.poll() is not None:
                pytest.fail(f"the app server exited ({server.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the app server did not answer in {SERVER_START:.0f} s:\n"
                            f"{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield App(url, vault, log)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", "--lang=en-US"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


# ---------------------------------------------------------------- helpers


def main_text(driver: WebDriver) -> str:
    return driver.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text


def shot(driver: WebDriver, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], object], what: str) -> None:
    """Wait until Streamlit is idle and `condition` holds; on timeout, fail with what the page
    shows (and a screenshot)."""
    def ready(d: WebDriver) -> bool:
        if d.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'):
            return True  # a traceback on the page: stop waiting and report it below
        return bool(d.execute_script(IDLE_JS)) and bool(condition(d))

    try:
        # an element read while Streamlit redraws the page goes stale: look again at the next poll
        WebDriverWait(driver, WAIT, poll_frequency=0.05,
                      ignored_exceptions=(StaleElementReferenceException,)).until(ready)
    except TimeoutException:
        shot(driver, f"FAILED-{what}")
        pytest.fail(f"{what}: not there after {WAIT:.0f} s; the page shows:\n{main_text(driver)[:3000]}")
    exceptions = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    if exceptions:
        shot(driver, f"FAILED-{what}")
        pytest.fail(f"{what}: the page shows an exception:\n{exceptions[0].text[:3000]}")


def heading(driver: WebDriver) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] h1')
    return found[0].text.strip() if found else ""


def visit(driver: WebDriver, app: App, path: str, title: str, drawn: Callable[[WebDriver], object] = bool) -> str:
    """Open the app at `path`, wait for the page titled `title` to be drawn; its text."""
    driver.get(f"{app.url}/{path}")
    wait_for(driver, lambda d: heading(d) == title and drawn(d), f"the {title} page")
    return main_text(driver)


def metrics(driver: WebDriver) -> dict[str, str]:
    shown = {}
    for metric in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] [data-testid="stMetric"]'):
        label = metric.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text.strip()
        shown[label] = metric.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]').text.strip()
    return shown


def keyed(driver: WebDriver, key: str, inner: str = "") -> WebElement:
    """The widget with Streamlit key `key` (its container's `st-key-KEY` class)."""
    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="stMain"] .st-key-{key} {inner}'.strip())


def has(css: str) -> Callable[[WebDriver], bool]:
    return lambda d: bool(d.find_elements(By.CSS_SELECTOR, f'[data-testid="stMain"] {css}'))


def click(driver: WebDriver, element: WebElement) -> None:
    """Click `element` in the middle of the window (Streamlit's header covers the top)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def type_into(box: WebElement, text: str) -> None:
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text)


def spot_id(app: App, title_part: str, kind: str) -> str:
    spots = vaultmind.blind_spots(app.vault, kinds=[kind], include_dismissed=True)
    return next(s.id for s in spots if title_part in s.title)


def spot_box(driver: WebDriver, finding: str) -> WebElement:
    """The bordered box of one finding: the innermost block holding its Dismiss button."""
    return driver.find_element(
        By.XPATH, f"//*[contains(@class, 'st-key-dismiss-{finding}')]/ancestor::div"
                  "[@data-testid='stVerticalBlock'][.//*[@data-testid='stExpander']][1]")


# ---------------------------------------------------------------- the pages


def test_sidebar_lists_every_page_by_its_title(browser, app):
    visit(browser, app, "blindspots", "Blind spots")  # a page's own address first, as a bookmark opens it
    links = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a')
    items = [a.text.strip().splitlines()[-1] for a in links]  # each entry is the page's icon, then its title
    # st.navigation's titles, not the file names Streamlit lists when it runs a pages/ folder on its own
    assert items == list(PAGE_TITLES)


def test_overview_shows_the_vault_at_a_glance(browser, app):
    text = visit(browser, app, "", "Overview", has(".js-plotly-plot"))  # the default page lives at /
    expected = vaultmind.overview(app.vault)
    shown = metrics(browser)
    assert shown["Notes"] == f"{expected.notes:,}" == "67"
    assert shown["Links"] == f"{expected.links:,}"
    assert shown["Scenes"] == f"{expected.scenes:,}"
    assert shown["Warnings"] == "3"
    assert WANTED in text  # the planted wanted note, most linked first
    assert "Up to date with the files on disk" in text
    assert len(browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] .js-plotly-plot')) == 2
    shot(browser, "overview")


def test_graph_draws_the_scenes(browser, app):
    text = visit(browser, app, "graph", "Graph", has(".js-plotly-plot"))
    scenes = vaultmind.scene_map(app.vault).scenes
    assert f"{len(scenes)} scenes, sized by their notes" in text
    assert len(browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] .js-plotly-plot .point')) == len(scenes)
    shot(browser, "graph")


def test_graph_zooms_into_one_scene(browser, app):
    visit(browser, app, "graph", "Graph", has(".js-plotly-plot"))
    click(browser, next(b for b in keyed(browser, "graph_view").find_elements(By.TAG_NAME, "button")
                        if b.text.strip() == "One scene"))
    scene = vaultmind.scene_map(app.vault).scenes[0]
    wait_for(browser, lambda d: f"Scene {scene.id} «{scene.label}»: {len(scene.notes)} notes" in main_text(d),
             "the graph of one scene")
    shot(browser, "graph-scene")


def test_scenes_page_opens_a_scene(browser, app):
    found = vaultmind.scene_map(app.vault)
    text = visit(browser, app, "scenes", "Scenes", has(".js-plotly-plot"))
    assert metrics(browser)["Scenes"] == f"{len(found.scenes)}"
    first, other = found.scenes[0], found.scenes[1]
    assert f"{first.id}. {first.label}" in text  # the largest scene is open first
    shot(browser, "scenes")
    click(browser, keyed(browser, "scenes_scene", 'button[aria-label="Open"]'))
    wanted = f"{other.id} · {other.label}"
    WebDriverWait(browser, WAIT).until(lambda d: any(o.text.strip() == wanted for o in d.find_elements(
        By.CSS_SELECTOR, '[role="option"]')))
    options = browser.find_elements(By.CSS_SELECTOR, '[role="option"]')
    click(browser, next(o for o in options if o.text.strip() == wanted))
    wait_for(browser, lambda d: f"{other.id}. {other.label}" in main_text(d), f"scene {other.id}")
    text = main_text(browser)
    assert Path(other.central[0]).stem in text  # its central notes
    assert "Its blind spots" in text
    assert f"scene={other.id}" in browser.current_url
    shot(browser, "scenes-other")


def test_blind_spots_show_the_planted_wanted_note_with_its_evidence(browser, app):
    text = visit(browser, app, "blindspots", "Blind spots", has(".js-plotly-plot"))
    assert f"[[{WANTED}]] is linked from {len(TOPICS['wanted'][WANTED])} notes but not written" in text
    finding = spot_id(app, WANTED, "wanted_note")
    box = spot_box(browser, finding)
    click(browser, box.find_element(By.CSS_SELECTOR, '[data-testid="stExpander"] summary'))
    referrers = [Path(p).stem for p in TOPICS["wanted"][WANTED]]
    details = box.find_element(By.CSS_SELECTOR, '[data-testid="stExpanderDetails"]')
    wait_for(browser, lambda d: details.is_displayed() and referrers[0] in details.text, "the wanted note's evidence")
    evidence = details.text
    assert f"{len(referrers)} notes" in evidence
    assert sum(name in evidence for name in referrers) >= 3  # the notes that link to it, each with its sentence
    assert f"[[{WANTED}]]" in evidence
    shot(browser, "blindspots-evidence")


def test_a_blind_spot_opens_its_note(browser, app):
    visit(browser, app, "blindspots", "Blind spots", has(".js-plotly-plot"))
    spots = vaultmind.blind_spots(app.vault, kinds=["orphan"])
    path = spots[0].notes[0]
    box = spot_box(browser, spots[0].id)
    click(browser, box.find_element(By.CSS_SELECTOR, '[data-testid="stPageLink"] a'))
    title = vaultmind.note_report(app.vault, path).note.title
    wait_for(browser, lambda d: heading(d) == "Note" and path in main_text(d), f"the note page of {path}")
    assert title in main_text(browser)
    assert "path=" in browser.current_url


def test_dismissing_a_blind_spot_hides_it(browser, app):
    visit(browser, app, "blindspots", "Blind spots", has(".js-plotly-plot"))
    finding = spot_id(app, DISMISSED, "wanted_note")
    assert finding in main_text(browser)
    click(browser, keyed(browser, f"dismiss-{finding}", "button"))
    wait_for(browser, lambda d: f"Dismissed: [[{DISMISSED}]]" in main_text(d), "the dismissed finding's message")
    assert finding not in main_text(browser)
    assert not browser.find_elements(By.CSS_SELECTOR, f".st-key-dismiss-{finding}")
    shot(browser, "blindspots-dismissed")
    verdicts = {spot.id: verdict for verdict, spot, _at in vaultmind.feedback(app.vault)}
    assert verdicts[finding] == "dismissed"
    text = visit(browser, app, "blindspots", "Blind spots", has(".js-plotly-plot"))  # stays gone in a new session
    assert finding not in text
    assert WANTED in text


def test_search_finds_the_bee_notes(browser, app):
    visit(browser, app, "search", "Search", has('[data-testid="stTextInput"] input'))
    box = browser.find_element(By.CSS_SELECTOR, '[data-testid="stMain"] [data-testid="stTextInput"] input')
    type_into(box, BEE_QUERY)
    box.send_keys(Keys.ENTER)
    wait_for(browser, has('a[href*="/note?path="]'), "the search results")
    text = main_text(browser)
    best = vaultmind.search(app.vault, BEE_QUERY)[0]
    assert best.note.startswith("bees/")
    first = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] [data-testid="stCaptionContainer"] code')
    assert [c.text for c in first if c.text.endswith(".md")][0] == best.note
    assert "notes closest in meaning" in text
    assert "q=" in browser.current_url  # the query is in the address, so the result can be shared
    shot(browser, "search")


def test_note_page_shows_its_links(browser, app):
    text = visit(browser, app, f"note?path={quote(BEE_NOTE, safe='')}", "Note", has('[data-testid="stMetric"]'))
    report = vaultmind.note_report(app.vault, BEE_NOTE)
    assert report.note.title in text
    assert metrics(browser)["Backlinks"] == f"{len(report.backlinks):,}"
    assert "Dialogue:" in text  # a saved chat: its turns are shown
    shot(browser, "note")


def test_chips_preview_and_export(browser, app, tmp_path):
    visit(browser, app, "chips", "Chips", has(".st-key-chip_build button"))
    click(browser, keyed(browser, "chip_build", "button"))
    wait_for(browser, lambda d: "Chips" in metrics(d), "the chip preview")
    shown = metrics(browser)
    assert int(shown["Chips"].replace(",", "")) > 0
    assert shown["Private notes left out"] == "2"
    shot(browser, "chips-preview")

    tabs = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] [data-testid="stTab"]')
    click(browser, next(t for t in tabs if t.text.strip() == "Export"))
    out = tmp_path / "chips"
    folder = keyed(browser, "chip_folder", "input")
    wait_for(browser, lambda d: folder.is_displayed(), "the export tab")
    type_into(folder, str(out))
    folder.send_keys(Keys.ENTER)
    wait_for(browser, lambda d: keyed(d, "chip_folder", "input").get_attribute("value") == str(out),
             "the export folder")
    click(browser, keyed(browser, "chip_export", "button"))
    wait_for(browser, lambda d: f"files to {out}" in main_text(d), "the export's message")
    assert (out / "manifest.json").is_file()
    assert (out / "README.md").is_file()
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert any(name.endswith(".parquet") for name in written), written
    assert any(name.endswith(".jsonl") for name in written), written
    shot(browser, "chips-export")


def test_health_lists_the_warnings(browser, app):
    text = visit(browser, app, "health", "Health", has('[data-testid="stDataFrame"]'))
    warnings = vaultmind.doctor(app.vault)
    assert len(warnings) == 3
    assert f"{len(warnings)} warnings in {len({w.path for w in warnings})} files" in text
    assert "broken YAML front matter" in text
    assert "test-hash-use-256" in text  # the model the server embeds with (the default channels: use+bm25)
    shot(browser, "health")
