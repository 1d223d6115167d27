"""``billing-pipeline emulator transfer --state FILE``: an existing state only, refusals in one line.

Each refusal: exit status 2, exactly one line on stderr naming the path and the reason, nothing on
stdout, and nothing created — no state file, no folder, no SQLite journal, no table.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from billing_pipeline.emulator import state_file
from billing_pipeline.emulator.cli import emulator
from billing_pipeline.emulator.config import EmulatorConfig
from billing_pipeline.emulator.runtime import EmulatorRuntime


def _transfer(state: Path | str) -> Result:
    return CliRunner().invoke(emulator, ["transfer", "--state", str(state), "--amount", "10.00"])


def _tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def _assert_refused(result: Result, path: Path | str, reason: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and reason in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def _make_state(path: Path) -> None:
    runtime = EmulatorRuntime(EmulatorConfig(state_path=path))
    try:
        runtime.ensure_ready()
    finally:
        runtime.close()


def _transactions(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        count: int = connection.execute("SELECT COUNT(*) FROM transactions").fetchone()[0]
    finally:
        connection.close()  # the last connection removes the -wal/-shm files
    return count


def test_a_missing_state_file_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "deeper" / "qonto-emulator.sqlite"

    result = _transfer(missing)

    _assert_refused(result, missing, "no such file")
    assert _tree(tmp_path) == []


def test_a_missing_file_in_an_existing_folder_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "qonto-emulator.sqlite"

    _assert_refused(_transfer(missing), missing, "no such file")
    assert _tree(tmp_path) == []


def test_a_path_below_a_regular_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    below = tmp_path / "plain" / "state.sqlite"

    _assert_refused(_transfer(below), below, "no such file")
    assert _tree(tmp_path) == ["plain"]


def test_a_directory_is_refused_and_left_empty(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()

    _assert_refused(_transfer(folder), folder, "is a directory")
    assert _tree(tmp_path) == ["state"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "is empty"), (b"customer_id,plan\nacme,pro\n", "not an SQLite database")],
    ids=["empty", "csv"],
)
def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path, content: bytes, reason: str) -> None:
    other = tmp_path / "customers.csv"
    other.write_bytes(content)

    _assert_refused(_transfer(other), other, reason)
    assert other.read_bytes() == content
    assert _tree(tmp_path) == ["customers.csv"]


def test_another_sqlite_database_is_refused_and_not_written(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    with sqlite3.connect(ledger) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE invoices (id TEXT)")
    connection.close()
    before = ledger.read_bytes()

    _assert_refused(_transfer(ledger), ledger, "not an emulator state")
    assert ledger.read_bytes() == before
    assert _tree(tmp_path) == ["ledger.sqlite"]  # no -wal/-shm left behind


def test_a_damaged_file_is_refused_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "qonto-emulator.sqlite"
    state.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)

    _assert_refused(_transfer(state), state, "SQLite cannot read it")


def test_a_state_damaged_past_its_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    # the checks read the schema and the meta table only: the damage shows when the transfer writes
    state = tmp_path / "qonto-emulator.sqlite"
    _make_state(state)
    connection = sqlite3.connect(state)
    try:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'transactions'").fetchone()[0]
    finally:
        connection.close()
    with state.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xff" * page_size)

    _assert_refused(_transfer(state), state, "SQLite failed on it")


def test_a_state_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "qonto-emulator.sqlite"
    _make_state(state)
    connection = sqlite3.connect(state, isolation_level=None)
    try:
        connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    finally:
        connection.close()

    _assert_refused(_transfer(state), state, "schema version is '99'")
    assert _transactions(state) == 0


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_something_else_than_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    else:
        path = Path(os.devnull)

    _assert_refused(_transfer(path), path, "not a regular file")


def test_a_path_that_cannot_be_looked_up_is_refused(tmp_path: Path) -> None:
    too_long = tmp_path / ("x" * 300) / "state.sqlite"

    _assert_refused(_transfer(too_long), too_long, "cannot be reached")
    assert _tree(tmp_path) == []


def test_an_unreadable_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "qonto-emulator.sqlite"
    _make_state(state)
    if os.geteuid() == 0:
        # root reads through permission bits: make opening this one file fail as it would for others
        real_open = Path.open

        def refusing_open(self: Path, *args: object, **kwargs: object) -> object:
            if self == state:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Path, "open", refusing_open)
    state.chmod(0o000)
    try:
        result = _transfer(state)
    finally:
        state.chmod(0o644)

    _assert_refused(result, state, "cannot be read")


def test_an_existing_state_still_takes_the_transfer(tmp_path: Path) -> None:
    state = tmp_path / "qonto-emulator.sqlite"
    _make_state(state)

    result = _transfer(state)

    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.split()) == 1
    assert _transactions(state) == 1


@pytest.mark.parametrize("locked", ["file", "folder"])
def test_an_unwritable_state_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locked: str
) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    state = folder / "qonto-emulator.sqlite"
    _make_state(state)
    locked_path = state if locked == "file" else folder
    if os.geteuid() == 0:
        # root writes through permission bits; what stops it is a read-only file system, where
        # access(2) answers EROFS: emulate that answer for the locked path
        real_access = os.access

        def access(path: object, mode: int, **kwargs: object) -> bool:
            if Path(str(path)) == locked_path and mode & os.W_OK:
                return False
            return real_access(path, mode, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(state_file.os, "access", access)
    state.chmod(0o444 if locked == "file" else 0o644)
    folder.chmod(0o555 if locked == "folder" else 0o755)
    try:
        result = _transfer(state)
    finally:
        folder.chmod(0o755)
        state.chmod(0o644)

    _assert_refused(result, state, "not writable")
    assert _transactions(state) == 0
    assert _tree(folder) == ["qonto-emulator.sqlite"]
