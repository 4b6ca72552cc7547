"""The HTML report in a real browser: it loads, shows the verdict, and no injected markup runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from qa.reports import html
from tests.reports.conftest import HOSTILE, IMG, every_status_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def dump_dom(browser: str, page: Path, profile: Path) -> str:
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={profile}",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.skip(f"{browser} did not finish within 60 s")
    if proc.returncode != 0 or "<html" not in proc.stdout:
        pytest.fail(f"{browser} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


@pytest.mark.browser
def test_report_renders_in_headless_chromium_and_no_injected_markup_runs(tmp_path: Path):
    browser = find_browser()
    if browser is None:
        pytest.skip(f"no chromium on PATH: looked for {', '.join(BROWSERS)}")
    report = every_status_report()  # a column named HOSTILE, a message containing IMG
    text = html.render(report)
    assert "<script" not in text  # nothing in the page can run, whatever the data says
    page = tmp_path / "report.html"
    page.write_text(text, encoding="utf-8")
    dom = dump_dom(browser, page, tmp_path / "profile")

    assert 'id="verdict"' in dom and 'data-status="error"' in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # shown as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert HOSTILE not in dom and IMG not in dom
    lowered = dom.lower()
    assert "<script" not in lowered  # no element was injected by the data
    assert '<img src="x"' not in lowered and "<img" not in lowered
    assert 'onerror="' not in lowered
    assert "<svg" in lowered  # the charts made it into the DOM
