"""The project's own text files hold no unresolved merge: a conflict once reached docs/production.md."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini", ".sh", ".csv", ".sql"}
TEXT_NAMES = {"Makefile", "run"}
MARKERS = ("<<<<<<< ", ">>>>>>> ", "||||||| ")


def _project_text_files() -> list[Path]:
    """Our text files: hidden folders (``.venv``, ``.git``) but ``.ci``, caches and the benchmarks'
    generated data sets left out, as is any file over 5 MB."""
    files = []
    for folder, folders, names in os.walk(ROOT):
        here = Path(folder)
        folders[:] = [
            name
            for name in folders
            if (not name.startswith(".") or name == ".ci")
            and name not in {"__pycache__", "node_modules"}
            and here / name != ROOT / "benchmarks" / "out"
        ]
        for name in names:
            path = here / name
            if (path.suffix in TEXT_SUFFIXES or name in TEXT_NAMES) and path.stat().st_size < 5_000_000:
                files.append(path)
    return files


def _conflicts(path: Path, root: Path = ROOT) -> list[str]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [f"{path.relative_to(root)}:{number}" for number, line in enumerate(lines, 1) if line.startswith(MARKERS)]


def test_no_file_holds_a_merge_conflict() -> None:
    files = _project_text_files()
    assert any(path.name == "README.md" for path in files) and any(path.suffix == ".py" for path in files)
    found = [where for path in files for where in _conflicts(path)]
    assert not found, f"unresolved merge conflicts at {found}"


def test_a_conflict_is_found_and_a_setext_heading_is_not(tmp_path: Path) -> None:
    page = tmp_path / "production.md"
    page.write_text("Title\n=======\n\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> k8s\n", encoding="utf-8")
    assert _conflicts(page, tmp_path) == ["production.md:4", "production.md:8"]
