"""Store Factur-X files atomically, under names we choose, never overwriting different bytes."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UnsafeFileName(ValueError):
    pass


class StoredFileConflict(RuntimeError):
    """A different file already sits at the path: we never overwrite a stored invoice."""


def safe_file_name(invoice_number: str) -> str:
    """A file name derived from the invoice number only (never from a server-given file name)."""
    stem = _UNSAFE.sub("_", invoice_number).strip("._")
    if not stem:
        raise UnsafeFileName(f"invoice number {invoice_number!r} gives no usable file name")
    return f"{stem}.pdf"


def store_atomically(folder: Path, file_name: str, content: bytes) -> tuple[Path, str]:
    """Write ``content`` to ``folder/file_name`` via a temp file + rename; return (path, sha256)."""
    if Path(file_name).name != file_name or file_name in {"", ".", ".."}:
        raise UnsafeFileName(f"{file_name!r} is not a plain file name")
    folder.mkdir(parents=True, exist_ok=True)
    target = (folder / file_name).resolve()
    if target.parent != folder.resolve():
        raise UnsafeFileName(f"{file_name!r} would leave {folder}")
    digest = hashlib.sha256(content).hexdigest()
    if target.exists():
        existing = hashlib.sha256(target.read_bytes()).hexdigest()
        if existing == digest:
            return target, digest
        raise StoredFileConflict(f"{target} already holds different bytes (sha256 {existing}); not overwritten")
    handle, temp_name = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".pdf")
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(content)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    (folder / f"{file_name}.sha256").write_text(f"{digest}  {file_name}\n")
    return target, digest
