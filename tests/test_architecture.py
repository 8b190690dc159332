"""The package rules README's architecture table states, checked on the code itself.

The table is read from README.md, so the page and the code cannot drift apart: a package may
import only what its row's "may import" column names (a package, or one module of it), jobs/
keeps every import of our own packages at the top of its modules (an import hidden in a function
is how a cycle hides), Redis keys are spelled in jobs/keys.py alone, and no product module grows
past what one reader holds in mind.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("bot", "jobs", "pipeline", "integrations", "storage", "leap", "locales")
PRODUCT = ("bot", "jobs", "pipeline", "integrations", "storage", "leap", "locales")
MAX_LINES = 600


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str
    in_function: bool


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = list(path.relative_to(ROOT).parts[:-1])
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(path: Path) -> list[Import]:
    """Every import of our own packages in ``path``, named as precisely as the code names it:
    ``from pipeline import timecodes`` counts as ``pipeline.timecodes``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                module = _resolve(path, child)
                names = [
                    f"{module}.{alias.name}" if _is_module(f"{module}.{alias.name}") else module
                    for alias in child.names
                ]
            for name in names:
                if name.split(".")[0] in OURS:
                    found.append(Import(path, child.lineno, name, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


def _rules() -> dict[str, tuple[str, ...] | None]:
    """README's table: package → what it may import (None: everything)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    rules: dict[str, tuple[str, ...] | None] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        package = cells[0].strip("`").rstrip("/").replace("/", ".")
        if cells[2] == "everything":
            rules[package] = None
        else:
            rules[package] = tuple(re.findall(r"`([a-z_.]+)`", cells[2]))
    return rules


def _package_of(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    if parts[0] == "bot" and len(parts) > 2 and parts[1] == "handlers":
        return "bot.handlers"
    return parts[0]


def _allowed(module: str, rule: tuple[str, ...]) -> bool:
    return any(module == allowed or module.startswith(allowed + ".") for allowed in rule)


def test_readme_states_a_rule_for_every_package() -> None:
    rules = _rules()
    assert set(rules) >= {*OURS, "bot.handlers"}, sorted(rules)


def test_every_package_imports_only_what_the_readme_table_allows() -> None:
    rules = _rules()
    broken: list[str] = []
    for package in OURS:
        for path in _modules(package):
            owner = _package_of(path)
            rule = rules[owner]
            if rule is None:
                continue
            for imp in _imports(path):
                if imp.module.split(".")[0] == package:
                    continue
                if not _allowed(imp.module, rule):
                    broken.append(f"{path.relative_to(ROOT)}:{imp.line} {owner} → {imp.module}")
    assert not broken, "imports the README table does not allow:\n" + "\n".join(broken)


def test_jobs_import_our_packages_only_at_the_top_of_a_module() -> None:
    hidden = {
        f"{imp.path.relative_to(ROOT)}:{imp.line} {imp.module}"
        for path in _modules("jobs")
        for imp in _imports(path)
        if imp.in_function
    }
    assert not hidden, "imports inside functions in jobs/:\n" + "\n".join(sorted(hidden))


def test_no_product_module_is_longer_than_a_reader_holds_in_mind() -> None:
    long = []
    for package in PRODUCT:
        for path in _modules(package):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not long, f"modules over {MAX_LINES} lines:\n" + "\n".join(long)


def test_redis_keys_are_spelled_in_one_module() -> None:
    """Two modules that share a key must not each spell it: jobs/keys.py names them all."""
    key = re.compile(r"^leap:[a-z]")
    spelled = []
    for package in PRODUCT:
        for path in _modules(package):
            if path == ROOT / "jobs" / "keys.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if key.match(node.value):
                        spelled.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not spelled, "Redis keys spelled outside jobs/keys.py:\n" + "\n".join(spelled)
