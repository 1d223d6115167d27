"""``unique_key`` as read: strings (CSV, SQL) or a dictionary per row group (Parquet: read as one).

Distinct counts must not depend on how the keys came: which file format, how many row groups (each
with its own dictionary), files of both formats in one folder, a dictionary whose entries repeat.
Every test names its period and instants: nothing depends on today's date.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_pipeline.billing.periods import BillingPeriod
from billing_pipeline.billing.usage import read_usage
from billing_pipeline.billing.usage_arrays import Strings
from billing_pipeline.billing.usage_columns import missing_strings

PARIS = ZoneInfo("Europe/Paris")
OCTOBER = BillingPeriod.parse("2026-10")
AGGREGATIONS = {"users": "unique_count", "calls": "sum"}
START = datetime(2026, 10, 1, 8, tzinfo=ZoneInfo("UTC"))
NO_KEY = "metric users counts distinct unique_key values: this event has none"


def _table(rows: list[tuple[str, str, str, str | None]], keys: pa.DataType | None = None) -> pa.Table:
    """(event_id, customer_id, metric, unique_key) rows, an hour apart from 1 October 2026."""
    return pa.table(
        {
            "event_id": [row[0] for row in rows],
            "customer_id": [row[1] for row in rows],
            "metric": [row[2] for row in rows],
            "quantity": pa.array([1] * len(rows), pa.int64()),
            "timestamp": pa.array(
                [START + timedelta(hours=index) for index in range(len(rows))], pa.timestamp("us", tz="UTC")
            ),
            "unique_key": pa.array([row[3] for row in rows], pa.string()).cast(keys or pa.string()),
        }
    )


def _write_csv(path: Path, table: pa.Table) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.column_names)
        for row in table.to_pylist():
            ids = (row[name] for name in ("event_id", "customer_id", "metric", "quantity"))
            writer.writerow([*ids, row["timestamp"].isoformat(), row["unique_key"] or ""])


_rows = st.lists(
    st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.sampled_from(["ann", "bob", "cy", "dee", "éa"])),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    drawn=_rows,
    cut=st.integers(0, 60),
    group_rows=st.integers(1, 7),
    formats=st.sampled_from([("parquet", "parquet"), ("parquet", "csv"), ("csv", "parquet"), ("csv", "csv")]),
    keys=st.sampled_from([pa.string(), pa.large_string(), pa.dictionary(pa.int32(), pa.string())]),
)
def test_distinct_keys_count_once_however_the_files_hold_them(
    tmp_path_factory, drawn: list, cut: int, group_rows: int, formats: tuple[str, str], keys: pa.DataType
) -> None:
    usage = tmp_path_factory.mktemp("keys") / "usage"
    usage.mkdir()
    rows = [(f"e{index:03d}", customer, "users", user) for index, (customer, user) in enumerate(drawn)]
    parts = [rows[:cut], rows[cut:]]
    for index, (kind, part) in enumerate(zip(formats, parts, strict=True)):
        if not part:
            continue
        table = _table(part, keys)
        if kind == "parquet":  # small row groups: a dictionary each, unified when read
            pq.write_table(table, usage / f"part{index}.parquet", row_group_size=group_rows)
        else:
            _write_csv(usage / f"part{index}.csv", table)
    result = read_usage(usage, OCTOBER, PARIS, aggregations=AGGREGATIONS)
    assert not result.problems
    expected: dict[str, set[str]] = {}
    for customer, user in drawn:
        expected.setdefault(customer, set()).add(user)
    assert result.quantities == {customer: {"users": Decimal(len(users))} for customer, users in expected.items()}


def test_a_key_missing_from_a_parquet_dictionary_is_a_problem_with_its_row(tmp_path: Path) -> None:
    usage = tmp_path / "usage"
    usage.mkdir()
    rows = [
        ("e1", "c1", "users", "ann"),
        ("e2", "c1", "users", None),  # null
        ("e3", "c1", "users", ""),  # empty
        ("e4", "c1", "calls", None),  # not a unique_count metric: no key needed
        ("e5", "c1", "users", "ann"),
    ]
    pq.write_table(_table(rows), usage / "events.parquet", row_group_size=3)
    result = read_usage(usage, OCTOBER, PARIS, aggregations=AGGREGATIONS)
    assert [(p.file, p.row, p.field, p.reason) for p in result.problems] == [
        ("usage/events.parquet", 2, "unique_key", NO_KEY),
        ("usage/events.parquet", 3, "unique_key", NO_KEY),
    ]
    assert result.quantities == {"c1": {"users": Decimal(1), "calls": Decimal(1)}}


def test_missing_strings_looks_at_a_dictionary_once_per_value() -> None:
    dictionary = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 2, 0], pa.int32()), pa.array(["a", "", None]))
    assert missing_strings(dictionary).tolist() == [False, True, True, True, False]
    assert missing_strings(pa.array(["a", "", None])).tolist() == [False, True, True]


def test_repeated_dictionary_entries_are_one_value() -> None:
    """A dictionary is not a set: another writer's may repeat an entry, a row group's holds values
    no kept row has. Equal strings get equal codes all the same, below the count given."""
    values = pa.DictionaryArray.from_arrays(
        pa.array([0, 1, 3, None, 2, 1], pa.int32()), pa.array(["ann", "bob", "ann", "cy", "unused"])
    )
    rows = np.arange(6)
    codes, count = Strings(lambda: rows, values).codes_where(np.ones(6, dtype=bool))
    assert codes[0] == codes[4] and codes[1] == codes[5] and codes[3] == -1
    assert len({int(code) for code in codes if code >= 0}) == 3  # ann, bob, cy
    assert count == 4 and int(codes.max()) < count  # the distinct entries, the unused one too
    picked, _ = Strings(lambda: rows, values).codes_where(np.array([False, True, False, False, True, False]))
    assert picked.tolist() == [codes[1], codes[4]]
