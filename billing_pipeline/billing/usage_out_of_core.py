"""Usage files beyond the file reader's memory: read in place by an embedded DuckDB, out of core.

The file reader (``usage_reader``) keeps a 64-bit hash of every row's ``event_id`` to find repeats:
about 0.8 GB per 10^8 rows, plus 0.3 GB. Up to ``FILE_READER_ROWS`` rows it is the faster path
(measured in ``benchmarks/engine.py`` on 10^7 events: 2.0x faster than DuckDB at equal memory),
so it stays the default. Beyond, a month of Parquet files is handed to the one engine aggregation
(``engine_plan``) on an embedded DuckDB capped at ``ENGINE_MEMORY``, which spills what does not fit
to a temporary folder (``TMPDIR``) instead of needing the RAM: 10^9 events in under 4 GB.

Only Parquet files are handed over: their row counts are in their footers (nothing is read to
decide), and their columns are typed. A month of CSV files is read by the file reader whatever its
size. A problem found by the engine names the usage folder and the event's ``event_id`` (not a row
number: the engine never orders the month to number its rows).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq

from billing_pipeline.billing.coverage import UsageSpans
from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.price_plans import Aggregation
from billing_pipeline.billing.usage_reader import UsageTotals

logger = logging.getLogger(__name__)

# 2 x 10^8 rows keep the file reader under 2 GB (0.8 GB per 10^8 rows + 0.3 GB)
FILE_READER_ROWS = 200_000_000
# DuckDB's own cap; the process adds ~0.5 GB (Python, pricing), hence < 4 GB at any size
ENGINE_MEMORY = "2GB"


def rows_beyond_the_reader(paths: Sequence[Path]) -> int | None:
    """The files' row count if they are all Parquet and hold more than ``FILE_READER_ROWS``
    rows; None otherwise (the file reader reads them, and reports any unreadable file)."""
    if not paths or any(path.suffix.lower() != ".parquet" for path in paths):
        return None
    rows = 0
    for path in paths:
        try:
            rows += pq.read_metadata(path).num_rows
        except (OSError, ValueError):  # not Parquet after all: the file reader names it
            return None
    return rows if rows > FILE_READER_ROWS else None


def read_out_of_core(
    paths: Sequence[Path],
    rows: int,
    period: BillingPeriod,
    zone: ZoneInfo,
    *,
    customers: Collection[str] | None,
    metrics: Collection[str] | None,
    aggregations: Mapping[str, Aggregation] | None,
    spans: UsageSpans | None,
    label: str,
) -> UsageTotals:
    """The files' usage through the engine on an embedded DuckDB spilling to a temporary folder."""
    from billing_pipeline.billing.engine_repeats import buckets_for
    from billing_pipeline.billing.sql_usage import SqlUsageSource

    with tempfile.TemporaryDirectory(prefix="billing-usage-spill-") as spill:
        logger.info(
            "%s: %d rows in %d Parquet files, more than the file reader holds (%d): read by an embedded DuckDB "
            "(memory_limit %s, spilling to %s)",
            label,
            rows,
            len(paths),
            FILE_READER_ROWS,
            ENGINE_MEMORY,
            spill,
        )
        source = SqlUsageSource(
            f"duckdb://?memory_limit={ENGINE_MEMORY}&temp_directory={quote(spill, safe='/')}",
            table=label,
            parquet_files=tuple(str(path) for path in paths),
            id_buckets=buckets_for(rows),
        )
        usage = source.read(period, zone, customers=customers, metrics=metrics, aggregations=aggregations, spans=spans)
    return dataclasses.replace(usage, files=len(paths))
