"""The ledger kernel: what every ledger table shares, written once.

- ``StateMachine``: a table's states and transitions, declared as data and validated when built;
- ``move`` / ``refresh``: the one way a row changes (locked read, machine check, database clock,
  error text cut to ``ERROR_TEXT_LIMIT``);
- ``migrate``: a versioned schema (``ledger_schema_version``), adopting the unversioned release;
- ``LedgerEngine``: engine + migration + ``now()`` + cross-process ``lock(name)``;
- ``Money`` / ``DecimalString``: exact amounts at the record boundary.

It imports neither Dagster nor the invoicing code: the tables live with the code that owns them.
"""

from billing_pipeline.ledger.amounts import DecimalString, Money, money_or_none, parse_amount
from billing_pipeline.ledger.clock import DB_NOW, db_now
from billing_pipeline.ledger.engine import LedgerEngine, redacted
from billing_pipeline.ledger.machine import IllegalTransition, LedgerConflict, StateMachine
from billing_pipeline.ledger.migrations import (
    BASELINE_VERSION,
    Migration,
    MigrationReport,
    SchemaMismatch,
    SchemaTooNew,
    migrate,
)
from billing_pipeline.ledger.moves import ERROR_TEXT_LIMIT, as_utc, cut_error, move, refresh, write_transaction

__all__ = [
    "BASELINE_VERSION",
    "DB_NOW",
    "ERROR_TEXT_LIMIT",
    "DecimalString",
    "IllegalTransition",
    "LedgerConflict",
    "LedgerEngine",
    "Migration",
    "MigrationReport",
    "Money",
    "SchemaMismatch",
    "SchemaTooNew",
    "StateMachine",
    "as_utc",
    "cut_error",
    "db_now",
    "migrate",
    "money_or_none",
    "move",
    "parse_amount",
    "redacted",
    "refresh",
    "write_transaction",
]
