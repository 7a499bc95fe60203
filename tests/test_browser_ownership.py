"""Ownership in real Chromium: the address a student's tab shows while it trains lets another
browser follow that training and nothing more; the student's own reload keeps every right."""

from __future__ import annotations

import re

import pytest
from browser_helpers import (
    PAGE_HEADING,
    live_chart_points,
    open_page,
    screenshot,
    set_number,
    url_param,
    wait_idle,
    wait_until,
)

from ui.ownership import OWNER_COOKIE

pytestmark = [pytest.mark.browser, pytest.mark.slow]
EPOCHS = 30  # long enough to be followed: the owner stops it after a few seconds
FOLLOWING = "You are following this training from a link"
OTHERS_RUN = "was started in another session: only the teacher key can delete it"


def owner_cookie(page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == OWNER_COOKIE),
                None)


def go(page, link: str) -> None:
    page.goto(link)
    page.wait_for_selector(PAGE_HEADING, timeout=90_000)


def runs_page(page) -> str:
    """Open the Runs page from the sidebar; the run its "One run" panel shows."""
    page.get_by_role("link", name="Runs").click()
    wait_idle(page)
    return page.locator(".st-key-runs_one").inner_text()


def button(page, key: str):
    """The button with this widget key (the one shown: Streamlit may keep a hidden copy)."""
    return page.locator(f".st-key-{key} button").filter(visible=True)


def press(page, key: str) -> None:
    button(page, key).click()
    wait_idle(page)


def test_a_copied_link_follows_a_training_but_owns_nothing(page_for, app_url, tmp_path):
    owner = page_for(app_url)
    open_page(owner, app_url, "train")
    set_number(owner, "Epochs", EPOCHS)
    owner.get_by_role("button", name="Train", exact=True).click()
    wait_until(lambda: url_param(owner, "job"), lambda v: v is not None, timeout_s=60)
    link = owner.evaluate("() => location.href")  # what a projector shows
    secret = wait_until(lambda: owner_cookie(owner), lambda v: v is not None)
    assert secret not in link

    stranger = page_for(app_url)  # another browser context: another student's laptop
    go(stranger, link)
    # it follows the training: its live chart gains points
    seen = wait_until(lambda: live_chart_points(stranger), bool, timeout_s=60)
    wait_until(lambda: live_chart_points(stranger), lambda n: n > seen, timeout_s=60)
    stranger.get_by_text(FOLLOWING).wait_for()
    assert stranger.get_by_role("button", name="Stop").is_disabled()
    assert owner_cookie(stranger) not in (None, secret)
    print(screenshot(stranger, tmp_path, "following"))

    owner.reload()  # the owner's own reload: same browser, same cookie
    owner.wait_for_selector(PAGE_HEADING, timeout=90_000)
    stop = owner.get_by_role("button", name="Stop")
    wait_until(stop.is_enabled, bool)
    assert owner.get_by_text(FOLLOWING).count() == 0

    def stopped() -> bool:  # a click that lands while the page redraws is lost: click again
        if url_param(owner, "job") is None:
            return True
        again = stop.first  # mid-redraw the page can hold the old Stop and the new one
        if again.is_enabled():
            again.click()
        return False

    wait_until(stopped, bool, timeout_s=60)

    # The stopped run is the newest: both Runs pages show it first.
    shown = runs_page(owner)
    assert runs_page(stranger) == shown
    assert button(stranger, "runs_pin").is_disabled()
    stranger.locator("[data-testid='stPopover'] button").first.click()
    popover = stranger.get_by_test_id("stPopoverBody")
    popover.get_by_label("Teacher key").wait_for()  # someone else's run: the key is asked
    press(stranger, "runs_delete")
    stranger.get_by_text(OTHERS_RUN).wait_for()
    print(screenshot(stranger, tmp_path, "refused"))

    assert button(owner, "runs_pin").is_enabled()
    press(owner, "runs_pin")
    button(owner, "runs_pin").filter(has_text="Unpin").wait_for()
    owner.locator("[data-testid='stPopover'] button").first.click()
    button(owner, "runs_delete").wait_for()
    assert owner.get_by_test_id("stPopoverBody").get_by_label("Teacher key").count() == 0
    press(owner, "runs_delete")
    owner.get_by_text(re.compile(r"^Deleted #\d+")).wait_for()
    print(screenshot(owner, tmp_path, "deleted-by-owner"))
