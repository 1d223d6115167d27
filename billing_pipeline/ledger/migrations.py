"""A versioned ledger schema: create, add what is missing, run numbered migrations, record the version.

``ledger_schema_version`` holds one row per version the database reached. Version 1 is the baseline:
the schema of the release that had no version table. ``migrate`` does, in ONE transaction:

1. takes the schema lock (PostgreSQL: ``pg_advisory_xact_lock``; SQLite: ``BEGIN IMMEDIATE``), so
   processes that start together on one database take turns and the later ones find it done;
2. reads the stored version: a database with ledger tables but no version table is adopted as the
   baseline; one whose version is newer than the code's is refused (no downgrades) before any change;
3. creates missing tables, then adds every missing *nullable* column of every table in the metadata
   (columns are only ever added, so an older release's rows stay as they are);
4. runs the numbered migrations above the stored version, in order (what the generic step cannot do:
   a NOT NULL column, a back-fill, an index);
5. checks every column of the metadata now exists, then records the code's version.

Any failure rolls the whole transaction back: the database stays at its previous version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from billing_pipeline.ledger.clock import db_now

BASELINE_VERSION = 1
"""The schema of the release before versioning (a86cc62): adopted as is."""

VERSION_TABLE = "ledger_schema_version"

Migration = Callable[[sa.Connection], None]
"""One explicit migration: runs inside the migrate transaction, on its connection (it must not commit:
the migration, the others and the new version are recorded together or not at all)."""

_version_metadata = sa.MetaData()
schema_versions = sa.Table(
    VERSION_TABLE,
    _version_metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer release than this code: refused, never downgraded."""


class SchemaMismatch(RuntimeError):
    """After the migrations, the database still lacks columns the code expects."""


@dataclass(frozen=True)
class MigrationReport:
    """What one ``migrate`` call found and did (empty lists: the database was already up to date)."""

    found_version: int | None  # None: an empty database
    version: int
    adopted: bool = False  # a pre-versioning database taken as the baseline
    created_tables: list[str] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)  # "table.column"
    applied: list[int] = field(default_factory=list)  # numbered migrations run

    @property
    def changed(self) -> bool:
        return bool(self.found_version != self.version or self.created_tables or self.added_columns)


def code_version(migrations: Mapping[int, Migration]) -> int:
    """The version this code brings a database to: the last migration's number (the baseline without any)."""
    numbers = sorted(migrations)
    expected = list(range(BASELINE_VERSION + 1, BASELINE_VERSION + 1 + len(numbers)))
    if numbers != expected:
        # a gap is a migration lost in a merge; 1 or less would rewrite the baseline
        raise ValueError(
            f"ledger migrations must be numbered {BASELINE_VERSION + 1}, {BASELINE_VERSION + 2}… without gaps; "
            f"got {numbers}"
        )
    return numbers[-1] if numbers else BASELINE_VERSION


def lock_key(name: str) -> int:
    """A PostgreSQL advisory-lock key (signed 64-bit) for a lock name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


# the key the release before versioning took around its create_all: old and new processes starting
# together on one database still take turns
SCHEMA_LOCK_KEY = lock_key("billing-ledger-schema")


def migrate(
    engine: sa.Engine, metadata: sa.MetaData, migrations: Mapping[int, Migration] | None = None
) -> MigrationReport:
    """Bring the ledger at ``engine`` to the schema of ``metadata`` plus ``migrations`` (see the module doc).

    Idempotent, and safe to call from several processes at once.
    """
    migrations = dict(migrations or {})
    target = code_version(migrations)
    if VERSION_TABLE in metadata.tables:
        raise ValueError(f"{VERSION_TABLE} belongs to the migrations; the ledger's metadata must not declare it")
    with engine.connect() as connection:
        _take_schema_lock(connection)
        try:
            report = _migrate_locked(connection, metadata, migrations, target)
        except BaseException:
            connection.rollback()
            raise
        connection.commit()
    return report


def stored_version(connection: sa.Connection) -> int | None:
    """The version recorded in the database (``None``: no version table)."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(sa.select(sa.func.max(schema_versions.c.version))).scalar()


def _take_schema_lock(connection: sa.Connection) -> None:
    if connection.dialect.name == "sqlite":
        # pysqlite would run the DDL below outside any transaction, each statement racing the
        # other process's; BEGIN IMMEDIATE takes the database's write lock now (waiting up to
        # busy_timeout for a migrating process to commit) and makes the DDL transactional
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
    else:
        raise NotImplementedError(f"ledger migrations support SQLite and PostgreSQL, not {connection.dialect.name}")


def _migrate_locked(
    connection: sa.Connection, metadata: sa.MetaData, migrations: dict[int, Migration], target: int
) -> MigrationReport:
    inspector = sa.inspect(connection)
    present = set(inspector.get_table_names())
    found = stored_version(connection)
    adopted = False
    if found is None and present & set(metadata.tables):
        found, adopted = BASELINE_VERSION, True
    if found is not None and found > target:
        raise SchemaTooNew(
            f"the ledger database is at schema version {found}, newer than this code's version {target}: "
            "it was migrated by a newer release; run that release (the ledger is never downgraded)"
        )
    created = sorted(name for name in metadata.tables if name not in present)
    _version_metadata.create_all(connection)
    metadata.create_all(connection)
    added = _add_missing_nullable_columns(connection, metadata)
    applied: list[int] = []
    if found is not None:  # an empty database is created at the code's version: nothing to transform
        for number in sorted(migrations):
            if number > found:
                migrations[number](connection)
                applied.append(number)
    _check_columns(connection, metadata)
    # one row per version reached: the adopted baseline, each migration run, or a fresh creation
    reached = ([BASELINE_VERSION] if adopted else []) + applied + ([target] if found is None else [])
    now = db_now(connection)
    for version in reached:
        connection.execute(sa.insert(schema_versions).values(version=version, applied_at=now))
    return MigrationReport(
        found_version=found, version=target, adopted=adopted, created_tables=created, added_columns=added,
        applied=applied,
    )  # fmt: skip


def _add_missing_nullable_columns(connection: sa.Connection, metadata: sa.MetaData) -> list[str]:
    inspector = sa.inspect(connection)
    preparer = connection.dialect.identifier_preparer
    added: list[str] = []
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name, schema=table.schema)}
        for column in table.columns:
            if column.name in present or not _addable(column):
                continue  # a column the generic step cannot add is a numbered migration's job
            kind = column.type.compile(dialect=connection.dialect)
            connection.execute(
                sa.text(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {preparer.quote(column.name)} {kind}")
            )
            added.append(f"{table.name}.{column.name}")
    return added


def _addable(column: sa.Column) -> bool:
    # ALTER TABLE … ADD COLUMN keeps old rows only for a plain nullable column: a NOT NULL one has
    # no value for them, and SQLite cannot add a UNIQUE, PRIMARY KEY or REFERENCES column in place
    return bool(column.nullable) and not (
        column.primary_key or column.unique or column.foreign_keys or column.index or column.server_default
    )


def _check_columns(connection: sa.Connection, metadata: sa.MetaData) -> None:
    inspector = sa.inspect(connection)
    missing: list[str] = []
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name, schema=table.schema)}
        missing += [f"{table.name}.{column.name}" for column in table.columns if column.name not in present]
    if missing:
        raise SchemaMismatch(
            f"the ledger lacks {', '.join(missing)} after migrating: a column that is not plain nullable "
            "(NOT NULL, unique, indexed, a key or with a default) needs a numbered migration that adds it"
        )
