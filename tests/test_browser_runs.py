"""Runs that last, in real Chromium: a reload keeps the trained model, and a shared design
link opens the same design in another browser."""

from __future__ import annotations

import pytest
from browser_helpers import open_page, screenshot, set_number, url_param, wait_idle, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_reload_keeps_the_run_and_a_link_shares_the_design(page, page_for, app_url,
                                                             tmp_path):
    open_page(page, app_url, "train")
    set_number(page, "Epochs", 1)
    # The server's earlier tests may still be ending their trainings: Train waits for them
    train = page.get_by_role("button", name="Train", exact=True)
    wait_until(train.is_enabled, bool, timeout_s=180)
    train.click()
    run_id = wait_until(lambda: url_param(page, "run"), lambda v: v is not None,
                        timeout_s=300)
    assert url_param(page, "design") is not None and url_param(page, "job") is None
    page.reload()
    page.wait_for_selector("[data-testid='stMainBlockContainer'] h1", timeout=90_000)
    wait_idle(page)
    page.get_by_role("link", name="3 · Draw & test").click()
    wait_idle(page)
    answering = page.get_by_text("Answering:")
    answering.wait_for(timeout=30_000)
    assert f"(run {run_id})" in answering.inner_text()
    print(screenshot(page, tmp_path, "draw-after-reload"))

    page.get_by_role("link", name="1 · Design").click()
    wait_idle(page)
    page.get_by_text("Copy a link to this design").click(timeout=60_000)
    link = page.locator("[data-testid='stCode'] code").first.inner_text().strip()
    assert link.startswith(app_url) and "run=" not in link and "job=" not in link
    other = page_for(app_url)  # a new browser context: another device
    other.goto(link)
    other.wait_for_selector("[data-testid='stMainBlockContainer'] h1", timeout=90_000)
    wait_idle(other)
    assert other.get_by_text("Design: Small fast net").count() == 1  # a preset: named so
    assert url_param(other, "design") == url_param(page, "design")
    print(screenshot(other, tmp_path, "shared-link"))
