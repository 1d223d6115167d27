"""What one emulator app instance holds: its config, the state store, the PDF renderer, randomness.

Initialisation is lazy (first request), because ``httpx.ASGITransport`` never runs the ASGI
lifespan; it is idempotent, so several processes may start on one state file at once.
"""

from __future__ import annotations

import importlib
import random
import threading
from pathlib import Path
from typing import Any, Protocol

from .config import EmulatorConfig
from .seed import SEEDED_META, seed
from .store import BUSINESS_TABLES, TRAFFIC_TABLES, Store, business_now_ms, get_meta


class DocumentRenderer(Protocol):
    def render_draft_pdf(self, invoice: dict[str, Any], organization: dict[str, Any]) -> bytes: ...

    def render_facturx_pdf(self, invoice: dict[str, Any], organization: dict[str, Any]) -> bytes: ...

    def render_credit_note_pdf(self, credit_note: dict[str, Any], organization: dict[str, Any]) -> bytes: ...

    def render_plain_invoice_pdf(self, invoice: dict[str, Any], organization: dict[str, Any]) -> bytes: ...

    def render_plain_credit_note_pdf(self, credit_note: dict[str, Any], organization: dict[str, Any]) -> bytes: ...


def default_renderer() -> DocumentRenderer:
    # imported on first render only: the PDF stack is heavy and most requests never need it
    module: Any = importlib.import_module("billing_pipeline.emulator.documents")
    return module  # type: ignore[no-any-return]


class EmulatorRuntime:
    def __init__(self, config: EmulatorConfig, renderer: DocumentRenderer | None = None) -> None:
        self.config = config
        self.store = Store(config.state_path)
        self._renderer = renderer
        self._random = random.Random(config.seed)  # noqa: S311 - fault injection, not security
        self._random_lock = threading.Lock()
        self._ready = False
        self._init_lock = threading.Lock()

    @property
    def renderer(self) -> DocumentRenderer:
        if self._renderer is None:
            self._renderer = default_renderer()
        return self._renderer

    def random(self) -> float:
        with self._random_lock:
            return self._random.random()

    def ensure_ready(self) -> None:
        if self._ready:
            return
        with self._init_lock:
            if self._ready:
                return
            self.store.create_schema()
            with self.store.write() as connection:
                if get_meta(connection, SEEDED_META) is None:
                    seed(connection, business_now_ms(connection))
            self._ready = True

    def reset(self, *, traffic_only: bool = False) -> None:
        """Wipe the state back to the freshly seeded organization (or only the traffic records)."""
        self.ensure_ready()
        written: list[str] = []
        with self.store.write() as connection:
            for table in TRAFFIC_TABLES:
                connection.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            if traffic_only:
                return
            # the outbox goes with the records: only the files the emulator itself wrote
            written = [row["path"] for row in connection.execute("SELECT path FROM sent_emails")]
            for table in BUSINESS_TABLES:
                connection.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            connection.execute("DELETE FROM meta WHERE key != 'schema_version'")
            connection.execute(
                "DELETE FROM sqlite_sequence"
                " WHERE name IN ('clients', 'invoices', 'credit_notes', 'sent_emails', 'transactions')"
            )
            seed(connection, business_now_ms(connection))
        for path in written:
            Path(path).unlink(missing_ok=True)

    def close(self) -> None:
        self.store.close()
