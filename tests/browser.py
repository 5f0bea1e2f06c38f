"""Serving the real app and driving it with headless Chromium (Debian's, via playwright)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
SHOTS = ROOT / "tests" / "artifacts"
# Chromium's built-in test camera (a moving pattern), granted without a permission prompt
FAKE_CAMERA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(data_dir: Path, env: dict | None = None):
    """``streamlit run app.py`` on a free local port with its own run store; yields the URL.
    ``env``: more environment for the server (it inherits this process's)."""
    port = free_port()
    env = {**os.environ, "TLAB_DATA_DIR": str(data_dir), "TLAB_WARMUP": "1", **(env or {})}
    log = open(data_dir.parent / "streamlit.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("streamlit did not start: " + (data_dir.parent / "streamlit.log").read_text()[-3000:])
        try:
            yield url
        except BaseException:  # pytest shows what a failed test printed: the server's side
            log.flush()
            print("--- streamlit.log (last 4000 characters) ---\n"
                  + (data_dir.parent / "streamlit.log").read_text(errors="replace")[-4000:])
            raise
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
        for pidfile in data_dir.glob("worker*.pid"):  # the background workers the app started
            try:
                os.kill(int(pidfile.read_text()), signal.SIGTERM)
            except (OSError, ValueError):
                pass


@contextmanager
def browser_pages(n: int = 1, width: int = 1366, height: int = 900, extra_args: tuple[str, ...] = ()):
    """``n`` pages in separate browser contexts: separate Streamlit sessions, like two tabs
    of two different students. ``extra_args``: more Chromium flags (e.g. ``FAKE_CAMERA``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + list(extra_args),
                                    headless=True)
        pages = [browser.new_context(viewport={"width": width, "height": height}).new_page() for _ in range(n)]
        try:
            yield pages
        finally:
            browser.close()


@contextmanager
def browser_page(width: int = 1366, height: int = 900, extra_args: tuple[str, ...] = ()):
    with browser_pages(1, width, height, extra_args) as pages:
        yield pages[0]


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished the current script run (no 'Running...' widget)."""
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)
    page.wait_for_timeout(300)


def shot(page, name: str) -> Path:
    """Screenshot of the whole page: Streamlit scrolls inside its main container, so the
    viewport is stretched to the content's height for the shot, then restored."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    size = page.viewport_size
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], "
        "[data-testid=\"stSidebarContent\"]')].map(e => e.scrollHeight), window.innerHeight)")
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 6000)})
    page.wait_for_timeout(700)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path
