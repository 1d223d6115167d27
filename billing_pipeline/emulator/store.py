"""The emulator's SQLite state file, shared by every process that points at it.

WAL mode lets readers proceed while one process writes; every write (numbering above all) runs
in ``BEGIN IMMEDIATE`` so two processes can never interleave a read-modify-write. Connections are
kept per thread because Starlette runs the blocking work in a thread pool.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .clock import wall_ms

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS organization (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clients (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    name_key TEXT NOT NULL,
    email_key TEXT,
    tin_key TEXT,
    vat_key TEXT,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS invoices (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    status TEXT NOT NULL,
    number TEXT,
    requested_number TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finalized_at INTEGER,
    due_date TEXT NOT NULL,
    attachment_id TEXT NOT NULL,
    data TEXT NOT NULL,
    client_snapshot TEXT
);
CREATE INDEX IF NOT EXISTS invoices_created ON invoices (created_at, seq);
CREATE INDEX IF NOT EXISTS invoices_number ON invoices (number);
CREATE INDEX IF NOT EXISTS invoices_requested_number ON invoices (requested_number);
-- invoice_id names the owner: a client invoice, or a credit note (kind 'credit_note')
CREATE TABLE IF NOT EXISTS attachment_versions (
    attachment_id TEXT NOT NULL,
    version_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    invoice_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    pdf BLOB,
    PRIMARY KEY (attachment_id, version_ms)
);
CREATE TABLE IF NOT EXISTS number_sequences (year INTEGER PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS credit_notes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    invoice_id TEXT NOT NULL,
    number TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    attachment_id TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    data TEXT NOT NULL,
    client_snapshot TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS credit_notes_invoice ON credit_notes (invoice_id, created_at, seq);
CREATE INDEX IF NOT EXISTS credit_notes_updated ON credit_notes (updated_at, seq);
CREATE TABLE IF NOT EXISTS credit_note_sequences (year INTEGER PRIMARY KEY, last INTEGER NOT NULL);
-- bank movements on the organization accounts (GET /v2/transactions), amounts in cents
CREATE TABLE IF NOT EXISTS transactions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    bank_account_id TEXT NOT NULL,
    status TEXT NOT NULL,
    side TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    signed_cents INTEGER NOT NULL,
    settled_at INTEGER,
    emitted_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_account ON transactions (bank_account_id, settled_at, seq);
-- one row per POST …/send: the .eml written into the outbox (n counts per invoice, from 1)
CREATE TABLE IF NOT EXISTS sent_emails (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id TEXT NOT NULL,
    number TEXT NOT NULL,
    n INTEGER NOT NULL,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    file_name TEXT NOT NULL,
    path TEXT NOT NULL,
    copy_to_self INTEGER NOT NULL,
    sent_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sent_emails_invoice ON sent_emails (invoice_id, n);
-- one row per invoice ever submitted with send_by_einvoice, the lifecycle is derived from it
CREATE TABLE IF NOT EXISTS einvoice_submissions (
    invoice_id TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    submitted_at INTEGER NOT NULL,
    step_ms INTEGER NOT NULL,
    buyer_siren TEXT NOT NULL,
    refused INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS oauth_refresh_tokens (
    token TEXT PRIMARY KEY,
    issued_at INTEGER NOT NULL,
    first_used_at INTEGER,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS oauth_access_tokens (token TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS api_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    admitted INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS api_requests_ts ON api_requests (ts_ms);
CREATE TABLE IF NOT EXISTS stat_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS download_header_names (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    method TEXT NOT NULL,
    path_regex TEXT NOT NULL,
    remaining INTEGER NOT NULL,
    params TEXT NOT NULL
);
"""

# every table a reset wipes (meta keeps the signing key so old URLs stay verifiable as "bad")
BUSINESS_TABLES = (
    "organization",
    "clients",
    "invoices",
    "attachment_versions",
    "number_sequences",
    "credit_notes",
    "credit_note_sequences",
    "transactions",
    "sent_emails",
    "einvoice_submissions",
    "oauth_refresh_tokens",
    "oauth_access_tokens",
)
TRAFFIC_TABLES = ("api_requests", "stat_counters", "download_header_names", "faults")

CLOCK_OFFSET_KEY = "clock_offset_ms"


class Store:
    """Opens the state file lazily; ``write()``/``read()`` yield a connection inside a transaction."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        # bumped by close(): per-thread connections of an older generation are reopened
        self._generation = 0

    def _connect(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and getattr(self._local, "generation", -1) == self._generation:
            return connection
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are opened explicitly below
        connection = sqlite3.connect(
            self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        self._local.connection = connection
        self._local.generation = self._generation
        with self._lock:
            self._connections.append(connection)
        return connection

    def create_schema(self) -> None:
        with self.write() as connection:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
            )

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        # threads of one process queue on a lock: SQLite's busy handler would sleep in steps of
        # milliseconds; other processes still serialize through BEGIN IMMEDIATE
        with self._write_lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        connection = self._connect()
        connection.execute("BEGIN")
        try:
            yield connection
        finally:
            connection.execute("COMMIT")

    def close(self) -> None:
        """Close every connection; the store stays usable and reconnects on the next transaction."""
        with self._lock:
            self._generation += 1
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()


def get_meta(connection: sqlite3.Connection, key: str) -> str | None:
    row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row["value"])


def set_meta(connection: sqlite3.Connection, key: str, value: str) -> None:
    connection.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def business_now_ms(connection: sqlite3.Connection) -> int:
    """Wall time plus the offset set through ``POST /_emulator/clock``."""
    offset = get_meta(connection, CLOCK_OFFSET_KEY)
    return wall_ms() + (int(offset) if offset else 0)
