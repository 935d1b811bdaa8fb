"""Headless Chromium for the explorer's browser tests: Debian's ``/usr/bin/chromium``
driven by Playwright for Python (never a browser download).

Off unless ``VPP_BROWSER_TESTS`` is set: ``1`` runs them when Chromium and Playwright are
there (skips, saying what is missing, when not); ``required`` (CI) turns any such skip
into a failure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
HOW = ("set VPP_BROWSER_TESTS=1 to run the browser tests (they need Debian's Chromium: "
       "apt-get install chromium; and the Python package playwright, from the test extra; "
       "never `playwright install`)")


def browser_or_skip():
    """The Playwright module and a reason it cannot run (None when it can), or a skip."""
    mode = os.environ.get("VPP_BROWSER_TESTS", "")
    if mode not in ("1", "required"):
        pytest.skip(f"browser tests off: {HOW}")
    problem = None
    if not CHROMIUM.is_file():
        problem = f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = problem or "playwright is not installed (pip install -e '.[test]')"
        sync_playwright = None
    if problem:
        if mode == "required":
            pytest.fail(f"VPP_BROWSER_TESTS=required but {problem}")
        pytest.skip(problem)
    return sync_playwright


@dataclass
class Watched:
    """A page with what it did recorded: console errors, page errors, every request."""

    page: object
    allowed: tuple[str, ...]
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def attach(self, context) -> None:
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

        def route(r):
            url = r.request.url
            self.requests.append(url)
            if url.startswith(self.allowed):
                r.continue_()
            else:
                self.outside.append(url)
                r.abort()

        context.route("**/*", route)

    def goto(self, url: str, rendered: str) -> None:
        """Open ``url`` and wait until the page for route ``rendered`` is drawn."""
        self.page.goto(url)
        self.wait(rendered)

    def route(self, hash_route: str) -> None:
        """Go to another page of the app, as a link does."""
        self.page.evaluate("h => { location.hash = h; }", hash_route)
        self.wait(hash_route)

    def wait(self, hash_route: str, timeout_ms: float = 30_000) -> None:
        self.page.wait_for_selector(f'body[data-rendered="{hash_route}"]', state="attached",
                                    timeout=timeout_ms)

    def check(self) -> None:
        """No console error, no page error, no request that left 127.0.0.1."""
        assert self.errors == [], self.errors
        assert self.outside == [], f"requests that left 127.0.0.1: {self.outside}"
        assert all(u.startswith(self.allowed) for u in self.requests)
