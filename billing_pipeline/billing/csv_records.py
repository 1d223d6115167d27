"""Reading a small input CSV (``customers.csv``, ``subscriptions.csv``) record by record, as a person counts lines.

The csv module rather than pandas: it gives the physical line of every record, even when a quoted
address spans several lines. Header and shape problems are recorded here, once for every file.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from billing_pipeline.billing.problems import ProblemLog


def csv_records(
    path: Path, label: str, log: ProblemLog, columns: Sequence[str], optional: Sequence[str] = ()
) -> list[tuple[int, dict[str, str]]] | None:
    """(line, stripped cells by column) of every non-blank record; None when the file or its header
    cannot be used (the reason is in ``log``). A record with the wrong number of cells is reported
    and left out."""
    records: list[tuple[int, dict[str, str]]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [cell.strip() for cell in next(reader, [])]
            if not any(header):
                log.add(label, "empty file: expected a header line with " + ", ".join(columns), row=1)
                return None
            before = len(log)
            for column in columns:
                if column not in header:
                    log.add(label, "missing column", row=1, field=column)
            for column in header:
                if column not in columns and column not in optional:
                    log.add(label, "unexpected column (check its spelling)", row=1, field=column or None)
            if len(log) > before:
                return None
            line = reader.line_num + 1
            for record in reader:
                start, line = line, reader.line_num + 1
                if not any(cell.strip() for cell in record):
                    continue
                if len(record) != len(header):
                    log.add(label, f"expected {len(header)} cells, found {len(record)}", row=start)
                    continue
                records.append((start, {key: value.strip() for key, value in zip(header, record, strict=True)}))
    except FileNotFoundError:
        log.add(label, "file not found")
        return None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        log.add(label, f"cannot read the file as UTF-8 CSV: {error}")
        return None
    return records
