"""Is a ``--state`` path an existing emulator state file? Checked without creating anything.

``emulator serve`` and ``reset`` create their state on demand; ``emulator transfer`` must not: it
records a payment into an organization someone is already billing, so a mistyped path would
otherwise build a new, empty organization (folders included) that no server reads, and print a
transaction id as if all went well. Every check below only reads: no file, folder, journal or
table is created, and a file that is not ours (another SQLite database, any other file) is never
opened for writing.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from .store import SCHEMA_VERSION

# the first 16 bytes of every SQLite 3 database file (https://sqlite.org/fileformat.html)
SQLITE_HEADER = b"SQLite format 3\x00"


class StateFileError(Exception):
    """Why a path cannot be used as an existing emulator state; ``str()`` is one line naming it."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot use {str(path)!r} as the emulator state: {reason}")


def check_existing_state(path: Path) -> None:
    """Raise ``StateFileError`` unless ``path`` is an existing, writable emulator state file."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise StateFileError(
            path, "no such file (start `billing-pipeline emulator serve --state FILE` or run the pipeline first)"
        ) from None
    except OSError as exc:  # e.g. a folder on the way that may not be entered
        raise StateFileError(path, f"it cannot be reached ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise StateFileError(path, "it is a directory, not a state file")
    if not stat.S_ISREG(info.st_mode):
        raise StateFileError(path, "it is not a regular file")
    if info.st_size == 0:
        raise StateFileError(path, "the file is empty, not an emulator state")
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StateFileError(path, f"it cannot be read ({exc.strerror or exc})") from None
    if header != SQLITE_HEADER:
        raise StateFileError(path, "it is not an SQLite database, so not an emulator state")
    # SQLite writes a journal beside the database: both the file and its folder must be writable
    if not os.access(path, os.W_OK):
        raise StateFileError(path, "the file is not writable")
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StateFileError(path, f"its folder {str(folder)!r} is not writable (SQLite keeps its journal there)")
    _check_schema(path)


def _check_schema(path: Path) -> None:
    # a plain read in a read-write connection: on close, the last connection removes the -wal/-shm
    # files it may have needed (a read-only connection could leave them behind on a WAL database)
    try:
        connection = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StateFileError(path, f"SQLite cannot open it ({exc})") from None
    try:
        connection.execute("PRAGMA query_only = ON")
        has_meta = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        version = (
            connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() if has_meta else None
        )
    except sqlite3.Error as exc:
        raise StateFileError(path, f"SQLite cannot read it ({exc})") from None
    finally:
        connection.close()
    if version is None:
        raise StateFileError(path, "it is an SQLite database but not an emulator state (no emulator schema)")
    if str(version[0]) != SCHEMA_VERSION:
        raise StateFileError(
            path, f"its emulator schema version is {version[0]!r}, this emulator reads version {SCHEMA_VERSION!r}"
        )
