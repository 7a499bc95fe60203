"""Small helpers for driving the app in Playwright."""

from __future__ import annotations

from pathlib import Path


def open_page(page, app_url: str, path: str = "") -> None:
    """Open a page of the app and wait until its title is shown and the script is idle."""
    page.goto(f"{app_url}/{path}")
    page.wait_for_selector("[data-testid='stMainBlockContainer'] h1", timeout=90_000)
    wait_idle(page)


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit is not running the script (its status widget is gone)."""
    page.wait_for_timeout(400)
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid='stStatusWidget']\")",
        timeout=timeout_ms)


def screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
