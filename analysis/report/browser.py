"""Open report pages in headless Chromium with the network off (the report's render checks).

Playwright (pip ``playwright``) drives Debian's ``chromium`` through its executable path,
so no browser is downloaded. Every request that is not ``file://``, ``data:`` or
``blob:`` (or, for a JupyterLab check, the local server) is aborted and recorded as a
failed request; the browser also maps every host name to nothing
(``--host-resolver-rules``), so a page cannot reach the internet even past the router.
WebGL runs on SwiftShader (CPU), so NiiVue's canvas renders on a machine without a GPU.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.fsutil import atomic_write_bytes

CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
)


def chromium_path() -> str | None:
    """Debian's chromium, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageLog:
    """What a page did: requests that failed or were blocked, console errors."""

    failed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _allowed(url: str, local_prefix: str | None) -> bool:
    if url.startswith(("file://", "data:", "blob:", "about:")):
        return True
    return local_prefix is not None and url.startswith(local_prefix)


@contextmanager
def offline_page(*, width: int = 1280, height: int = 900,
                 local_prefix: str | None = None) -> Iterator[tuple[object, PageLog]]:
    """A Playwright page in headless Chromium with the network off; yields (page, log).

    Parameters
    ----------
    width, height : int
        Viewport in CSS pixels.
    local_prefix : str, optional
        URL prefix also allowed (e.g. ``http://127.0.0.1:8899/`` of a local JupyterLab).
    """
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (tools/ensure_chromium.sh)")
    log = PageLog()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True,
                                     args=list(CHROMIUM_ARGS))
        try:
            ctx = browser.new_context(viewport={"width": width, "height": height})

            def route(r):
                if _allowed(r.request.url, local_prefix):
                    r.continue_()
                else:
                    log.blocked.append(r.request.url)
                    r.abort()

            ctx.route("**/*", route)
            page = ctx.new_page()
            page.on("requestfailed", lambda req: log.failed.append(req.url))
            page.on("console", lambda m: log.errors.append(m.text) if m.type == "error"
                    else None)
            page.on("pageerror", lambda e: log.errors.append(str(e)))
            yield page, log
        finally:
            browser.close()


def blank_score(png: bytes | Path) -> float:
    """Standard deviation of the grey levels of a screenshot (0 for a blank image)."""
    import io

    from PIL import Image

    data = png.read_bytes() if isinstance(png, Path) else png
    return float(np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=float).std())


def wait_for(page, condition_js: str, timeout_s: float = 30.0,
             on_timeout: Callable[[], str] | None = None) -> None:
    """Wait until ``condition_js`` is truthy in the page, else raise naming it."""
    try:
        page.wait_for_function(condition_js, timeout=timeout_s * 1000)
    except Exception as err:  # noqa: BLE001 - Playwright's TimeoutError, re-raised named
        extra = on_timeout() if on_timeout else ""
        raise TimeoutError(f"{condition_js!r} not true after {timeout_s} s {extra}") from err


def print_pdf(html_file: Path, pdf_file: Path) -> Path | None:
    """Chromium's print-to-PDF of a page opened from ``file://`` with the network off (A4,
    the page's print stylesheet, backgrounds kept); None when Chromium is missing."""
    if chromium_path() is None:
        return None
    with offline_page(width=1400, height=1000) as (page, _):
        page.goto(Path(html_file).resolve().as_uri())
        page.wait_for_load_state("load")
        pdf = page.pdf(format="A4", print_background=True,
                       margin={"top": "12mm", "bottom": "12mm", "left": "10mm",
                               "right": "10mm"})
    return atomic_write_bytes(pdf_file, pdf)
