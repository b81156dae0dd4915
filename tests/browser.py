"""Browser tests: Playwright for Python driving Debian's Chromium, one browser per session.

Playwright's sync API runs in one thread of its own (it may not run inside the test's
event loop, and its objects belong to the thread that made them), so the bot and the
console keep serving on the test's loop while the browser works: ``await
browser.run(fn, *args)`` runs ``fn`` in the browser's thread. ``browser.new_page()``
gives a page in a fresh context (its own cookies).

``axe_check(page)`` runs axe-core in the page (evaluated through the DevTools protocol,
so the console's CSP stays in force) and returns the serious and critical violations.
axe-core comes from the npm registry, installed on first use into ``tests/.axe``
(git-ignored) with ``npm install --prefix``. ``screenshot(page, name)`` saves into
``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
AXE_DIR = ROOT / ".axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "artifacts"


def why_no_browser() -> str | None:
    if not CHROMIUM.exists():
        return "Debian's chromium is not installed (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


def axe_source() -> str:
    if not AXE_JS.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("axe-core is needed for the accessibility pass and npm is missing")
        subprocess.run([npm, "install", "--prefix", str(AXE_DIR), "axe-core@4", "--no-audit",
                        "--no-fund", "--loglevel=error"], check=True, timeout=300)
    return AXE_JS.read_text(encoding="utf-8")


class Browser:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="browser")
        self._pw = self._browser = None
        self._axe = ""

    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=str(CHROMIUM),
                                                 args=["--no-sandbox"])
        self._axe = axe_source()

    def start(self) -> None:
        self._pool.submit(self._start).result()

    def close(self) -> None:
        def stop() -> None:
            if self._browser is not None:
                self._browser.close()
            if self._pw is not None:
                self._pw.stop()
        self._pool.submit(stop).result()
        self._pool.shutdown()

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def new_page(self, **options):
        def make():
            context = self._browser.new_context(viewport={"width": 1200, "height": 900},
                                                **options)
            context.set_default_timeout(10_000)
            return context.new_page()
        return await self.run(make)

    def axe_check(self, page) -> list[dict]:
        """Serious and critical axe-core violations on the page (call in the browser thread)."""
        page.evaluate(self._axe + "\n;undefined")
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                 "nodes": [n["target"] for n in v["nodes"]]}
                for v in result["violations"] if v["impact"] in ("serious", "critical")]


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
