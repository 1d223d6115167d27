"""The invoicing ledger: our durable memory of what we asked Qonto to do.

Qonto has no idempotency key on client or invoice endpoints, so before every create we write an
*intent* row here (committed before the HTTP call). A row left in ``creating`` means "a create may
have happened": the next run must find the object in Qonto before it may create again.
The ledger also enforces, in the database, one invoice per (customer, period) and one reference per
invoice. SQLite by default; any SQLAlchemy URL (PostgreSQL in production) works the same.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from filelock import FileLock
from pydantic import BaseModel, ConfigDict

metadata = sa.MetaData()

client_links = sa.Table(
    "client_links",
    metadata,
    sa.Column("customer_id", sa.String(200), primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=True, unique=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("customer_digest", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("intent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

invoice_records = sa.Table(
    "invoice_records",
    metadata,
    sa.Column("customer_id", sa.String(200), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("reference", sa.String(260), nullable=False, unique=True),
    sa.Column("client_id", sa.String(64), nullable=True),
    sa.Column("invoice_id", sa.String(64), nullable=True, unique=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("content_digest", sa.String(64), nullable=True),
    sa.Column("net_total", sa.String(32), nullable=True),
    sa.Column("vat_total", sa.String(32), nullable=True),
    sa.Column("total", sa.String(32), nullable=True),
    sa.Column("number", sa.String(64), nullable=True),
    sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attachment_id", sa.String(64), nullable=True),
    sa.Column("file_path", sa.String(1024), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("intent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    # the database, not our code, guarantees one invoice per customer and period
    sa.PrimaryKeyConstraint("customer_id", "period", name="pk_invoice_per_customer_period"),
)


class ClientState(StrEnum):
    CREATING = "creating"  # intent written, create call may or may not have reached Qonto
    LINKED = "linked"


class InvoiceState(StrEnum):
    CREATING = "creating"  # intent written, create call may or may not have reached Qonto
    DRAFT = "draft"
    FINALIZED = "finalized"  # numbered by Qonto, waiting for its Factur-X file
    STORED = "stored"  # Factur-X downloaded, verified and stored
    REJECTED = "rejected"  # the downloaded file failed verification (see last_error)


class ClientLink(BaseModel):
    model_config = ConfigDict(frozen=True)
    customer_id: str
    client_id: str | None
    email: str
    customer_digest: str
    state: ClientState
    intent_at: datetime | None
    updated_at: datetime


class InvoiceRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    customer_id: str
    period: str
    reference: str
    client_id: str | None
    invoice_id: str | None
    state: InvoiceState
    content_digest: str | None
    net_total: str | None
    vat_total: str | None
    total: str | None
    number: str | None
    finalized_at: datetime | None
    attachment_id: str | None
    file_path: str | None
    sha256: str | None
    intent_at: datetime | None
    updated_at: datetime
    last_error: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _normalized(values: dict[str, Any]) -> dict[str, Any]:
    """Enum members as their values; datetimes in UTC (SQLite keeps no offset, so store UTC only)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        out[key] = value
    return out


def _aware(value: datetime | None) -> datetime | None:
    # SQLite drops the offset; everything we store is UTC
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class Ledger:
    def __init__(self, url: str, *, lock_dir: Path | None = None) -> None:
        self.url = url
        self._is_sqlite = url.startswith("sqlite")
        connect_args: dict[str, Any] = {}
        if self._is_sqlite:
            path = url.removeprefix("sqlite:///")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            connect_args = {"timeout": 30}
            self._lock_dir = lock_dir or Path(path).parent / "locks"
        else:
            self._lock_dir = lock_dir or Path(".state") / "locks"
        self.engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if self._is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            metadata.create_all(self.engine)
        else:
            # several processes may create the schema at once on an empty database: take turns
            with self.engine.begin() as connection:
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                metadata.create_all(connection)

    def __repr__(self) -> str:
        return f"Ledger({self.engine.url.render_as_string(hide_password=True)!r})"

    def dispose(self) -> None:
        self.engine.dispose()

    # -- mutual exclusion ------------------------------------------------------------------
    @contextmanager
    def period_lock(self, period: str, *, timeout_s: float = 600) -> Iterator[None]:
        """Serialize writers of one billing period across processes and machines.

        A Dagster pool already serializes the steps; this lock makes the guarantee hold for any
        caller (two ``bill`` commands, a UI run and a cron run) whatever the instance config.
        """
        if self._is_sqlite:
            self._lock_dir.mkdir(parents=True, exist_ok=True)
            with FileLock(str(self._lock_dir / f"period-{period}.lock"), timeout=timeout_s):
                yield
            return
        key = _lock_key(f"billing-period:{period}")
        deadline = time.monotonic() + timeout_s
        with self.engine.connect() as connection:
            while not connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"period {period} stayed locked by another writer for {timeout_s:.0f} s")
                time.sleep(0.2)
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()

    @contextmanager
    def clients_lock(self, *, timeout_s: float = 600) -> Iterator[None]:
        """Clients are shared by every period: creating them is serialized across all periods."""
        with self.period_lock("clients", timeout_s=timeout_s):
            yield

    # -- clients ---------------------------------------------------------------------------
    def client_link(self, customer_id: str) -> ClientLink | None:
        with self.engine.connect() as connection:
            row = (
                connection.execute(sa.select(client_links).where(client_links.c.customer_id == customer_id))
                .mappings()
                .first()
            )
        return _client(row) if row else None

    def client_links(self) -> dict[str, ClientLink]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(client_links)).mappings().all()
        return {row["customer_id"]: _client(row) for row in rows}

    def record_client_intent(self, customer_id: str, email: str, customer_digest: str) -> None:
        values = {
            "customer_id": customer_id,
            "client_id": None,
            "email": email,
            "customer_digest": customer_digest,
            "state": ClientState.CREATING.value,
            "intent_at": _now(),
            "updated_at": _now(),
        }
        with self.engine.begin() as connection:
            existing = connection.execute(
                sa.select(client_links.c.state).where(client_links.c.customer_id == customer_id)
            ).first()
            if existing is None:
                connection.execute(sa.insert(client_links).values(**values))
            elif existing.state == ClientState.CREATING.value:
                connection.execute(
                    sa.update(client_links)
                    .where(client_links.c.customer_id == customer_id)
                    .values(intent_at=values["intent_at"], updated_at=values["updated_at"])
                )
            else:
                raise LedgerConflict(f"customer {customer_id} is already linked to a Qonto client")

    def link_client(self, customer_id: str, client_id: str, email: str, customer_digest: str) -> None:
        values = {
            "client_id": client_id,
            "email": email,
            "customer_digest": customer_digest,
            "state": ClientState.LINKED.value,
            "updated_at": _now(),
        }
        with self.engine.begin() as connection:
            updated = connection.execute(
                sa.update(client_links).where(client_links.c.customer_id == customer_id).values(**values)
            ).rowcount
            if not updated:
                connection.execute(sa.insert(client_links).values(customer_id=customer_id, intent_at=None, **values))

    # -- invoices --------------------------------------------------------------------------
    def invoice(self, customer_id: str, period: str) -> InvoiceRecord | None:
        with self.engine.connect() as connection:
            row = (
                connection.execute(
                    sa.select(invoice_records).where(
                        invoice_records.c.customer_id == customer_id, invoice_records.c.period == period
                    )
                )
                .mappings()
                .first()
            )
        return _invoice(row) if row else None

    def invoices(self, period: str | None = None, states: set[InvoiceState] | None = None) -> list[InvoiceRecord]:
        query = sa.select(invoice_records).order_by(invoice_records.c.period, invoice_records.c.customer_id)
        if period is not None:
            query = query.where(invoice_records.c.period == period)
        if states:
            query = query.where(invoice_records.c.state.in_([s.value for s in states]))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [_invoice(row) for row in rows]

    def record_invoice_intent(self, customer_id: str, period: str, reference: str, client_id: str) -> None:
        now = _now()
        with self.engine.begin() as connection:
            existing = connection.execute(
                sa.select(invoice_records.c.state).where(
                    invoice_records.c.customer_id == customer_id, invoice_records.c.period == period
                )
            ).first()
            if existing is None:
                connection.execute(
                    sa.insert(invoice_records).values(
                        customer_id=customer_id,
                        period=period,
                        reference=reference,
                        client_id=client_id,
                        state=InvoiceState.CREATING.value,
                        intent_at=now,
                        updated_at=now,
                    )
                )
            elif existing.state == InvoiceState.CREATING.value:
                connection.execute(
                    sa.update(invoice_records)
                    .where(invoice_records.c.customer_id == customer_id, invoice_records.c.period == period)
                    .values(intent_at=now, updated_at=now, client_id=client_id)
                )
            else:
                raise LedgerConflict(
                    f"an invoice for customer {customer_id} and period {period} already exists ({existing.state})"
                )

    def update_invoice(self, customer_id: str, period: str, **values: Any) -> None:
        values = _normalized(values)
        values["updated_at"] = _now()
        with self.engine.begin() as connection:
            updated = connection.execute(
                sa.update(invoice_records)
                .where(invoice_records.c.customer_id == customer_id, invoice_records.c.period == period)
                .values(**values)
            ).rowcount
        if not updated:
            raise LedgerConflict(f"no ledger row for customer {customer_id} and period {period}")

    def upsert_invoice(self, customer_id: str, period: str, reference: str, **values: Any) -> None:
        """Adopt an invoice found in Qonto (e.g. after the ledger was lost or a response was lost)."""
        values = _normalized(values)
        with self.engine.begin() as connection:
            exists = connection.execute(
                sa.select(invoice_records.c.reference).where(
                    invoice_records.c.customer_id == customer_id, invoice_records.c.period == period
                )
            ).first()
            if exists:
                connection.execute(
                    sa.update(invoice_records)
                    .where(invoice_records.c.customer_id == customer_id, invoice_records.c.period == period)
                    .values(updated_at=_now(), **values)
                )
            else:
                connection.execute(
                    sa.insert(invoice_records).values(
                        customer_id=customer_id, period=period, reference=reference, updated_at=_now(), **values
                    )
                )


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


_SCHEMA_LOCK_KEY = _lock_key("billing-ledger-schema")


class LedgerConflict(RuntimeError):
    """A write that would break one-client-per-customer or one-invoice-per-customer-and-period."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _client(row: Any) -> ClientLink:
    data = dict(row)
    data["intent_at"] = _aware(data["intent_at"])
    data["updated_at"] = _aware(data["updated_at"])
    return ClientLink.model_validate(data)


def _invoice(row: Any) -> InvoiceRecord:
    data = dict(row)
    for key in ("finalized_at", "intent_at", "updated_at"):
        data[key] = _aware(data[key])
    return InvoiceRecord.model_validate(data)
