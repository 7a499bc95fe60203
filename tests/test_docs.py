"""The README and docs/ say only what is true of the code: every documented command parses
with the real command line, every file, benchmark, setting and link named exists, and the
README keeps its promises to a newcomer (short, the two commands first, a true module map).

Nothing here trains or starts a server: commands are checked against ``python -m cnn_core``'s
own argparse parser in this process, other tools' commands (pytest, venv, ray, ruff) against
their own ``--help``, files and settings against the tree."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

from cnn_core.__main__ import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250
CODE_DIRS = ("cnn_core", "ui", "pages", "bench")  # where a setting must be read (not tests/)
TREE_DIRS = ("cnn_core", "ui", "pages")  # what the README's module map must name
PATH_ROOTS = ("cnn_core/", "ui/", "pages/", "tests/", "harness/", "bench/", ".ci/",
              ".streamlit/")
ENV_VAR = re.compile(r"CNN_EXPLAINER_[A-Z0-9_]+")
BENCH_SCRIPT = re.compile(r"bench/\w+\.py")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def fenced_blocks(text: str) -> list[tuple[str, list[str]]]:
    """Each fenced code block as (its language, its lines)."""
    blocks, lines, lang = [], None, ""
    for line in text.splitlines():
        if line.startswith("```"):
            if lines is None:
                lines, lang = [], line[3:].strip()
            else:
                blocks.append((lang, lines))
                lines = None
        elif lines is not None:
            lines.append(line)
    return blocks


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    kept, inside = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def shell_commands(lines: list[str]) -> list[list[str]]:
    """The commands of a shell block as argument lists: continuation lines joined, comments
    dropped, ``a && b`` split in two, ``VAR=value`` prefixes and ``[optional]`` brackets
    removed (an optional part is checked as if given)."""
    joined, pending = [], ""
    for line in lines:
        if line.endswith("\\"):
            pending += line[:-1] + " "
        else:
            joined.append(pending + line)
            pending = ""
    commands = []
    for line in joined:
        current: list[str] = []
        for token in shlex.split(line, comments=True) + ["&&"]:
            if token == "&&":
                if current:
                    commands.append(current)
                current = []
            elif current or not re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", token):
                current.append(token.removeprefix("[").removesuffix("]"))
    return commands


def documented_commands() -> list[tuple[str, list[str]]]:
    """Every command in a shell block of the README and docs/, with the file it is in."""
    return [(rel(doc), command) for doc in DOCS
            for lang, lines in fenced_blocks(doc.read_text())
            if lang in ("bash", "sh", "shell", "")
            for command in shell_commands(lines)]


def cnn_core_argv(command: list[str]) -> list[str] | None:
    """The arguments after ``-m cnn_core`` (python or torchrun), or None."""
    for i in range(len(command) - 1):
        if command[i] == "-m" and command[i + 1] == "cnn_core":
            return command[i + 2:]
    return None


def parse_error(argv: list[str]) -> str | None:
    """What ``python -m cnn_core``'s parser says of ``argv``: None when it takes it."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        return stderr.getvalue().strip() or f"exit status {exc.code}"
    return None


def subcommands(parser: argparse.ArgumentParser) -> set[tuple[str, ...]]:
    """Every leaf command of a parser: ("summary",), ("runs", "list"), ..."""
    paths: set[tuple[str, ...]] = set()
    for action in parser._actions:  # argparse lists its subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths |= {(name, *rest) for rest in subcommands(sub)} or {(name,)}
    return paths


def command_problems(command: list[str]) -> list[str]:
    """What is wrong with one documented command, checked without running it."""
    problems = []
    argv = cnn_core_argv(command)
    if argv is not None:  # python -m cnn_core ..., torchrun ... -m cnn_core ...
        problems += [error] if (error := parse_error(argv)) else []
    elif len(command) > 2 and command[1] == "-m" and command[2].startswith("cnn_core."):
        problems += [] if importlib.util.find_spec(command[2]) else [f"no module {command[2]}"]
    elif len(command) > 1 and command[0].endswith("python") and command[1].startswith("bench/"):
        script = ROOT / command[1]
        source = script.read_text() if script.is_file() else ""
        problems += [] if source else ["no such benchmark"]
        problems += [f"{script.name} takes no {flag}" for flag in command[2:]
                     if flag.startswith("--") and f'"{flag}"' not in source]
    elif len(command) > 2 and command[0].endswith("streamlit") and command[1] == "run":
        problems += [] if (ROOT / command[2]).is_file() else [f"no file {command[2]}"]
    problems += [f"no file {command[i + 1]}" for i, token in enumerate(command[:-1])
                 if token == "-r" and not (ROOT / command[i + 1]).is_file()]  # pip install -r
    return problems


def tool(name: str) -> str | None:
    """A documented program as installed: the virtual environment's own first."""
    if name in ("python", "python3"):
        return sys.executable
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


@cache
def help_text(program: tuple[str, ...]) -> str:
    done = subprocess.run([*program, "--help"], capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr if done.returncode == 0 else ""


def registered_markers() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {m.split(":")[0] for m in config["tool"]["pytest"]["ini_options"]["markers"]}


def help_problems(command: list[str]) -> list[str]:
    """What is wrong with a command of another tool (pytest, venv, ray, ruff): the program
    must be installed, its subcommand and every option it is given must be in its --help,
    every path named must exist, every pytest marker must be registered."""
    executable = tool(Path(command[0]).name)
    if executable is None:
        return [f"{command[0]} is not installed"]
    program, rest = [executable], command[1:]
    if rest[:1] == ["-m"] and len(rest) > 1:
        program, rest = [executable, "-m", rest[1]], rest[2:]
    while rest and re.fullmatch(r"[a-z][a-z-]*", rest[0]):  # ray start, ruff check
        program.append(rest.pop(0))
    text = help_text(tuple(program))
    if not text:
        return [f"{shlex.join(program)} --help fails"]
    problems = [f"{shlex.join(program)} has no option {option}" for option in
                (token.split("=")[0] for token in rest if token.startswith("-"))
                if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text)]
    problems += [f"no file {token}" for token in rest
                 if token.startswith(PATH_ROOTS) and not (ROOT / token).exists()]
    if program[-1] == "pytest":
        expressions = [rest[i + 1] for i, token in enumerate(rest[:-1]) if token == "-m"]
        problems += [f"no pytest marker {word}" for expression in expressions
                     for word in re.findall(r"\w+", expression)
                     if word not in ("not", "and", "or") and word not in registered_markers()]
    return problems


def is_checked_elsewhere(command: list[str]) -> bool:
    """Whether ``command_problems`` checks this command against the code itself."""
    return cnn_core_argv(command) is not None or (
        len(command) > 2 and command[1] == "-m" and command[2].startswith("cnn_core.")) or (
        len(command) > 1 and command[0].endswith("python") and command[1].startswith("bench/")
    ) or (len(command) > 2 and command[0].endswith("streamlit") and command[1] == "run") or (
        "-r" in command)


def test_every_other_documented_command_matches_its_tools_help():
    """pytest, venv, ray and ruff commands: checked against what the installed tool says it
    takes, so a renamed option or a marker that is gone shows here."""
    commands = [(doc, c) for doc, c in documented_commands() if not is_checked_elsewhere(c)]
    assert {Path(c[0]).name for _, c in commands} >= {"ray", "ruff"}, "the split is wrong"
    problems = [f"{doc}: {shlex.join(command)}\n    {problem}" for doc, command in commands
                for problem in help_problems(command)]
    assert not problems, "documented commands their tools would refuse:\n" + "\n".join(problems)


def test_every_documented_command_runs_with_the_real_parser():
    commands = documented_commands()
    problems = [f"{doc}: {shlex.join(command)}\n    {problem}" for doc, command in commands
                for problem in command_problems(command)]
    assert not problems, "documented commands that do not run:\n" + "\n".join(problems)
    # Every command the parser has is documented, so a new one cannot go unmentioned.
    shown = {tuple(a for a in argv[:2] if not a.startswith("-"))
             for _, command in commands if (argv := cnn_core_argv(command)) is not None}
    missing = {path for path in subcommands(build_parser())
               if not any(c[:len(path)] == path for c in shown)}
    assert not missing, f"commands with no documented example: {sorted(missing)}"


def test_every_command_named_in_the_prose_exists():
    """``python -m cnn_core runs`` in a sentence: its words are a command (or its start)."""
    paths = subcommands(build_parser())
    wrong = []
    for doc in DOCS:
        for span in CODE_SPAN.findall(prose(doc.read_text())):
            words = span.split()
            if words[:2] != ["python", "-m"] or not words[2:3] or \
                    not words[2].startswith("cnn_core"):
                continue
            if words[2] != "cnn_core":
                known = importlib.util.find_spec(words[2]) is not None
            else:
                named = tuple(w for w in words[3:] if not w.startswith("-"))
                known = any(path[:len(named)] == named[:len(path)] for path in paths)
            wrong += [] if known else [f"{rel(doc)}: {span}"]
    assert not wrong, "commands in the prose that do not exist:\n" + "\n".join(wrong)


def test_every_named_benchmark_test_and_source_file_exists():
    missing = []
    for doc in DOCS:
        text = doc.read_text()
        names = set(BENCH_SCRIPT.findall(text))
        names |= {span.rstrip(".,;:") for span in CODE_SPAN.findall(prose(text))
                  if span.startswith(PATH_ROOTS) and " " not in span}
        missing += [f"{rel(doc)}: {name}" for name in sorted(names)
                    if not (ROOT / name.split("#")[0]).exists()]
    assert not missing, "files named in the docs that do not exist:\n" + "\n".join(missing)


def code_text() -> str:
    files = [ROOT / "app.py", *(p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py"))]
    return "\n".join(p.read_text() for p in files)


def test_every_setting_named_is_read_by_the_code_and_every_setting_read_is_documented():
    read = set(ENV_VAR.findall(code_text()))
    documented = {name for doc in DOCS for name in ENV_VAR.findall(doc.read_text())}
    assert documented, "no CNN_EXPLAINER_* setting found in the docs: the pattern is wrong"
    assert not sorted(documented - read), "documented but never read by the code"
    assert not sorted(read - documented), "read by the code but not documented"


def heading_slugs(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a markdown file."""
    return {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            for line in prose(path.read_text()).splitlines() if line.startswith("#")}


def test_every_relative_link_resolves():
    broken = []
    for doc in DOCS:
        for target in LINK.findall(prose(doc.read_text())):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists():
                broken.append(f"{rel(doc)}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in heading_slugs(path):
                broken.append(f"{rel(doc)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / t.partition("#")[0]).resolve()
              for t in LINK.findall(README.read_text())}
    assert not [rel(d) for d in DOCS[1:] if d.resolve() not in linked]


def test_the_readme_is_short_and_starts_with_the_two_commands():
    text = README.read_text()
    assert len(text.splitlines()) < README_MAX_LINES
    blocks = fenced_blocks(text)
    assert blocks[0][1][-1].endswith("streamlit run app.py"), "first: install and run the app"
    ci_lines = (ROOT / ".ci/run").read_text().splitlines()
    ci_command = [line for line in ci_lines if line.strip() and not line.startswith("#")][-1]
    assert blocks[1][1] == [ci_command], "second: the test command, word for word as .ci/run"


def module_map() -> dict[str, tuple[set[str], set[str]]]:
    """The README's picture of the code: per folder, its group labels and the module names
    on its ``label: name name ...`` lines."""
    blocks = [lines for lang, lines in fenced_blocks(README.read_text()) if lang == "text"]
    assert blocks, "the README has no ```text block picturing the code"
    block = blocks[0]
    found: dict[str, tuple[set[str], set[str]]] = {}
    top = ""
    for line in block:
        if m := re.match(r"(\w+)/\s", line):
            top = m.group(1)
        elif (m := re.match(r"\s+(\w+):\s+(.+)", line)) and top in TREE_DIRS:
            labels, names = found.setdefault(top, (set(), set()))
            labels.add(m.group(1))
            names.update(m.group(2).split())
    return found


def modules(top: str) -> list[Path]:
    """Every module of a folder: each .py file, and each package with no module but its
    ``__init__`` (``ui/live_chart``)."""
    found = [p for p in (ROOT / top).rglob("*.py") if not p.stem.startswith("__")]
    for init in (ROOT / top).rglob("__init__.py"):
        package = init.parent
        if package != ROOT / top and not any(not p.stem.startswith("__")
                                             for p in package.glob("*.py")):
            found.append(package)
    return sorted(found)


def listed_as(path: Path) -> str:
    """How docs/modules.md names a module: ``cnn_core/explain/svg.py``, ``ui/live_chart/``."""
    return rel(path) + ("/" if path.is_dir() else "")


@pytest.mark.parametrize("top", TREE_DIRS)
def test_the_readme_module_map_names_every_module_and_only_those(top):
    labels, names = module_map()[top]
    existing = modules(top)
    stems = {path.stem for path in existing}
    assert not sorted(names - stems), f"{top}/: named in the README, not in the tree"
    # A module inside a package the map names as a group (``design:``) counts as named.
    unnamed = [listed_as(path) for path in existing if path.stem not in names
               and not labels & set(path.relative_to(ROOT / top).parts[:-1])]
    assert not unnamed, f"{top}/: in the tree but not in the README's module map"


def test_the_module_list_has_a_line_for_every_module():
    listed = set(CODE_SPAN.findall((ROOT / "docs/modules.md").read_text()))
    unlisted = [listed_as(path) for top in TREE_DIRS for path in modules(top)
                if listed_as(path) not in listed]
    assert not unlisted, "modules without a line in docs/modules.md"


def test_the_readmes_preset_table_gives_each_presets_own_recipe():
    """Each preset's row names the recipe the Train page starts it from, in the words the
    page uses (the ConvNet's row once kept batch 32 after its recipe moved to 64)."""
    from cnn_core.design.presets import PRESET_TABLE
    from cnn_core.training.settings import recipe
    from cnn_core.training.trainer import TrainConfig

    rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
            for line in README.read_text().splitlines() if line.startswith("| ")}
    for preset in PRESET_TABLE:
        words = TrainConfig(**recipe(preset.spec)).describe().removesuffix(", seed 0")
        assert rows.get(preset.name) == words, (preset.name, rows.get(preset.name), words)
