"""The embedded emulator is started through its production-facing factory, never a test helper."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx

from billing_pipeline.emulator.config import EMULATOR_API_KEY
from billing_pipeline.emulator.embedded import start_embedded

PACKAGE = Path(__file__).resolve().parents[2] / "billing_pipeline"
TEST_HELPERS = {"billing_pipeline.emulator.testing"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):  # function bodies too: a lazy import is still a dependency
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_no_production_module_imports_an_emulator_test_helper() -> None:
    offenders = {
        str(path.relative_to(PACKAGE.parent)): sorted(_imported_modules(path) & TEST_HELPERS)
        for path in PACKAGE.rglob("*.py")
        if path != PACKAGE / "emulator" / "testing.py" and _imported_modules(path) & TEST_HELPERS
    }
    assert not offenders


def test_the_scan_sees_lazy_and_relative_imports() -> None:
    # the scan itself would otherwise pass vacuously
    assert "billing_pipeline.emulator.embedded" in _imported_modules(PACKAGE / "invoicing" / "connection.py")
    assert "billing_pipeline.emulator.embedded" in _imported_modules(PACKAGE / "emulator" / "testing.py")


async def test_start_embedded_serves_the_api_in_process(tmp_path: Path) -> None:
    emulator = start_embedded(tmp_path / "qonto-emulator.sqlite", render_delay_s=0)
    try:
        async with httpx.AsyncClient(transport=emulator.transport, base_url=emulator.base_url) as client:
            response = await client.get("/v2/organization", headers={"Authorization": emulator.api_key})
    finally:
        await emulator.transport.aclose()
    assert response.status_code == 200
    assert emulator.api_key == EMULATOR_API_KEY
    assert (tmp_path / "qonto-emulator.sqlite").exists()
