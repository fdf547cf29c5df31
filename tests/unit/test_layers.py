"""The dependency rule of DESIGN.md §2, and time as an input (STYLE.md 14)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _python(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_engine_never_imports_flask_or_webapp() -> None:
    offenders = [(str(p.relative_to(ROOT)), n) for p in _python("engine") for n in _imports(p)
                 if n.split(".")[0] in {"flask", "flask_login", "flask_wtf", "webapp"}]
    assert offenders == []


def test_core_never_imports_sqlalchemy() -> None:
    offenders = [(str(p.relative_to(ROOT)), n) for p in _python("engine/core")
                 for n in _imports(p) if n.split(".")[0] == "sqlalchemy"]
    assert offenders == []


def test_only_core_spiff_imports_spiffworkflow() -> None:
    allowed = ROOT / "engine" / "core" / "spiff"
    sources = [p for folder in ("engine", "webapp", "bench", "migrations")
               for p in _python(folder)]
    offenders = [str(p.relative_to(ROOT)) for p in sources if allowed not in p.parents
                 and any(n.split(".")[0] == "SpiffWorkflow" for n in _imports(p))]
    assert offenders == []


def test_engine_never_reads_the_wall_clock_itself() -> None:
    pattern = re.compile(r"datetime\.now\(|datetime\.utcnow\(|time\.time\(|date\.today\(")
    offenders = [str(p.relative_to(ROOT)) for p in _python("engine")
                 if p.name != "clock.py" and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_no_eval_or_exec_of_model_text() -> None:
    pattern = re.compile(r"(?<![\w.])(eval|exec)\(")
    offenders = [str(p.relative_to(ROOT)) for p in _python("engine")
                 if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


# What the web app may import from the engine: the use cases and their plain data types
# (engine.services.*), the errors, the clock, and the entry points that compose the engine
# for a process (engine.bootstrap; engine.cli, the command group the web app extends, and
# engine.cli_operations, the operator's commands it registers there; engine.scheduler, which
# the web app may host in a thread). Never core nor persistence.
WEBAPP_MAY_IMPORT = ("engine.services", "engine.errors", "engine.clock", "engine.bootstrap",
                     "engine.cli", "engine.cli_operations", "engine.scheduler")


def test_webapp_imports_only_services_errors_clock_and_entry_points() -> None:
    offenders = [(str(p.relative_to(ROOT)), n) for p in _python("webapp") for n in _imports(p)
                 if n.split(".")[0] == "engine" and n != "engine"
                 and not any(n == m or n.startswith(m + ".") for m in WEBAPP_MAY_IMPORT)]
    assert offenders == []


def test_webapp_never_imports_the_engine_package_bare() -> None:
    """``import engine`` or ``from engine import core`` would hide what is reached."""
    offenders = []
    for path in _python("webapp"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "engine" and node.level == 0:
                offenders += [(str(path.relative_to(ROOT)), a.name) for a in node.names
                              if f"engine.{a.name}" not in WEBAPP_MAY_IMPORT]
            elif isinstance(node, ast.Import):
                offenders += [(str(path.relative_to(ROOT)), a.name) for a in node.names
                              if a.name == "engine"]
    assert offenders == []


def _unexplained_function_imports(path: Path) -> list[str]:
    """Imports inside functions with no comment saying why (on the line, or on the line above
    the run of imports it belongs to)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom) and not _explained(
                        lines, inner.lineno - 1):
                    found.append(f"{node.name}:{inner.lineno}")
    return found


def _explained(lines: list[str], index: int) -> bool:
    if "#" in lines[index]:
        return True
    while index > 0 and lines[index - 1].strip().startswith(("from ", "import ", ")")) \
            or index > 0 and not lines[index - 1].strip():
        index -= 1
    return index > 0 and lines[index - 1].strip().startswith("#")


def test_imports_inside_functions_say_why() -> None:
    """Imports sit at the top of modules; one inside a function breaks a real cycle or keeps a
    heavy import off a start-up path, and a comment says which."""
    offenders = [(str(p.relative_to(ROOT)), f) for folder in ("engine", "webapp")
                 for p in _python(folder) for f in _unexplained_function_imports(p)]
    assert offenders == []


def test_permission_checks_are_defined_in_access_only() -> None:
    """DESIGN.md: who may do what is decided by engine/services/access.py helpers."""
    access = ROOT / "engine" / "services" / "access.py"
    checks = {n.name for n in ast.parse(access.read_text(encoding="utf-8")).body
              if isinstance(n, ast.FunctionDef)}
    offenders = [(str(p.relative_to(ROOT)), n.name) for p in _python("engine") if p != access
                 for n in ast.parse(p.read_text(encoding="utf-8")).body
                 if isinstance(n, ast.FunctionDef)
                 and (n.name in checks or n.name in {"overseen"} or n.name.startswith("require_"))]
    assert offenders == []


def test_cases_and_tasks_services_do_not_import_each_other() -> None:
    services = ROOT / "engine" / "services"
    assert not {"engine.services.tasks"} & _imports(services / "cases.py")
    assert not {"engine.services.cases"} & _imports(services / "tasks.py")
    for name, other in (("cases", "tasks"), ("tasks", "cases")):
        tree = ast.parse((services / f"{name}.py").read_text(encoding="utf-8"))
        assert not any(isinstance(n, ast.ImportFrom) and n.module == "engine.services"
                       and other in {a.name for a in n.names} for n in ast.walk(tree))


def test_forms_names_one_module() -> None:
    """Issue #11: « forms » is the engine's form specs; the web app's Flask-WTF classes say
    what they hold (``form_classes``), so that no two modules answer to the same name."""
    named = sorted(str(p.relative_to(ROOT)) for folder in ("engine", "webapp")
                   for p in _python(folder) if p.stem.endswith("forms"))
    assert named == ["engine/core/forms.py"]


def _service_calls_of_the_webapp() -> set[tuple[str, str]]:
    """(service module, function) pairs the web app calls as ``module.function(...)``."""
    calls: set[tuple[str, str]] = set()
    for path in _python("webapp"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = {a.asname or a.name: f"engine.services.{a.name}" for node in ast.walk(tree)
                   if isinstance(node, ast.ImportFrom) and node.module == "engine.services"
                   for a in node.names}
        calls |= {(modules[n.func.value.id], n.func.attr) for n in ast.walk(tree)
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                  and isinstance(n.func.value, ast.Name) and n.func.value.id in modules}
    return calls


def test_services_hand_the_webapp_plain_data_never_orm_rows() -> None:
    """Issue #11: a view or template reading a row could lazy-load, or write, outside the
    service's unit of work. What a service returns to the web app names no model."""
    import importlib

    from engine.persistence import models

    model = re.compile(r"\b(" + "|".join(models.__all__) + r")\b")
    offenders = []
    for module, name in sorted(_service_calls_of_the_webapp()):
        function = getattr(importlib.import_module(module), name)
        returned = str(getattr(function, "__annotations__", {}).get("return", ""))
        if model.search(returned):
            offenders.append((f"{module}.{name}", returned))
    assert offenders == []
