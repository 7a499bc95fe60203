"""The three layers a newcomer sees at the root: pages (UI only), ui (the shell the pages
share) and cnn_core (all logic, no Streamlit); imports only go downwards."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported(path: Path) -> set[str]:
    """The top two levels of every module a file imports (``ui.app_state``, ``streamlit``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {".".join(n.split(".")[:2]) for n in names}


def test_the_root_holds_the_router_and_three_layers():
    assert sorted(p.name for p in ROOT.glob("*.py")) == ["app.py"]
    assert {"pages", "ui", "cnn_core"} <= {p.name for p in ROOT.iterdir() if p.is_dir()}


def test_imports_only_go_downwards():
    for path in ROOT.glob("cnn_core/**/*.py"):
        bad = {n for n in imported(path) if n.split(".")[0] in ("streamlit", "ui", "pages")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
    for path in ROOT.glob("ui/**/*.py"):
        bad = {n for n in imported(path) if n.split(".")[0] == "pages"}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


# The passes the admission check bounds, by the modules that hold their maths: pages and the
# shell reach them only through cnn_core.passes (admitted, in the shared pool).
UNADMITTED = {"cnn_core.explain.activations.predict_with_maps",
              "cnn_core.explain.attribution.attribute",
              "cnn_core.training.evaluate.evaluate", "captum.attr"}


def test_pages_and_the_shell_run_heavy_passes_only_through_admission():
    for path in [*ROOT.glob("pages/*.py"), *ROOT.glob("ui/**/*.py"), ROOT / "app.py"]:
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
        assert not names & UNADMITTED, f"{path.relative_to(ROOT)} imports " \
                                       f"{sorted(names & UNADMITTED)}: use cnn_core.passes"


# Streamlit's private modules and the DOM names it gives its elements (not an API).
PRIVATE_STREAMLIT = ("streamlit.runtime", "streamlit.web", "PagesManager", "Runtime.instance",
                     "get_script_run_ctx", "data-testid", "st-key-", "ast.parse")


def test_private_streamlit_names_live_in_one_module():
    allowed = ROOT / "ui" / "streamlit_internals.py"
    for path in [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("ui/**/*.py"),
                 *ROOT.glob("cnn_core/**/*.py")]:
        if path == allowed:
            continue
        found = [name for name in PRIVATE_STREAMLIT if name in path.read_text()]
        assert not found, f"{path.relative_to(ROOT)} uses {found}: see ui/streamlit_internals.py"


def test_test_files_share_helpers_only_through_helper_modules():
    """A test file imports helpers (helpers.py, harness/'s modules, conftest's fixtures),
    never another test file: running or moving one test file must not break another."""
    for path in ROOT.glob("tests/*.py"):
        bad = {n for n in imported(path)
               if n.split(".")[0].startswith("test_") or n.startswith("tests.test_")}
        bad |= set(re.findall(r"tests\.test_\w+", path.read_text()))  # __import__ in a script
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: use tests/helpers.py"


# cnn_core's packages in order: each imports only from those before it (and from itself).
PACKAGES = ("design", "storage", "data", "explain", "runs", "teaching", "training")


def test_each_cnn_core_package_imports_only_from_those_before_it():
    backwards = []
    for path in sorted(ROOT.glob("cnn_core/*/*.py")):
        package = path.parent.name
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for module in modules:
                parts = module.split(".")
                if parts[0] == "cnn_core" and len(parts) > 1 and parts[1] in PACKAGES and \
                        PACKAGES.index(parts[1]) > PACKAGES.index(package):
                    backwards.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {module}")
    assert not backwards, "imports against the package order: " + "; ".join(backwards)


def test_every_cnn_core_module_is_in_an_ordered_package_or_is_a_door():
    """A new package must take its place in PACKAGES; at the top sit only the doors."""
    doors = {"__init__", "__main__", "passes"}
    assert {p.stem for p in ROOT.glob("cnn_core/*.py")} <= doors
    packages = {p.parent.name for p in ROOT.glob("cnn_core/*/__init__.py")}
    assert packages <= set(PACKAGES), f"not in PACKAGES: {sorted(packages - set(PACKAGES))}"


def test_benchmarks_never_import_the_tests():
    """bench/ stands alone: what it shares with the tests lives in harness/, not in tests/
    (neither a tests module imported nor tests/ put on the path)."""
    test_modules = {p.stem for p in ROOT.glob("tests/*.py")}
    bad = []
    for path in sorted(ROOT.glob("bench/**/*.py")):
        text = path.read_text()
        names = {n.split(".")[0] for n in imported(path)}
        bad += [f"{path.relative_to(ROOT)} imports {name}"
                for name in sorted(names & (test_modules | {"tests"}))]
        bad += [f"{path.relative_to(ROOT)} puts tests/ on the path"
                for _ in re.findall(r"""["']tests["']|/tests\b""", text)]
    assert not bad, "; ".join(bad)


def test_every_name_a_benchmark_or_harness_takes_from_the_project_is_there():
    """A benchmark is not run by the suite, so a name moved in cnn_core once broke one
    unseen (bench/class_queue.py's MnistStore): every ``from cnn_core… import name``,
    ``from ui… import name`` in bench/ and harness/ must resolve."""
    import importlib

    missing = []
    for path in sorted([*ROOT.glob("bench/*.py"), *ROOT.glob("harness/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in (
                    "cnn_core", "ui"):
                module = importlib.import_module(node.module)
                missing += [f"{path.relative_to(ROOT)}: {node.module}.{a.name}"
                            for a in node.names if not hasattr(module, a.name) and not (
                                hasattr(module, "__path__")  # a package: a submodule?
                                and importlib.util.find_spec(f"{node.module}.{a.name}"))]
    assert not missing, missing


def cnn_core_imports() -> dict[str, set[str]]:
    """Every cnn_core module and the cnn_core modules it imports, wherever the import stands
    (module level, inside a function, under ``TYPE_CHECKING``): a lazy import still ties the
    two modules together."""
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
               for p in ROOT.glob("cnn_core/**/*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # ``from cnn_core.training import budget`` imports the module budget
                targets |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                            else node.module for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def import_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle in ``graph`` (its modules in import order, the first repeated at the end), or
    an empty list: a depth-first search that meets a module still on its path."""
    path: list[str] = []
    state: dict[str, str] = {}  # "open" while on the path, "done" once every import is seen

    def visit(module: str) -> list[str]:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = "done"
        return []

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return []


def test_no_import_cycle_among_cnn_core_modules():
    assert import_cycle(cnn_core_imports()) == []


def test_the_cycle_check_finds_a_cycle_through_a_lazy_import():
    assert import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert import_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []
    graph = cnn_core_imports()  # the function-level imports are in the graph
    assert "cnn_core.storage.places" in graph["cnn_core.training.limits"]


MAX_MODULE_LINES = 350


def test_no_module_is_over_350_lines():
    over = {str(path.relative_to(ROOT)): n
            for path in [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("ui/**/*.py"),
                         *ROOT.glob("cnn_core/**/*.py")]
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines: {over}"
