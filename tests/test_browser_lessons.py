"""Each shipped lesson's link in Chromium, on a projector and a phone: it opens on its first
step, the sidebar lists its steps (and no other page), each step shows its question and
only its controls, "Next" walks through the steps, every page reads whole, and a reload
keeps the lesson; and the Start page's lesson cards and "Make a lesson" panel. Screenshots
go to the test's tmp dir (printed), one per step and size."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from browser_helpers import (
    CUT_TEXTS,
    PAGE_HEADING,
    SIZES,
    open_page,
    page_in,
    scroll_through,
    shot,
    url_param,
    wait_idle,
    wait_until,
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


def check_step(page, lesson, n: int, size: str, tmp_path, suffix: str = "") -> None:
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
    shot(page, tmp_path, f"{size}-{LESSONS.index(lesson) + 1}-{n + 1}-{step.page}{suffix}")
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
        check_step(page, lesson, len(lesson.steps) - 1, size, tmp_path, "-reloaded")
    finally:
        context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_the_start_pages_lessons_and_the_lesson_maker_read_whole(browser, app_url, tmp_path,
                                                                  size):
    """The three cards link to the three lessons; a teacher fills the maker and gets a link
    that opens the lesson made."""
    context, page = page_in(browser, size)
    try:
        open_page(page, app_url)
        opens = page.get_by_role("link", name="Open the lesson")
        wait_until(opens.count, lambda n: n == len(LESSONS))  # the cards draw after the title
        codes = [parse_qs(urlsplit(opens.nth(i).get_attribute("href")).query)["lesson"][0]
                 for i in range(opens.count())]
        assert codes == [format_lesson(lesson) for lesson in LESSONS]
        page.get_by_text("For teachers: make a lesson").click()
        page.get_by_label("Title").fill("Pooling")
        page.get_by_label("Title").press("Enter")
        wait_idle(page)
        choose_many(page, "Pages, in the order the class takes them", ["Explain a step"])
        question = page.get_by_label("Question on Explain a step")
        question.fill("What does max pooling keep?")
        question.press("Control+Enter")  # a text area sends its value on Ctrl+Enter or blur
        wait_idle(page)
        made = page.get_by_role("link", name="Try it")
        made.wait_for()
        link = made.get_attribute("href")
        scroll_through(page)
        shot(page, tmp_path, f"{size}-start")
        cut = page.evaluate(CUT_TEXTS, size == "projector")
        assert not cut, cut
        page.goto(link)
        page.get_by_text("What does max pooling keep?").wait_for(timeout=90_000)
        assert page.evaluate("() => location.pathname").endswith("/explain")
    finally:
        context.close()


def choose_many(page, label: str, options: list[str]) -> None:
    """Pick ``options`` in the Streamlit multiselect labelled ``label``."""
    for option in options:
        page.get_by_role("combobox", name=label).click()
        page.get_by_role("option", name=option, exact=True).click()
        wait_idle(page)
    page.keyboard.press("Escape")
