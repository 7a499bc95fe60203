"""A lesson as a short readable code, for links: its title, the design it starts from, its
steps (a page and the question asked there) and which of the optional controls show.

    t.Shapes~d.c8k5-relu-max2-flat-fc10~c.editor.pooling~s.architecture.What shape?~s.explain.Why?

Fields are joined by ``~``; each is a letter, a dot and its value:

=====  ==================================================================================
``t``  the title (text), once, required
``d``  the starting design as a design code (``design_code``), once, optional
``c``  the optional controls that show (``CONTROLS``), joined by ``.``; absent: all of
       them; empty (``c.``): none
``s``  a step: a page (``STEP_PAGES``), a dot, the question asked there (text); 1 to
       ``MAX_STEPS`` of them, each page once, in the order the lesson takes them
=====  ==================================================================================

Text writes a ``~`` as ``~~``. A field always starts with a letter, never with ``~``, so
reading is one pass from left to right that never goes back: at a ``~``, a second ``~``
makes a literal one, anything else ends the field. In a link (``urlencode``) ``~``, ``.``
and ``-`` stay as they are and spaces become ``+``, so the code stays readable.
Anything that is not a lesson raises ``LessonError`` with one line saying why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cnn_core.design.design_code import decode_design, encode_design
from cnn_core.design.parse import SpecFormatError
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec

MAX_LESSON_CHARS = 2000  # a link stays well under what browsers and chat apps keep
MAX_TITLE_CHARS = 80
MAX_QUESTION_CHARS = 300
MAX_STEPS = 6
SEPARATOR, KEY_MARK, LIST_MARK = "~", ".", "."

# The pages a lesson may take a student to (their url paths, as app.py names them), with
# their titles. The Start page and the teacher's board are never a student's step.
STEP_PAGES = {"architecture": "Design", "train": "Train", "runs": "Runs",
              "class_data": "Class data", "draw": "Draw & test", "explain": "Explain a step"}

# The controls a lesson may hide, each with the page it is on (None: every page) and a few
# words a teacher reads when choosing (short: a phone shows them in a chip). Whatever is not
# listed here always shows.
CONTROLS: dict[str, tuple[str | None, str]] = {
    "switch": (None, "Predict first switch"),
    "presets": ("architecture", "load a preset"),
    "editor": ("architecture", "edit the layers"),
    "export": ("architecture", "link, JSON, code"),
    "data": ("train", "dataset, class drawings"),
    "augment": ("train", "augment the digits"),
    "steer": ("train", "steer the learning rate"),
    "teacher": ("train", "the teacher's list"),
    "class-set": ("draw", "add to the class set"),
    "why": ("draw", "why this answer"),
    "maps": ("draw", "feature maps"),
    "pooling": ("explain", "ReLU and pooling"),
}


class LessonError(ValueError):
    """A code that is not a lesson; the message is one line saying why."""


@dataclass(frozen=True)
class Step:
    page: str  # a key of STEP_PAGES
    question: str


@dataclass(frozen=True)
class Lesson:
    title: str
    steps: tuple[Step, ...]
    design: ArchitectureSpec | None = None
    controls: frozenset[str] | None = None  # None: every control shows

    def shows(self, control: str) -> bool:
        return self.controls is None or control in self.controls

    def pages(self) -> list[str]:
        return [step.page for step in self.steps]

    def step_on(self, page: str) -> int | None:
        """The index of the step on this page, or None."""
        return next((i for i, step in enumerate(self.steps) if step.page == page), None)


# ---- writing -----------------------------------------------------------------------------
def _escaped(text: str) -> str:
    return text.replace(SEPARATOR, SEPARATOR * 2)


def format_lesson(lesson: Lesson) -> str:
    """The lesson's code; ``LessonError`` when the lesson could not be read back (the same
    checks as ``parse_lesson``), so a code written is always a code that reads."""
    fields = [f"t{KEY_MARK}{_escaped(lesson.title)}"]
    if lesson.design is not None:
        try:
            fields.append(f"d{KEY_MARK}{encode_design(lesson.design)}")
        except ValueError as exc:
            raise LessonError(f"the lesson's design cannot be written: {exc}") from None
    if lesson.controls is not None:
        fields.append(f"c{KEY_MARK}" + LIST_MARK.join(c for c in CONTROLS
                                                      if c in lesson.controls))
    fields += [f"s{KEY_MARK}{step.page}{KEY_MARK}{_escaped(step.question)}"
               for step in lesson.steps]
    code = SEPARATOR.join(fields)
    if parse_lesson(code) != lesson:  # an unknown control, a bad page, text too long...
        raise LessonError("the lesson changes when written down: unknown controls?")
    return code


def make_lesson(title: str, steps: Iterable[tuple[str, str]],
                design: ArchitectureSpec | None = None,
                controls: Iterable[str] | None = None) -> Lesson:
    """A lesson from plain values, checked as a code would be (``LessonError`` if not)."""
    lesson = Lesson(title, tuple(Step(p, q) for p, q in steps), design,
                    None if controls is None else frozenset(controls))
    format_lesson(lesson)
    return lesson


# ---- reading -----------------------------------------------------------------------------
def _fields(code: str) -> list[str]:
    """The fields of a code, unescaped, in one pass."""
    fields, current, i = [], [], 0
    while i < len(code):
        char = code[i]
        if char == SEPARATOR and code.startswith(SEPARATOR, i + 1):
            current.append(SEPARATOR)
            i += 2
            continue
        if char == SEPARATOR:
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    fields.append("".join(current))
    return fields


def _shown(text: str) -> str:
    return repr(text if len(text) <= 20 else text[:20] + "…")


def _text(what: str, text: str, limit: int) -> str:
    if not text.strip():
        raise LessonError(f"the lesson's {what} is empty")
    if len(text) > limit:
        raise LessonError(f"the lesson's {what} has {len(text):,} characters; the limit is "
                          f"{limit}")
    if not text.isprintable():
        raise LessonError(f"the lesson's {what} has a character that cannot be shown "
                          "(a line break or a control character)")
    return text


def _design(code: str) -> ArchitectureSpec:
    try:
        spec = decode_design(code)
    except SpecFormatError as exc:
        raise LessonError(f"the lesson's design: {exc}") from None
    report = analyze(spec)
    if not report.ok:
        raise LessonError(f"the lesson's design does not work: {report.errors[0]}")
    return spec


def _controls(text: str) -> frozenset[str]:
    names = text.split(LIST_MARK) if text else []
    for name in names:
        if name not in CONTROLS:
            raise LessonError(f"the lesson names no control {_shown(name)}: expected some "
                              f"of {', '.join(CONTROLS)}")
    if len(set(names)) != len(names):
        raise LessonError("the lesson names a control twice")
    return frozenset(names)


def _step(text: str) -> Step:
    page, mark, question = text.partition(KEY_MARK)
    if not mark or page not in STEP_PAGES:
        raise LessonError(f"the lesson's step {_shown(text)} does not start with a page and "
                          f"a dot: expected one of {', '.join(STEP_PAGES)}")
    return Step(page, _text(f"question on {STEP_PAGES[page]}", question, MAX_QUESTION_CHARS))


def parse_lesson(code: str) -> Lesson:
    """The lesson a code stands for; ``LessonError`` (one line) when it is not one. Linear in
    the code's length, which is bounded first."""
    if not isinstance(code, str) or not code.strip():
        raise LessonError("the lesson code is empty")
    if len(code) > MAX_LESSON_CHARS:
        raise LessonError(f"the lesson code has {len(code):,} characters; the limit is "
                          f"{MAX_LESSON_CHARS:,}")
    title: str | None = None
    design: ArchitectureSpec | None = None
    controls: frozenset[str] | None = None
    steps: list[Step] = []
    seen: set[str] = set()
    for n, field in enumerate(_fields(code), 1):
        key, mark, value = field[:1], field[1:2], field[2:]
        if mark != KEY_MARK or key not in ("t", "d", "c", "s"):
            raise LessonError(f"the lesson's field {n} ({_shown(field)}) is not a letter "
                              "(t, d, c or s), a dot and a value")
        if key in seen and key != "s":
            raise LessonError(f"the lesson has field {key!r} twice")
        seen.add(key)
        if key == "t":
            title = _text("title", value, MAX_TITLE_CHARS)
        elif key == "d":
            design = _design(value)
        elif key == "c":
            controls = _controls(value)
        else:
            steps.append(_step(value))
    if title is None:
        raise LessonError("the lesson has no title (a field t.…)")
    if not steps:
        raise LessonError("the lesson has no step (a field s.page.question)")
    if len(steps) > MAX_STEPS:
        raise LessonError(f"the lesson has {len(steps)} steps; the limit is {MAX_STEPS}")
    pages = [step.page for step in steps]
    if len(set(pages)) != len(pages):
        raise LessonError("the lesson visits a page twice: one step per page")
    return Lesson(title, tuple(steps), design, controls)
