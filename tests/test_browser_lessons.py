"""Each shipped lesson's link in Chromium, on a projector and a phone: it opens on its first
step, the sidebar lists its steps (and no other page), each step shows its question and
only its controls, "Next" walks through the steps, every page reads whole, and a reload
keeps the lesson. Screenshots go to the test's tmp dir (printed), one per step and size."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from browser_helpers import (
    CUT_TEXTS,
    PAGE_HEADING,
    SIZES,
    page_in,
    scroll_through,
    shot,
    url_param,
    wait_idle,
)

from cnn_core.teaching.lessons import STEP_PAGES, format_lesson
from cnn_core.teaching.shipped_lessons import FIRST_LAYER, LESSONS, OUR_HANDWRITING, SHAPES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PREDICT = "Predict first"
TEACHER = "Teacher: every training on this server"
# Per lesson and page: a label that shows once the page is drawn (waited for), and labels
# of controls the lesson hides.
CONTROLS = {
    (SHAPES.title, "architecture"): ("Layer to edit", {PREDICT, "Start from",
                                                       "Copy a link to this design"}),
    (SHAPES.title, "explain"): ("Then ReLU, then pooling", {PREDICT}),
    (FIRST_LAYER.title, "train"): ("Epochs", {PREDICT, "Dataset", "Augment the digits",
                                              TEACHER}),
    (FIRST_LAYER.title, "draw"): ("Pen width", {PREDICT, "Add to the class set"}),
    (FIRST_LAYER.title, "explain"): ("Output position", {PREDICT, "Then ReLU, then pooling"}),
    (OUR_HANDWRITING.title, "draw"): ("Add to the class set", {PREDICT}),
    (OUR_HANDWRITING.title, "class_data"): ("Class data", {PREDICT}),
    (OUR_HANDWRITING.title, "train"): ("Augment the digits", {PREDICT, TEACHER}),
}
STEP_BOX = ".st-key-lesson_step"
MENU_LINKS = """() => [...document.querySelectorAll(".st-key-lesson_menu a")]
  .map(a => a.textContent.trim())"""
NAV_MENU = "[data-testid='stSidebarNav']"  # the navigation's own menu, every page


def check_step(page, lesson, n: int, size: str, tmp_path) -> None:
    step = lesson.steps[n]
    shown, hidden = CONTROLS[lesson.title, step.page]
    page.get_by_text(shown, exact=True).filter(visible=True).first.wait_for(timeout=90_000)
    wait_idle(page)
    assert page.evaluate("() => location.pathname").rstrip("/").endswith(step.page)
    box = page.locator(STEP_BOX)
    assert step.question in box.inner_text()
    assert f"step {n + 1} of {len(lesson.steps)}" in box.inner_text()
    menu = page.evaluate(MENU_LINKS)  # each starts with its icon's ligature name
    steps = [f"Step {i} · {STEP_PAGES[s.page]}" for i, s in enumerate(lesson.steps, 1)]
    assert len(menu) == len(steps) and all(m.endswith(s) for m, s in zip(menu, steps)), menu
    assert page.locator(NAV_MENU).count() == 0
    for label in hidden:
        assert page.get_by_text(label, exact=True).count() == 0, (step.page, label)
    assert url_param(page, "lesson") is not None and url_param(page, "predict") == "1"
    scroll_through(page)
    shot(page, tmp_path, f"{size}-{LESSONS.index(lesson) + 1}-{n + 1}-{step.page}")
    cut = page.evaluate(CUT_TEXTS, size == "projector")
    assert not cut, (step.page, cut)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.title.split()[0])
def test_a_lesson_link_opens_its_steps_and_reads_whole(browser, app_url, tmp_path, lesson,
                                                        size):
    context, page = page_in(browser, size)
    try:
        page.goto(f"{app_url}/?{urlencode({'lesson': format_lesson(lesson)})}")
        page.wait_for_selector(PAGE_HEADING, timeout=90_000)
        for n in range(len(lesson.steps)):
            if n:
                following = lesson.steps[n].page
                page.locator(STEP_BOX).get_by_role(
                    "link", name=f"Next: step {n + 1} · {STEP_PAGES[following]}").click()
                page.wait_for_function(
                    f"() => location.pathname.endsWith('/{following}')", timeout=60_000)
            check_step(page, lesson, n, size, tmp_path)
        page.reload()  # the link in the address bar carries the lesson and the step
        page.wait_for_selector(PAGE_HEADING, timeout=90_000)
        check_step(page, lesson, len(lesson.steps) - 1, size, tmp_path)
    finally:
        context.close()
