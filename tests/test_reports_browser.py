"""The reports of the demo build in headless Chromium (Debian `chromium` + `chromium-driver`):
starting at the dataset-level index.html (.#host.demo), every report reachable through links
opens from its store path as a file:// page with no console errors, every image decodes, every
<video>/<audio> and every linked clip loads its metadata, every relative link exists, and no
page refers to the network."""

from __future__ import annotations

import shutil
import time
from collections import deque
from pathlib import Path
from urllib.parse import unquote, urlparse

import orjson
import pytest

from conftest import nix_build

selenium = pytest.importorskip("selenium", reason="selenium is in requirements.lock; run make venv")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

pytestmark = pytest.mark.nix
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver; `make deps`)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def demo_out() -> Path:
    return nix_build(".#host.demo")[0]


PAGE_STATE = """
return {
  images: Array.from(document.images).map(i => ({src: i.currentSrc || i.src, complete: i.complete, w: i.naturalWidth})),
  media: Array.from(document.querySelectorAll('video, audio')).map(m => ({src: m.currentSrc || m.src, ready: m.readyState,
                                                                          error: m.error && m.error.code})),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => ({raw: a.getAttribute('href'), url: a.href})),
  refs: Array.from(document.querySelectorAll('[src], [href], link[href]'))
             .map(e => e.getAttribute('src') || e.getAttribute('href')),
};
"""

# Load a URL into a fresh <video> element and wait for its metadata (readyState >= 1).
PROBE_VIDEO = """
const [url, done] = arguments;
const v = document.createElement('video');
v.muted = true; v.preload = 'metadata';
v.onloadedmetadata = () => done({ready: v.readyState, w: v.videoWidth, h: v.videoHeight, d: v.duration});
v.onerror = () => done({ready: v.readyState, error: v.error && v.error.code});
v.src = url;
"""


def wait_for_page(driver, seconds: float = 15.0) -> dict:
    """Page state once every image is complete and every media element has settled."""
    deadline = time.monotonic() + seconds
    while True:
        state = driver.execute_script(PAGE_STATE)
        settled = all(i["complete"] for i in state["images"]) and all(m["ready"] >= 1 or m["error"] for m in state["media"])
        if settled or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


def crawl(browser, start: Path) -> tuple[set[Path], list[str], set[Path]]:
    """Open ``start`` and every index.html reachable through its links: (pages seen, problems, linked clips)."""
    queue, seen, problems = deque([start.resolve()]), set(), []
    clips: set[Path] = set()
    while queue:
        page = queue.popleft()
        if page in seen:
            continue
        seen.add(page)
        browser.get_log("browser")  # drop entries of the previous page
        browser.get(page.as_uri())
        state = wait_for_page(browser)
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        problems += [f"{page}: console error: {m}" for m in errors]
        problems += [f"{page}: image does not load: {i['src']}" for i in state["images"] if i["w"] == 0]
        problems += [f"{page}: media does not load: {m['src']} (error {m['error']})" for m in state["media"] if m["ready"] < 1]
        problems += [f"{page}: refers to the network or an absolute path: {r}" for r in state["refs"]
                     if r and (r.startswith(("http:", "https:", "//", "/")))]
        for link in state["links"]:
            url = urlparse(link["url"])
            if url.scheme != "file":
                problems.append(f"{page}: non-file link {link['raw']}")
                continue
            target = Path(unquote(url.path))
            if not target.exists():
                problems.append(f"{page}: broken link {link['raw']} → {target}")
            elif target.name == "index.html":
                queue.append(target.resolve())
            elif target.suffix in (".mp4", ".webm", ".mkv"):
                clips.add(target)
    return seen, problems, clips


def test_the_checker_catches_broken_reports(browser, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<!doctype html><html><head><title>t</title></head><body><a href="sub/index.html">sub</a>'
        '<a href="gone.json">gone</a><img src="missing.jpg" alt="x"><video src="missing.mp4"></video></body></html>')
    (tmp_path / "sub/index.html").write_text(
        '<!doctype html><html><head><title>s</title></head><body><script>console.error("boom")</script>'
        '<img src="https://example.invalid/x.png" alt="y"></body></html>')
    seen, problems, _ = crawl(browser, tmp_path / "index.html")
    text = "\n".join(problems)
    assert seen == {(tmp_path / "index.html").resolve(), (tmp_path / "sub/index.html").resolve()}
    for needle in ("broken link gone.json", "image does not load", "media does not load", "console error", "boom",
                   "refers to the network or an absolute path: https://example.invalid/x.png"):
        assert needle in text, text


def test_every_report_of_the_demo_loads_cleanly(browser, demo_out):
    start = demo_out / "index.html"
    assert start.is_file()
    seen, problems, clips = crawl(browser, start)
    assert not problems, "\n".join(problems)

    # every report of the demo was reached: the top page, each step's page and each shard's page
    agg = orjson.loads((demo_out / "aggregate.json").read_bytes())
    expected = {start.resolve()}
    for step in agg["members"]:
        step_dir = (demo_out / step["link"]).resolve()
        expected.add(step_dir / "index.html")
        step_agg = step_dir / "aggregate.json"
        if step_agg.is_file():
            expected |= {(step_dir / m["link"]).resolve() / "index.html" for m in orjson.loads(step_agg.read_bytes())["members"]}
    assert expected <= seen, f"reports not linked: {sorted(map(str, expected - seen))}"
    assert len(seen) >= 1 + len(agg["members"])

    # every clip a report links plays in the browser (metadata loads, right size)
    scenes = orjson.loads((demo_out / "step1-scenes/shards/demo01/scenes.json").read_bytes())
    assert len(clips) >= len(scenes["scenes"]) > 0
    browser.get(start.as_uri())
    browser.set_script_timeout(20)
    for clip in sorted(clips):
        got = browser.execute_async_script(PROBE_VIDEO, clip.as_uri())
        assert got.get("ready", 0) >= 1 and got.get("w", 0) > 0 and got.get("d", 0) > 0, f"{clip}: {got}"


# What a page must hold for a person at 1280 px: its measures and the images it shows (issue 38 item 7).
LAYOUT = """
const root = document.documentElement;
return {scroll: root.scrollWidth, client: root.clientWidth, height: root.scrollHeight,
        widest: Math.max(...Array.from(document.body.querySelectorAll('*')).map(e => e.getBoundingClientRect().right)),
        headings: Array.from(document.querySelectorAll('h2, h3')).map(h => h.textContent.trim())};
"""


def artefacts_dir(tmp_path: Path) -> Path:
    """Where the browser tests keep their screenshots: $REELSET_ARTEFACTS/screenshots (CI uploads
    that folder), else the test's tmp_path; printed, so a run names it."""
    import os

    root = Path(os.environ["REELSET_ARTEFACTS"]) if os.environ.get("REELSET_ARTEFACTS") else tmp_path
    folder = root / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


def look_at(browser, page: Path, shot: Path, width: int = 1280) -> tuple[dict, dict, list[str]]:
    """Open ``page`` in a ``width`` px wide window, wait for its images, take a full-page screenshot
    to ``shot``: (page state, layout, console errors)."""
    browser.set_window_size(width, 900)
    browser.get_log("browser")
    browser.get(page.as_uri())
    state = wait_for_page(browser)
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    layout = browser.execute_script(LAYOUT)
    browser.set_window_size(width, min(int(layout["height"]) + 200, 12000))
    browser.save_screenshot(str(shot))
    return state, layout, errors


def test_the_overview_and_a_package_page_as_a_person_sees_them(browser, demo_out, tmp_path):
    """Issue 38 item 7: the overview (result/index.html of `all`) and the LTX-2 package page at
    1280 px: every image loads, nothing runs off the right edge, no console error; the pages show
    the charts, the contact sheet, the written sizes and the dataset card. Screenshots are kept
    (:func:`artefacts_dir`)."""
    shots = artefacts_dir(tmp_path)
    m = orjson.loads((demo_out / "step3-ltx2-data/manifest.json").read_bytes())
    kept = [c for c in m["clips"] if c["fate"] == "kept"]
    for page, name in ((demo_out / "index.html", "overview.png"), (demo_out / "step3-ltx2-data/index.html", "package-ltx2.png")):
        state, layout, errors = look_at(browser, page, shots / name)
        assert not errors, errors
        assert state["images"] and all(i["w"] > 0 for i in state["images"]), [i["src"] for i in state["images"] if not i["w"]]
        assert layout["client"] >= 1200 and layout["scroll"] <= layout["client"], layout  # no sideways scrolling
        assert layout["widest"] <= layout["client"] + 1, layout
        assert (shots / name).stat().st_size > 10_000
        srcs = [i["src"] for i in state["images"]]
        # every kept item's preview is on both pages (the overview's contact sheet holds up to 48)
        assert all(any(s.endswith(f"previews/{c['item_id']}.jpg") for s in srcs) for c in kept), srcs
        if name == "overview.png":
            assert any(s.endswith("step3-ltx2-data-overview.png") for s in srcs)  # the chart
            assert any(h.startswith("Left out") for h in layout["headings"]), layout["headings"]
        else:
            assert "Written sizes" in layout["headings"]
    html = (demo_out / "step3-ltx2-data/index.html").read_text()
    assert "448x256" in html and "960x544x97" in html and 'href="README.md"' in html
