"""The app's pages through Playwright's async API, for benchmarks that drive many tabs from one
event loop (dae_harness.browser has the same actions for the sync API): open a page, go to one by
the sidebar menu, move a latent slider, read a tab's progress line, or what it shows.
"""
import time

from dae_harness.browser import ERROR_BOXES, IDLE, LAST, PAGES, PREVIEW_CHANGED


async def a_wait_idle(page, timeout: float) -> None:
    await page.wait_for_selector(IDLE, timeout=timeout)


async def a_open(page, url: str, name: str, timeout: float = 120_000) -> None:
    await page.goto(f"{url}/{PAGES[name]}")
    await page.get_by_text(LAST[name], exact=True).first.wait_for(timeout=timeout)
    await a_wait_idle(page, timeout)


async def a_navigate(page, name: str, timeout: float) -> float:
    """Sidebar menu -> `name`: seconds from the click until the page's last element shows."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    t = time.perf_counter()
    await (links.first if name == "home" else links.filter(has_text=name).first).click()
    await page.get_by_text(LAST[name], exact=True).first.wait_for(timeout=timeout)
    seconds = time.perf_counter() - t
    await a_wait_idle(page, timeout)
    return seconds


async def a_move_slider(page, key: str, timeout: float) -> float:
    """browser.move_slider for the async API: a key on latent slider z0 -> seconds to the new preview."""
    preview = page.locator('[data-testid="stImage"]', has_text="z = (").locator("img")
    before = await preview.get_attribute("src", timeout=timeout)
    t = time.perf_counter()
    await page.locator('[data-testid="stSlider"] input[type="range"][aria-label="z0"]').press(key)
    await page.wait_for_function(PREVIEW_CHANGED, arg=before, timeout=timeout)
    seconds = time.perf_counter() - t
    await a_wait_idle(page, timeout)
    return seconds


async def a_progress(page) -> str:
    return (await page.locator('[data-testid="stProgress"]').first.inner_text()).strip()


async def states(pages) -> list[str]:
    """What each page shows: its progress line, else its error boxes, else the start of its text."""
    out = []
    for page in pages:
        progress = page.locator('[data-testid="stProgress"]')
        errors = await page.locator(ERROR_BOXES).all_inner_texts()
        main = page.locator('[data-testid="stMain"]')
        line = await progress.first.inner_text() if await progress.count() else ""
        out.append(" | ".join([line, *errors]) if line or errors else (await main.inner_text())[:300])
    return out
