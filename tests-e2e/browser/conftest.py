"""A real browser (Debian's Chromium, driven by Playwright) walking the web app.

Every page a journey passes is saved as a screenshot under ``.run/browser/<test>/``,
checked with axe-core (no serious or critical violation) and for its
Content-Security-Policy. Playwright's own browser download does not work offline,
so ``make test-e2e`` installs Debian's ``chromium`` when it is missing.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, Response, async_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".run" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
_axe = Axe()


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: make test-e2e installs it (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@dataclass
class Visitor:
    """One person's browser tab, with a record of every page it passed."""

    page: Page
    base_url: str
    folder: Path
    phone: bool = False
    shots: list[str] = field(default_factory=list)
    last: Response | None = None

    async def open(self, path: str) -> Response | None:
        self.last = await self.page.goto(self.base_url + path)
        return self.last

    async def submit(self, button: str) -> None:
        """Click a button and wait for the page the form leads to."""
        async with self.page.expect_navigation() as navigation:
            await self.page.get_by_role("button", name=button, exact=True).click()
        self.last = await navigation.value

    async def click_link(self, name: str) -> None:
        """Follow a link of the page's content, or else of the navigation."""
        link = self.page.locator("main").get_by_role("link", name=name, exact=True)
        if await link.count() == 0:
            link = self.page.get_by_role("link", name=name, exact=True)
        async with self.page.expect_navigation() as navigation:
            await link.first.click()
        self.last = await navigation.value

    async def fill(self, label: str, value: str) -> None:
        await self.page.get_by_label(label, exact=True).fill(value)

    async def look(self, name: str) -> None:
        """Screenshot this page, and check it is accessible and under our CSP."""
        index = len(self.shots) + 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = self.folder / f"{index:02d}-{slug}{'-phone' if self.phone else ''}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path.name)
        assert self.last is not None, "look at a page after opening one"
        csp = await self.last.header_value("content-security-policy")
        assert csp is not None and "frame-ancestors 'none'" in csp, self.page.url
        assert "unsafe-inline" not in csp
        results = await _axe.run(self.page)
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not serious, f"{self.page.url}: {serious}"

    async def text(self) -> str:
        return await self.page.inner_text("main")


@pytest.fixture
async def visit(
    browser: Browser, stack: Any, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[..., Any]]:
    """``await visit()`` opens a fresh browser (its own cookies); ``phone=True`` for a phone."""
    contexts = []
    base = ARTIFACTS / request.node.name

    async def open_browser(phone: bool = False, name: str = "") -> Visitor:
        context = await browser.new_context(
            viewport=PHONE if phone else DESKTOP, timezone_id="Europe/Paris"
        )
        contexts.append(context)
        folder = base / (name or f"browser-{len(contexts)}")
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()
        return Visitor(await context.new_page(), stack.url("gateway"), folder, phone)

    yield open_browser
    for context in contexts:
        await context.close()


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """The value of ``check()`` once it stops raising AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
