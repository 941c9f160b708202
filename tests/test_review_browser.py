"""The review round trip in headless Chromium (Selenium, as tests/test_reports_browser.py):
serve the demo's Nix-built captions with tools/review.py for a copy of the demo dataset, edit
one caption and reject one clip with the keyboard, reload → both persisted in review.json;
then step2-reviewed built through Nix for that dataset reflects both decisions, and a
malformed review.json fails the build naming the entry."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402, I001
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from conftest import DEMO_DIR, PYTHON, REPO, nix
from reelset.captiontext import caption_sha256
from reelset.schemas.reviewed import ReviewedArtifact
from step2_reviewed import shards
from test_nix import pipeline_expr
from test_reports_browser import browser  # noqa: F401 (fixture)

pytestmark = pytest.mark.nix
EDIT = "rsdemo, Archer as a colour test card with a moving gradient and a frame counter; static camera."
REASON = "static colour bars"


def build(expr: str) -> subprocess.CompletedProcess:
    return nix("build", "--impure", "--no-link", "--json", "--expr", expr)


def wait_text(driver, element_id: str, prefix: str, seconds: float = 10.0) -> str:
    deadline = time.monotonic() + seconds
    while True:
        text = driver.find_element(By.ID, element_id).text
        if text.startswith(prefix) or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_review_round_trip_in_the_browser_then_through_nix(browser, tmp_path):  # noqa: F811
    proc = nix("build", "--impure", "--no-link", "--json", ".#host.step2-caption")
    assert proc.returncode == 0, proc.stderr
    captions = orjson.loads(proc.stdout)[0]["outputs"]["out"]
    model = {c["clip_id"]: c["caption"] for c in orjson.loads(
        (shards(Path(captions))["demo01"] / "captions.json").read_bytes())["clips"]}
    ds = tmp_path / "demo"
    ds.mkdir()
    for f in ("dataset.toml", "bible.yaml", "demo.mp4"):
        shutil.copy(DEMO_DIR / f, ds / f)
    server = subprocess.Popen([PYTHON, str(REPO / "tools/review.py"), "serve", captions, "--dataset", str(ds), "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert m, (line, server.stderr.read() if server.poll() is not None else "")
        page = m.group(0) + "video/demo01"
        browser.get(page)
        assert len(browser.find_elements(By.CSS_SELECTOR, ".clip video")) == 4
        state = browser.execute_script("return Array.from(document.querySelectorAll('video')).map(v => v.readyState)")
        # the tiny model's caption is one nonsense word: flagged
        assert "caption too short" in browser.find_element(By.ID, "flags-demo01-s0001").text
        # edit clip 1: e focuses its caption, Ctrl+Enter saves
        ActionChains(browser).send_keys("e").perform()
        area = browser.find_element(By.ID, "caption-demo01-s0001")
        area.clear()
        area.send_keys(EDIT)
        area.send_keys(Keys.CONTROL, Keys.ENTER)
        assert wait_text(browser, "status-demo01-s0001", "edited") == "edited: kept with your caption"
        # reject clip 2: j selects it, r focuses the reason, Enter rejects
        ActionChains(browser).send_keys("j").send_keys("r").perform()
        browser.switch_to.active_element.send_keys(REASON, Keys.ENTER)
        assert wait_text(browser, "status-demo01-s0002", "rejected") == f"rejected: {REASON} (left out of the training set)"
        browser.refresh()
        assert browser.find_element(By.ID, "caption-demo01-s0001").get_attribute("value") == EDIT
        assert browser.find_element(By.ID, "status-demo01-s0001").text == "edited: kept with your caption"
        assert browser.find_element(By.ID, "status-demo01-s0002").text == f"rejected: {REASON} (left out of the training set)"
        assert browser.find_element(By.ID, "status-demo01-s0003").text.startswith("not reviewed: will be left out by QA (caption too short")
        assert "caption too short" not in browser.find_element(By.ID, "flags-demo01-s0001").text
        # issue 38 (6): keys act on the card in view, not on the card clicked last; nothing scrolls sideways
        browser.find_element(By.ID, "clip-demo01-s0001").click()
        browser.execute_script("document.getElementById('clip-demo01-s0004').scrollIntoView({block: 'start'})")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "sel" not in browser.find_element(By.ID, "clip-demo01-s0004").get_attribute("class"):
            time.sleep(0.1)
        ActionChains(browser).send_keys("a").perform()
        assert wait_text(browser, "status-demo01-s0004", "accepted").startswith("accepted")
        assert browser.find_element(By.ID, "status-demo01-s0001").text == "edited: kept with your caption"
        ActionChains(browser).send_keys("u").perform()  # undo: s0004 back to not reviewed
        assert wait_text(browser, "status-demo01-s0004", "not reviewed").startswith("not reviewed")
        assert browser.execute_script("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        # the clips play: metadata of every <video> loads from the server
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and min(state) < 1:
            time.sleep(0.2)
            state = browser.execute_script("return Array.from(document.querySelectorAll('video')).map(v => v.readyState)")
        assert min(state) >= 1, state
    finally:
        server.terminate()
        server.wait(timeout=10)
    decisions = orjson.loads((ds / "review.json").read_bytes())["decisions"]
    assert decisions["demo01-s0001"]["action"] == "edit" and decisions["demo01-s0001"]["caption"] == EDIT
    assert decisions["demo01-s0002"] == {**decisions["demo01-s0002"], "action": "reject", "reason": REASON,
                                         "caption_sha256": caption_sha256(model["demo01-s0002"])}

    proc = build(pipeline_expr(ds, "step2-reviewed"))
    assert proc.returncode == 0, proc.stderr
    out = orjson.loads(proc.stdout)[0]["outputs"]["out"]
    rv = ReviewedArtifact.model_validate(orjson.loads((REPO / out / "reviewed.json").read_bytes()))
    assert [(c.clip_id, c.caption, c.caption_source) for c in rv.accepted] == [
        ("demo01-s0001", EDIT.removeprefix("rsdemo, "), "edited")]
    rejected = {r.clip_id: r.reasons for r in rv.rejected}
    assert rejected["demo01-s0002"] == [f"rejected in review: {REASON}"]
    assert any(r.startswith("not reviewed; automatic QA: caption too short") for r in rejected["demo01-s0003"])
    assert not rv.stale_decisions

    bad = {**decisions, "demo01-s0003": {"caption_sha256": caption_sha256(""), "action": "approve"}}
    (ds / "review.json").write_bytes(orjson.dumps({"schema_version": 1, "decisions": bad}))
    proc = build(pipeline_expr(ds, "step2-reviewed"))
    assert proc.returncode != 0
    assert "review.json: malformed review file: decisions['demo01-s0003'].action: Input should be" in proc.stderr, proc.stderr
