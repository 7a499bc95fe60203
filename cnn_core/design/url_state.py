"""What the page URL carries, read defensively: the design (as a design code), the last run,
and the token that re-attaches a tab to its training. Anything that is not what it claims
to be is dropped with a one-line note; the page then opens as if it were absent."""

from __future__ import annotations

from urllib.parse import urlencode

from cnn_core.design.design_code import decode_design, encode_design
from cnn_core.design.parse import SpecFormatError
from cnn_core.design.shapes import analyze
from cnn_core.design.spec import ArchitectureSpec

DESIGN_PARAM, RUN_PARAM, JOB_PARAM = "design", "run", "job"
MAX_LINK_CODE = 2000  # links stay well under what browsers and chat apps keep
MAX_RUN_ID_DIGITS = 12


def read_design(value: str | None) -> tuple[ArchitectureSpec | None, str | None]:
    """The design a link carries and None, or None and a note saying why it was ignored."""
    if not value:
        return None, None
    if len(value) > MAX_LINK_CODE:
        return None, f"The link's design was ignored: it is {len(value):,} characters long."
    try:
        spec = decode_design(value)
    except SpecFormatError as exc:
        return None, f"The link's design was ignored: {exc}."
    report = analyze(spec)
    if not report.ok:
        return None, f"The link's design was ignored: {report.errors[0]}."
    return spec, None


def read_run_id(value: str | None) -> tuple[int | None, str | None]:
    """The run id a link names and None, or None and a note."""
    if not value:
        return None, None
    # ASCII only: str.isdigit() also takes "²" and "٣", which int() refuses or reads
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_RUN_ID_DIGITS:
        return None, "The link's run was ignored: it is not a run number."
    return int(value), None


def design_param(spec: ArchitectureSpec) -> str | None:
    """The design's code for the URL, or None when it cannot travel in one (too long, or a
    value no code can hold)."""
    try:
        code = encode_design(spec)
    except ValueError:
        return None
    return code if len(code) <= MAX_LINK_CODE else None


def design_link(base_url: str, spec: ArchitectureSpec) -> str | None:
    """A link to this design alone: no run, no training token."""
    code = design_param(spec)
    if code is None:
        return None
    return f"{base_url.split('?')[0]}?{urlencode({DESIGN_PARAM: code})}"
