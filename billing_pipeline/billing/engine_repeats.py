"""The ids used more than once in a month, found on DuckDB: in one GROUP BY, or bucket by bucket.

Finding repeated ``event_id``s needs every id of the month at once: a GROUP BY of their 64-bit
hashes (``engine_plan.repeated_keys``). Its hash table is ~60 bytes a row in DuckDB; beyond its
``memory_limit`` DuckDB spills it, rewriting partitions as they grow: at 10^9 events more than the
60 GB of disk a 2 GB-capped read had (it stopped with "No space left on device"). With ``buckets``
> 1 the hashes are instead written once to a Parquet file (8 bytes a row, streamed), then each
bucket — the hashes of one ``hash % buckets`` — is grouped on its own, reading that file again: a
hash table a ``buckets``-th the size, held in memory. The repeated keys of all buckets are the
result; the hashes' folder is temporary.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa

# rows per bucket: a GROUP BY of this many 64-bit keys stays well within a 2 GB memory_limit
ROWS_PER_BUCKET = 40_000_000


def buckets_for(rows: int) -> int:
    """How many buckets to find the repeats of ``rows`` rows in (1 = one GROUP BY)."""
    return max(1, -(-rows // ROWS_PER_BUCKET))


def repeated_keys_by_bucket(con: Any, keys_sql: str, buckets: int) -> pa.Table:
    """The ``_rid`` keys used more than once among the ``_key`` rows of ``keys_sql`` (DuckDB SQL),
    found bucket by bucket on the DuckDB connection ``con``."""
    with tempfile.TemporaryDirectory(prefix="billing-usage-ids-") as folder:
        keys = Path(folder) / "keys.parquet"
        # statements of ibis' compiled SQL and our own temporary folder, nothing from outside
        # (COPY takes no parameter); relations' to_arrow_table is there in every DuckDB >= 1.1.
        # One file written as the rows stream by: a partitioned COPY buffers every partition and
        # spilled 40+ GB at 10^9 rows; each bucket then reads the file again (8 bytes a row).
        con.execute(f"COPY (SELECT _key FROM ({keys_sql})) TO '{_quoted(keys)}' (FORMAT parquet)")  # noqa: S608
        repeated = (
            "SELECT _key AS _rid FROM read_parquet('{file}') WHERE _key % {buckets} = {bucket} "
            "GROUP BY _key HAVING count(*) > 1"
        )
        return pa.concat_tables(
            con.sql(repeated.format(file=_quoted(keys), buckets=int(buckets), bucket=bucket)).to_arrow_table()
            for bucket in range(buckets)
        )


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
