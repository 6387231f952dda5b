"""Open a report in Debian's headless Chromium (through Playwright, no browser download), wait until every
chart has drawn, take a full-page screenshot and return what went wrong: console errors, page errors and any
network request (a self-contained report makes none)."""

from __future__ import annotations

import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach Google's services, which this
# project's machines cannot reach, and hangs on those connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1360, "height": 900}
# True once every chart the page declares (body data-chart-count) exists and has drawn its SVG.
CHARTS_DRAWN = """() => {
  const expected = Number(document.body.dataset.chartCount || 0);
  const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
  return plots.length === expected && plots.every(p => p.querySelector('svg.main-svg'));
}"""


def render(html_path: Path | str, screenshot_path: Path | str, timeout_seconds: float = 60.0,
           executable: Path | str = CHROMIUM) -> list[str]:
    """Errors seen while opening ``html_path``; the full page is saved to ``screenshot_path`` (PNG) either way."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    html_path = Path(html_path).resolve()
    page_url = html_path.as_uri()
    errors: list[str] = []

    def on_request(route) -> None:
        url = route.request.url
        if url == page_url or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            errors.append(f"network request: {route.request.method} {url}")
            route.abort()

    with tempfile.TemporaryDirectory(prefix="cdp-report-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(executable), headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT,
            offline=True,
        )
        try:
            page = context.new_page()
            page.on("console", lambda message: message.type == "error" and errors.append(
                f"console error: {message.text}"))
            page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
            page.route("**/*", on_request)
            page.goto(page_url, wait_until="load", timeout=timeout_seconds * 1000)
            try:
                page.wait_for_function(CHARTS_DRAWN, timeout=timeout_seconds * 1000)
            except PlaywrightError:
                drawn = page.evaluate("document.querySelectorAll('.js-plotly-plot svg.main-svg').length")
                expected = page.evaluate("document.body.dataset.chartCount")
                errors.append(f"charts not drawn within {timeout_seconds:.0f}s: {drawn} of {expected}")
            page.screenshot(path=str(screenshot_path), full_page=True)
        finally:
            context.close()
    return errors
