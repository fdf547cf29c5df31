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
