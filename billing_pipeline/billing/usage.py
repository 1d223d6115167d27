"""Usage events: read every file, keep the billing period, check rows, drop duplicates, add up.

Events live in ``usage/`` as CSV or Parquet files, any number of them, with the columns
``event_id, customer_id, metric, quantity, timestamp``. An event belongs to the period that
contains its timestamp in the billing time zone. Only rows of the period are checked (a bad row
of another month is that month's problem), except a row whose timestamp cannot be read: it could
belong to any period, so it is always reported.

Work is done on Arrow batches with vectorized kernels; Python loops only run over the small
per-batch dictionaries of customer ids and metrics, and over rows that are being reported.

The checks do not care where the batches come from: ``UsageReader.read_batches`` is also what the
SQL source (``sql_usage.py``) feeds, so files and tables share every rule and every message. A
``UsageSource`` is what ``plan_period`` reads usage from: ``FileUsageSource`` (``usage/``, the
default) or ``sql_usage.SqlUsageSource``.
"""

from __future__ import annotations

import array
import csv
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from billing_pipeline.billing.models import InputProblem, InvalidBillingInput
from billing_pipeline.billing.periods import BillingPeriod, time_zone
from billing_pipeline.billing.problems import ROWS_LISTED_PER_KIND, ProblemLog
from billing_pipeline.billing.usage_columns import (
    QUANTITY_TYPE,
    Checked,
    plain_strings,
    quantities,
    string_hashes,
    timestamps,
)

COLUMNS = ("event_id", "customer_id", "metric", "quantity", "timestamp")
USAGE_SUFFIXES = (".csv", ".parquet")
_BATCH_ROWS = 1 << 20
_CSV_BLOCK_BYTES = 32 << 20
_ID_TYPES = "a string"
_INT64_LIMIT = 2**63 - 1


@dataclass(frozen=True)
class UsageTotals:
    """Used quantity per customer and metric for one period, and what it took to get there."""

    quantities: dict[str, dict[str, Decimal]]
    files: int
    rows_read: int
    rows_in_period: int
    duplicate_events: int
    problems: list[InputProblem]

    @property
    def customers(self) -> frozenset[str]:
        """Customers with at least one event in the period."""
        return frozenset(self.quantities)


@dataclass
class UsageOrigin:
    """Where a stream of usage rows comes from (a file, a table), as problems name it.

    ``row_number`` turns a 0-based record index of the stream into the ``row`` of a problem;
    ``noun`` is how a message names such a row ("line", "record", "row").
    """

    label: str
    rows: int = 0

    @property
    def noun(self) -> str:
        return "record"

    def row_number(self, record: int, log: ProblemLog) -> int:
        """The 1-based position of a record in the stream."""
        return record + 1


@dataclass(kw_only=True)
class _UsageFile(UsageOrigin):
    path: Path
    needs_scan: bool = False  # a CSV whose malformed rows must be located line by line
    _lines: array.array | None = None

    @property
    def is_csv(self) -> bool:
        return self.path.suffix.lower() == ".csv"

    @property
    def noun(self) -> str:
        return "line" if self.is_csv else "record"

    def scan(self, log: ProblemLog) -> None:
        """Physical line of every data record (CSV), reporting malformed rows on the way."""
        if self._lines is not None or not self.is_csv:
            return
        self._lines = array.array("q")
        with self.path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            width = len(next(reader, []))
            line = reader.line_num + 1
            for record in reader:
                start, line = line, reader.line_num + 1
                if not record:
                    continue
                if len(record) != width:
                    if self.needs_scan:
                        log.add(self.label, f"expected {width} cells, found {len(record)}", row=start)
                    continue
                self._lines.append(start)

    def row_number(self, record: int, log: ProblemLog) -> int:
        """The line (CSV, header = 1) or 1-based record number (Parquet) of a data record."""
        if not self.is_csv:
            return record + 1
        self.scan(log)
        assert self._lines is not None
        return self._lines[record] if record < len(self._lines) else record + 2


@dataclass
class _RowIssues:
    """Rows with one problem in one file: a count and the first few, to be reported."""

    count: int = 0
    examples: list[tuple[int, object]] = field(default_factory=list)


@dataclass
class _Kept:
    """The valid in-period rows of one batch, in compact columns."""

    file: int
    records: np.ndarray
    event_ids: pa.Array
    hashes: np.ndarray
    customers: np.ndarray
    metrics: np.ndarray
    quantities: pa.Array
    instants: np.ndarray


class _Codes:
    """Dense integer codes for customer ids or metrics, checked against the known values."""

    def __init__(self, known: Collection[str] | None) -> None:
        self.known = None if known is None else frozenset(known)
        self.code_of: dict[str, int] = {}
        self.values: list[str] = []

    def encode(self, column: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(codes, missing mask, unknown mask) for a column of ids."""
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(plain_strings(column))
        dictionary = column.dictionary.to_pylist()
        mapping = np.empty(len(dictionary) + 1, dtype=np.int32)
        for position, value in enumerate(dictionary):
            if value is None or not str(value).strip():
                mapping[position] = -1
            elif self.known is not None and value not in self.known:
                mapping[position] = -2
            else:
                code = self.code_of.get(value)
                if code is None:
                    code = self.code_of[value] = len(self.values)
                    self.values.append(value)
                mapping[position] = code
        mapping[-1] = -1  # null entries
        indices = column.indices.fill_null(len(dictionary)).to_numpy(zero_copy_only=False)
        codes = mapping[indices]
        return codes, codes == -1, codes == -2


class UsageReader:
    """Checks usage batches of one period from any number of origins, then adds them up."""

    def __init__(
        self,
        period: BillingPeriod,
        zone: ZoneInfo,
        customers: Collection[str] | None,
        metrics: Collection[str] | None,
    ) -> None:
        self.start: datetime = period.start(zone)
        self.end: datetime = period.end(zone)
        self.customers = _Codes(customers)
        self.metrics = _Codes(metrics)
        self.origins: list[UsageOrigin] = []
        self.issues: dict[tuple[int, str, str], _RowIssues] = {}
        self.log = ProblemLog()
        self.kept: list[_Kept] = []
        self.rows_read = 0
        self.rows_in_period = 0

    # -- problems -----------------------------------------------------------------------------

    def _rows(
        self, file: int, field: str, reason: str, mask: np.ndarray, records: np.ndarray, column: pa.Array
    ) -> None:
        positions = np.flatnonzero(mask)
        if not len(positions):
            return
        issues = self.issues.setdefault((file, field, reason), _RowIssues())
        room = ROWS_LISTED_PER_KIND - len(issues.examples)
        if room > 0:
            shown = positions[:room]
            values = column.take(pa.array(shown)).to_pylist()
            issues.examples.extend(zip((int(records[p]) for p in shown), values, strict=True))
        issues.count += len(positions)

    def _report_rows(self) -> None:
        for (origin_index, column, reason), issues in self.issues.items():
            origin = self.origins[origin_index]
            for record, value in issues.examples:
                row = origin.row_number(record, self.log)
                self.log.add(origin.label, reason, row=row, field=column, value=value)
            unlisted = issues.count - len(issues.examples)
            if unlisted:
                self.log.add_unlisted(origin.label, reason, field=column, count=unlisted)

    # -- reading ------------------------------------------------------------------------------

    def read_batches(self, origin: UsageOrigin, batches: Iterable[pa.RecordBatch]) -> None:
        """Check and keep every batch of ``origin`` (columns as in ``COLUMNS``).

        An exception raised while the batches are produced propagates: the caller knows what a
        failure of its origin means and reports it. The rows of a failed origin are not counted.
        """
        index = len(self.origins)
        self.origins.append(origin)
        first = 0
        for batch in batches:
            self._batch(index, batch, first)
            first += batch.num_rows
        origin.rows = first
        self.rows_read += first

    def read(self, usage_file: _UsageFile) -> None:
        try:
            self.read_batches(usage_file, self._csv(usage_file) if usage_file.is_csv else self._parquet(usage_file))
        except (pa.ArrowException, OSError, csv.Error, UnicodeDecodeError) as error:
            self.log.add(usage_file.label, f"cannot read the file: {error}")
        if usage_file.needs_scan:
            usage_file.scan(self.log)

    def finish(self, sources: int) -> UsageTotals:
        """Drop duplicates, add up, and report every problem; ``sources``: files or tables read."""
        totals, repeats = self.totals()
        self._report_rows()
        return UsageTotals(
            quantities=totals,
            files=sources,
            rows_read=self.rows_read,
            rows_in_period=self.rows_in_period,
            duplicate_events=repeats,
            problems=self.log.problems,
        )

    def _csv(self, usage_file: _UsageFile) -> Iterator[pa.RecordBatch]:
        with usage_file.path.open(newline="", encoding="utf-8-sig") as handle:
            header = [cell.strip() for cell in next(csv.reader(handle), [])]
        missing = [column for column in COLUMNS if column not in header]
        for column in missing:
            self.log.add(usage_file.label, "missing column", row=1, field=column)
        if missing:
            return

        def malformed(_row: object) -> str:
            usage_file.needs_scan = True
            return "skip"

        reader = pa_csv.open_csv(
            usage_file.path,
            read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=malformed),
            convert_options=pa_csv.ConvertOptions(
                include_columns=list(COLUMNS),
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
            ),
        )
        yield from reader

    def _parquet(self, usage_file: _UsageFile) -> Iterator[pa.RecordBatch]:
        parquet = pq.ParquetFile(usage_file.path)
        schema = parquet.schema_arrow
        problems = []
        for column in COLUMNS:
            if schema.get_field_index(column) < 0:
                problems.append((column, "missing column"))
                continue
            kind = schema.field(column).type
            if column in ("event_id", "customer_id", "metric") and not _is_text(kind):
                problems.append((column, f"column of type {kind}; expected {_ID_TYPES}"))
            elif column == "quantity" and not (
                pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind) or _is_text(kind)
            ):
                problems.append((column, f"column of type {kind}; expected numbers or decimal strings"))
            elif column == "timestamp" and not (pa.types.is_timestamp(kind) or _is_text(kind)):
                problems.append((column, f"column of type {kind}; expected timestamps"))
            elif column == "timestamp" and pa.types.is_timestamp(kind) and kind.tz is None:
                problems.append(
                    (column, "timestamps without a time zone are ambiguous: store UTC instants (timestamp with tz)")
                )
        for column, reason in problems:
            self.log.add(usage_file.label, reason, field=column)
        if problems:
            return
        categorical = [c for c in ("customer_id", "metric") if not pa.types.is_dictionary(schema.field(c).type)]
        parquet = pq.ParquetFile(usage_file.path, read_dictionary=categorical)
        yield from parquet.iter_batches(batch_size=_BATCH_ROWS, columns=list(COLUMNS))

    def _batch(self, file: int, batch: pa.RecordBatch, first: int) -> None:
        size = batch.num_rows
        if size == 0:
            return
        records = np.arange(first, first + size, dtype=np.int64)
        instants = timestamps(batch.column("timestamp"))
        for reason, mask in instants.bad.items():
            self._rows(file, "timestamp", reason, mask, records, batch.column("timestamp"))
        assert instants.values is not None
        kind = instants.values.type
        in_period = (
            pc.and_(
                pc.greater_equal(instants.values, pa.scalar(self.start, kind)),
                pc.less(instants.values, pa.scalar(self.end, kind)),
            )
            .fill_null(False)
            .to_numpy(zero_copy_only=False)
        )
        count = int(in_period.sum())
        self.rows_in_period += count
        if count == 0:
            return
        if count < size:
            batch, records = batch.filter(pa.array(in_period)), records[in_period]
            instant_values = instants.values.filter(pa.array(in_period))
        else:
            instant_values = instants.values
        self._validate_and_keep(file, batch, records, instant_values)

    def _validate_and_keep(self, file: int, batch: pa.RecordBatch, records: np.ndarray, instants: pa.Array) -> None:
        size = batch.num_rows
        bad = np.zeros(size, dtype=bool)
        event_ids = plain_strings(batch.column("event_id"))
        missing_id = pc.or_kleene(event_ids.is_null(), pc.equal(event_ids, "")).fill_null(True)
        missing_id = missing_id.to_numpy(zero_copy_only=False)
        self._rows(file, "event_id", "missing event_id", missing_id, records, event_ids)
        bad |= missing_id
        codes = {}
        for name, coder, noun in (
            ("customer_id", self.customers, "customer_id not in customers.csv"),
            ("metric", self.metrics, "metric not declared in the price list"),
        ):
            column = batch.column(name)
            values, missing, unknown = coder.encode(column)
            self._rows(file, name, f"missing {name}", missing, records, column)
            self._rows(file, name, f"unknown {noun}", unknown, records, column)
            bad |= missing | unknown
            codes[name] = values
        amounts: Checked = quantities(batch.column("quantity"))
        for reason, mask in amounts.bad.items():
            self._rows(file, "quantity", reason, mask, records, batch.column("quantity"))
            bad |= mask
        assert amounts.values is not None
        micros = instants.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
        good = ~bad
        if not good.all():
            keep = pa.array(good)
            event_ids, amount_values = event_ids.filter(keep), amounts.values.filter(keep)
            records, micros = records[good], micros[good]
            codes = {name: values[good] for name, values in codes.items()}
        else:
            amount_values = amounts.values
        if len(records) == 0:
            return
        self.kept.append(
            _Kept(
                file=file,
                records=records,
                event_ids=event_ids,
                hashes=string_hashes(event_ids),
                customers=codes["customer_id"],
                metrics=codes["metric"].astype(np.int16),
                quantities=amount_values,
                instants=micros,
            )
        )

    # -- duplicates and totals ----------------------------------------------------------------

    def _candidate_rows(self, positions: np.ndarray) -> pd.DataFrame:
        starts = np.cumsum([0] + [len(kept.records) for kept in self.kept])
        owners = np.searchsorted(starts, positions, side="right") - 1
        frames = []
        for owner in np.unique(owners):
            kept = self.kept[owner]
            local = positions[owners == owner] - starts[owner]
            taken = pa.array(local)
            frames.append(
                pd.DataFrame(
                    {
                        "position": positions[owners == owner],
                        "event_id": kept.event_ids.take(taken).to_pylist(),
                        "customer": kept.customers[local],
                        "metric": kept.metrics[local],
                        "quantity": [str(q) for q in kept.quantities.take(taken).to_pylist()],
                        "instant": kept.instants[local],
                        "file": kept.file,
                        "record": kept.records[local],
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def _duplicates(self, hashes: np.ndarray) -> tuple[np.ndarray, int]:
        """Positions of rows to drop, and how many of them are exact repeats of an event."""
        ordered = np.sort(hashes)
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        del ordered
        if not len(repeated):
            return np.zeros(0, dtype=np.int64), 0
        candidates = self._candidate_rows(_rows_with_hashes(hashes, repeated))
        candidates = candidates.sort_values(["event_id", "position"], kind="stable")
        content = ["customer", "metric", "quantity", "instant"]
        first = candidates.groupby("event_id", sort=False)[[*content, "file", "record"]].transform("first")
        later = candidates["event_id"].duplicated()
        same = (candidates[content] == first[content]).all(axis=1)
        for index in candidates.index[later & ~same]:
            row, origin = candidates.loc[index], first.loc[index]
            differs = [name for name in content if row[name] != origin[name]]
            first_origin = self.origins[int(origin["file"])]
            where = f"{first_origin.label} {first_origin.noun} "
            where += str(first_origin.row_number(int(origin["record"]), self.log))
            fields = ", ".join(
                "timestamp" if name == "instant" else name.replace("customer", "customer_id") for name in differs
            )
            duplicate_origin = self.origins[int(row["file"])]
            self.log.add(
                duplicate_origin.label,
                f"event_id already used by a different event at {where} ({fields} differ)",
                row=duplicate_origin.row_number(int(row["record"]), self.log),
                field="event_id",
                value=row["event_id"],
            )
        dropped = candidates.loc[later, "position"].to_numpy()
        return dropped, int((later & same).sum())

    def totals(self) -> tuple[dict[str, dict[str, Decimal]], int]:
        if not self.kept:
            return {}, 0
        hashes = np.concatenate([kept.hashes for kept in self.kept])
        dropped, repeats = self._duplicates(hashes)
        del hashes
        width = max(len(self.metrics.values), 1)
        keys = np.concatenate([kept.customers.astype(np.int64) * width + kept.metrics for kept in self.kept])
        amounts = [kept.quantities for kept in self.kept]
        whole = all(pa.types.is_integer(chunk.type) for chunk in amounts)
        if whole:
            largest = max((pc.max(chunk).as_py() or 0) for chunk in amounts)
            whole = largest * len(keys) <= _INT64_LIMIT
        amounts = amounts if whole else [chunk.cast(QUANTITY_TYPE) for chunk in amounts]
        table = pa.table({"key": keys, "quantity": pa.chunked_array(amounts)})
        if len(dropped):
            keep = np.ones(len(keys), dtype=bool)
            keep[dropped] = False
            table = table.filter(pa.array(keep))
        summed = table.group_by("key").aggregate([("quantity", "sum")])
        result: dict[str, dict[str, Decimal]] = {}
        for key, amount in zip(summed["key"].to_pylist(), summed["quantity_sum"].to_pylist(), strict=True):
            customer, metric = divmod(key, width)
            result.setdefault(self.customers.values[customer], {})[self.metrics.values[metric]] = Decimal(amount)
        return result, repeats


def _rows_with_hashes(hashes: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions of the rows whose hash is in ``wanted`` (a small sorted array).

    A bitmap over the top 24 bits of the hash rules out almost every row with one cheap lookup;
    only the few rows that pass are checked exactly.
    """
    bitmap = np.zeros(1 << 24, dtype=bool)
    bitmap[wanted >> np.uint64(40)] = True
    maybe = np.flatnonzero(bitmap[hashes >> np.uint64(40)])
    return maybe[np.isin(hashes[maybe], wanted)]


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def usage_files(usage_dir: Path) -> list[Path]:
    """Every CSV and Parquet file under ``usage_dir`` (hidden ones skipped), in name order."""
    return sorted(
        path
        for path in usage_dir.rglob("*")
        if path.is_file()
        and path.suffix.lower() in USAGE_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(usage_dir).parts)
    )


def read_usage(
    usage_dir: Path,
    period: str | BillingPeriod,
    tz: str | ZoneInfo = "Europe/Paris",
    *,
    customers: Collection[str] | None = None,
    metrics: Collection[str] | None = None,
    label_root: Path | None = None,
) -> UsageTotals:
    """Totals and every problem; ``customers``/``metrics``: the known ids (None = not checked)."""
    billing_period = BillingPeriod.of(period)
    usage_dir = Path(usage_dir)
    root = label_root if label_root is not None else usage_dir.parent
    reader = UsageReader(billing_period, time_zone(tz), customers, metrics)
    if not usage_dir.is_dir():
        reader.log.add(_label(usage_dir, root), "usage directory not found")
        return UsageTotals({}, 0, 0, 0, 0, reader.log.problems)
    paths = usage_files(usage_dir)
    for path in paths:
        reader.read(_UsageFile(label=_label(path, root), path=path))
    return reader.finish(len(paths))


class UsageSource(Protocol):
    """Where ``plan_period`` reads a period's usage events from; every source applies the same checks."""

    @property
    def label(self) -> str:
        """The source as problems and logs name it (never with a password)."""
        ...

    def read(
        self,
        period: BillingPeriod,
        zone: ZoneInfo,
        *,
        customers: Collection[str] | None,
        metrics: Collection[str] | None,
    ) -> UsageTotals:
        """Totals of ``period`` in the billing time zone ``zone``, and every problem found."""
        ...


@dataclass(frozen=True)
class FileUsageSource:
    """CSV and Parquet files under ``usage_dir``; problems name files relative to ``label_root``."""

    usage_dir: Path
    label_root: Path | None = None

    @property
    def label(self) -> str:
        return Path(self.usage_dir).as_posix()

    def read(
        self,
        period: BillingPeriod,
        zone: ZoneInfo,
        *,
        customers: Collection[str] | None,
        metrics: Collection[str] | None,
    ) -> UsageTotals:
        return read_usage(
            self.usage_dir, period, zone, customers=customers, metrics=metrics, label_root=self.label_root
        )


def load_usage(
    usage_dir: Path,
    period: str | BillingPeriod,
    tz: str | ZoneInfo = "Europe/Paris",
    *,
    customers: Collection[str] | None = None,
    metrics: Collection[str] | None = None,
) -> UsageTotals:
    """Like ``read_usage`` but raises ``InvalidBillingInput`` with every problem found."""
    usage = read_usage(usage_dir, period, tz, customers=customers, metrics=metrics)
    if usage.problems:
        raise InvalidBillingInput(usage.problems)
    return usage


def _label(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
