"""The dependency direction (STYLE.md) holds: import-linter's contracts in pyproject.toml."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_import_contracts_are_kept():
    proc = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"import-linter contracts broken:\n{proc.stdout}\n{proc.stderr}"
    assert "0 broken" in proc.stdout


def test_no_module_imports_itself_through_others():
    """No import cycle between modules of app/ (import-linter's acyclic contract covers the
    modules inside each domain and app/graphql; this covers the whole package, module by
    module — a cycle anywhere is a partly initialised module waiting to happen)."""
    import grimp

    graph = grimp.build_graph("app")
    cycles = set()
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            path = graph.find_shortest_chain(importer=imported, imported=module)
            if path:
                cycles.add(" -> ".join((module, *path)))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles))


def test_no_test_module_imports_another():
    """Shared fixtures and helpers live in tests/support/ (a plugin, tests/conftest.py): a test
    module importing another would run that module's tests' import side effects and tie
    unrelated files together."""
    import ast

    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if "support" in path.relative_to(ROOT / "tests").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests") \
                    and not node.module.startswith("tests.support"):
                offenders.append(f"{path.relative_to(ROOT)}: from {node.module} import …")
    assert offenders == []
