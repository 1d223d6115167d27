"""Usage files: every CSV and Parquet file under ``usage/``, read in Arrow batches and checked.

Columns ``event_id, customer_id, metric, quantity, timestamp``, any number of files. A problem names
the file (relative to the data folder) and its line (CSV, header = 1) or record number (Parquet).
"""

from __future__ import annotations

import array
import bisect
import csv
import itertools
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from billing_pipeline.billing.coverage import UsageSpans
from billing_pipeline.billing.periods import BillingPeriod, time_zone
from billing_pipeline.billing.price_plans import Aggregation
from billing_pipeline.billing.problems import ProblemLog
from billing_pipeline.billing.usage_duplicates import CHANGED
from billing_pipeline.billing.usage_out_of_core import read_out_of_core, rows_beyond_the_reader
from billing_pipeline.billing.usage_reader import COLUMNS, UNIQUE_KEY, UsageOrigin, UsageReader, UsageTotals

USAGE_SUFFIXES = (".csv", ".parquet")
_BATCH_ROWS = 1 << 20
_CSV_BLOCK_BYTES = 32 << 20
_ID_TYPES = "a string"
_READ_ERRORS = (pa.ArrowException, OSError, csv.Error, UnicodeDecodeError)


@dataclass(kw_only=True)
class UsageFile(UsageOrigin):
    path: Path
    needs_scan: bool = False  # a CSV whose malformed rows must be located line by line
    _lines: array.array | None = None
    _version: tuple[int, int] | None = None  # size and mtime when first read

    @property
    def rereadable(self) -> bool:
        return True

    def reread(self, starts: Collection[int], log: ProblemLog) -> Iterator[tuple[int, pa.RecordBatch]]:
        """The batches again, cut as by ``read_file``; a changed or unreadable file is reported."""
        try:
            if _version(self.path) != self._version:
                log.add(self.label, CHANGED)
                return
            if self.is_csv:
                first = 0
                for batch in _csv(self, ProblemLog()):  # its problems were reported the first time
                    yield first, batch
                    first += batch.num_rows
            else:
                yield from _parquet_batches(pq.ParquetFile(self.path, pre_buffer=False), self, starts)
        except _READ_ERRORS as error:
            log.add(self.label, f"cannot read the file: {error}")

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


def read_file(reader: UsageReader, usage_file: UsageFile) -> None:
    """Check and keep the rows of one file; a file that cannot be read is a problem, not a crash."""
    try:
        usage_file._version = _version(usage_file.path)
        batches = _csv(usage_file, reader.log) if usage_file.is_csv else _parquet(usage_file, reader.log)
        reader.read_batches(usage_file, batches)
    except _READ_ERRORS as error:
        reader.log.add(usage_file.label, f"cannot read the file: {error}")
    if usage_file.needs_scan:
        usage_file.scan(reader.log)


def _csv(usage_file: UsageFile, log: ProblemLog) -> Iterator[pa.RecordBatch]:
    with usage_file.path.open(newline="", encoding="utf-8-sig") as handle:
        header = [cell.strip() for cell in next(csv.reader(handle), [])]
    missing = [column for column in COLUMNS if column not in header]
    for column in missing:
        log.add(usage_file.label, "missing column", row=1, field=column)
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
            include_columns=[*COLUMNS, *([UNIQUE_KEY] if UNIQUE_KEY in header else [])],
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=False,
        ),
    )
    yield from reader


def _parquet(usage_file: UsageFile, log: ProblemLog) -> Iterator[pa.RecordBatch]:
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
    if schema.get_field_index(UNIQUE_KEY) >= 0 and not _is_text(schema.field(UNIQUE_KEY).type):
        problems.append((UNIQUE_KEY, f"column of type {schema.field(UNIQUE_KEY).type}; expected {_ID_TYPES}"))
    for column, reason in problems:
        log.add(usage_file.label, reason, field=column)
    if problems:
        return
    # pre_buffer would keep every column chunk read so far until the file is closed (14 MB a row
    # group at 10^8 events): on a local disk, plain reads are as fast and memory stays flat
    parquet = pq.ParquetFile(usage_file.path, pre_buffer=False)
    for _, batch in _parquet_batches(parquet, usage_file, None):
        yield batch


def _parquet_batches(
    parquet: pq.ParquetFile, usage_file: UsageFile, starts: Collection[int] | None
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(first record, batch) of every row group, or of those holding ``starts``: read row group by
    row group, so that a second reading cuts the same batches."""
    schema = parquet.schema_arrow
    # id columns come as dictionaries: their values repeat, and a Parquet writer stores them as a
    # dictionary and codes, which are read as they are rather than as a string per row (the
    # ``unique_key`` column of 10^7 events: 0.38 s of reading as strings, 0.13 s as a dictionary)
    keys = [UNIQUE_KEY] if schema.get_field_index(UNIQUE_KEY) >= 0 else []
    categorical = [c for c in ("customer_id", "metric", *keys) if not pa.types.is_dictionary(schema.field(c).type)]
    parquet = pq.ParquetFile(usage_file.path, read_dictionary=categorical, pre_buffer=False)
    sizes = [parquet.metadata.row_group(index).num_rows for index in range(parquet.num_row_groups)]
    firsts = list(itertools.accumulate(sizes, initial=0))
    groups = range(len(sizes))
    if starts is not None:
        groups = sorted({bisect.bisect_right(firsts, start) - 1 for start in starts})
    columns = [*COLUMNS, *keys]
    for group in groups:
        first = firsts[group]
        for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, row_groups=[group], columns=columns):
            yield first, batch
            first += batch.num_rows


def _version(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


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
    aggregations: Mapping[str, Aggregation] | None = None,
    spans: UsageSpans | None = None,
) -> UsageTotals:
    """Totals and every problem; ``customers``/``metrics``: the known ids (None = not checked);
    ``aggregations`` and ``spans``: as ``UsageSource.read`` takes them."""
    billing_period = BillingPeriod.of(period)
    usage_dir = Path(usage_dir)
    root = label_root if label_root is not None else usage_dir.parent
    reader = UsageReader(billing_period, time_zone(tz), customers, metrics, aggregations, spans)
    if not usage_dir.is_dir():
        reader.log.add(_label(usage_dir, root), "usage directory not found")
        return reader.finish(0)
    paths = usage_files(usage_dir)
    for path in paths:
        read_file(reader, UsageFile(label=_label(path, root), path=path))
    return reader.finish(len(paths))


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
        aggregations: Mapping[str, Aggregation] | None = None,
        spans: UsageSpans | None = None,
    ) -> UsageTotals:
        usage_dir = Path(self.usage_dir)
        paths = usage_files(usage_dir) if usage_dir.is_dir() else []
        rows = rows_beyond_the_reader(paths)
        if rows is not None:
            root = self.label_root if self.label_root is not None else usage_dir.parent
            return read_out_of_core(
                paths,
                rows,
                period,
                zone,
                customers=customers,
                metrics=metrics,
                aggregations=aggregations,
                spans=spans,
                label=_label(usage_dir, root),
            )
        return read_usage(
            self.usage_dir,
            period,
            zone,
            customers=customers,
            metrics=metrics,
            label_root=self.label_root,
            aggregations=aggregations,
            spans=spans,
        )


def _label(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
