"""The HTML report as a committee opens it: Debian's Chromium, headless, draws every plot, and
the page loads nothing from elsewhere."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import matplotlib.image
import pytest

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
MISSING = "Chromium and its driver are needed: apt-get install chromium chromium-driver " \
          "(scripts/test.d/50-chromium.sh installs them)"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (CHROMIUM and DRIVER):
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--window-size=1200,900", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _drawn_share(png: bytes) -> float:
    """The share of the image's pixels that are not the white page."""
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")[:, :, :3]
    return float((pixels < 0.95).any(axis=2).mean())


def test_every_plot_of_the_report_renders_in_chromium(browser: object,
                                                      patient_view_run: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get((patient_view_run / "report.html").as_uri())  # type: ignore[attr-defined]
    assert browser.title == "Population dry-run: stress-pain 2.0.0"  # type: ignore[attr-defined]
    figures = browser.find_elements(By.CSS_SELECTOR, "figure.plot")  # type: ignore[attr-defined]
    ids = sorted(f.get_attribute("id") for f in figures)
    assert ids == ["plot-opening-patient-view", "plot-overlaps-patient-view",
                   "plot-rules-patient-view"]
    for figure in figures:
        svg = figure.find_element(By.TAG_NAME, "svg")
        browser.execute_script("arguments[0].scrollIntoView();", svg)  # type: ignore[attr-defined]
        assert svg.size["width"] > 300 and svg.size["height"] > 100, figure.get_attribute("id")
        assert _drawn_share(svg.screenshot_as_png) > 0.03, figure.get_attribute("id")
    loaded = browser.execute_script(  # type: ignore[attr-defined]
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded == []  # inline CSS and SVG only: nothing fetched, offline or not


def test_the_report_states_what_ran_and_keeps_patient_ids_out(patient_view_run: Path) -> None:
    html = (patient_view_run / "report.html").read_text()
    for fact in ("stress-pain 2.0.0", "2026-11-20T09:00:00+00:00", "patient-view: 11",
                 "2 local worker process(es)", "How this was measured"):
        assert fact in html, fact
    assert "complex-patient" not in html and "r05-low-activity" not in html
