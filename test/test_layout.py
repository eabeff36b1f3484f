"""The folders follow the data flow: config/ builds each stage's settings; pack/ and octopus/ import neither config/
nor each other (what both need sits beside them as shared modules)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pipe" / "octopus_pack"
FORBIDDEN = {
    "pack": ("octopus_pack.config", "octopus_pack.octopus"),
    "octopus": ("octopus_pack.config", "octopus_pack.pack"),
}


def imported_modules(source: Path) -> list[tuple[int, str]]:
    """Every module an import statement names, at any depth (also imports inside functions)."""
    found = []
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module)]
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative imports would hide the folder: none allowed
            found.append((node.lineno, f"relative import {'.' * node.level}{node.module or ''}"))
    return found


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_stage_imports_neither_config_nor_the_other_stage(folder: str) -> None:
    wrong = [
        f"{source.relative_to(PACKAGE)}:{line}: {module}"
        for source in sorted((PACKAGE / folder).rglob("*.py"))
        for line, module in imported_modules(source)
        if module.startswith("relative import")
        or any(module == prefix or module.startswith(f"{prefix}.") for prefix in FORBIDDEN[folder])
    ]
    assert not wrong, f"{folder}/ must not import these (move the type to the stage that uses it):\n" + "\n".join(wrong)


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text("def f():\n    from octopus_pack.config.octopus import x\n    import octopus_pack.pack.nuget\n")
    assert [module for _, module in imported_modules(source)] == [
        "octopus_pack.config.octopus", "octopus_pack.config.octopus.x", "octopus_pack.pack.nuget"]


def test_only_config_reads_the_environment() -> None:
    readers = [
        str(source.relative_to(PACKAGE))
        for source in sorted(PACKAGE.rglob("*.py"))
        if source.parts[-2] != "config" and ("os.environ" in source.read_text() or "os.getenv" in source.read_text())
    ]
    assert readers == []
