"""The architecture holds: import-linter's contracts (pyproject.toml) and no hidden imports.

docs/ARCHITECTURE.md describes the layers; a new forbidden import fails here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Imports allowed inside functions, each with the reason given where it is made.
LAZY_ALLOWED = {
    ("bot/rules/workhours.py", "holidays"),  # heavy; loaded on the first bank-holiday question
    ("bot/review/chart.py", "matplotlib.backends.backend_agg"),  # heavy; only for /stats charts
    ("bot/review/chart.py", "matplotlib.figure"),
}


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _function_local_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import):
                found += [(node.lineno, a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                found.append((node.lineno, node.module or "." * node.level))
    return found


def test_no_imports_inside_functions():
    offenders = []
    for package in ("bot", "handlers", "storage"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("storage/migrations/"):
                continue
            for line, module in _function_local_imports(path):
                if (rel, module) not in LAZY_ALLOWED:
                    offenders.append(f"{rel}:{line} imports {module}")
    assert offenders == []
