"""Benchmark and test helper only: fill an emulator state with many finalized invoices at once.

Creating 100,000 invoices through the API takes hours at Qonto's rate limits. This writes them
straight into the emulator's SQLite state (``store.py``), in one transaction, as copies of one
*template* invoice that was created and finalized through the real API (so every stored field is
one the emulator produced itself): each copy gets its own id, number, attachment id, creation
time and the header carrying its ``BP-<period>-<customer>`` reference. The copies' client is the
template's; their rendered Factur-X (``attachment_versions``) points back at the template's
content. Nothing in the pipeline uses this module; never point it at a state you care about.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SeededInvoice:
    invoice_id: str
    number: str
    attachment_id: str
    header: str
    created_at_ms: int


def clone_finalized_invoices(
    state_file: Path, template_invoice_id: str, headers: Sequence[str], *, first_number: int, year: int
) -> list[SeededInvoice]:
    """Insert one copy of the template per header; returns the copies (ids and numbers)."""
    connection = sqlite3.connect(state_file, timeout=60, isolation_level=None)
    connection.row_factory = sqlite3.Row
    try:
        connection.execute("BEGIN IMMEDIATE")
        template = connection.execute("SELECT * FROM invoices WHERE id = ?", (template_invoice_id,)).fetchone()
        if template is None or template["status"] == "draft":
            raise ValueError("the template must be an existing finalized invoice")
        versions = connection.execute(
            "SELECT * FROM attachment_versions WHERE attachment_id = ?", (template["attachment_id"],)
        ).fetchall()
        base = int(template["created_at"])
        seeded = [
            SeededInvoice(
                invoice_id=str(uuid.uuid4()),
                number=f"F-{year}-{first_number + index:05d}",
                attachment_id=str(uuid.uuid4()),
                header=header,
                # one millisecond apart, after the template: "created since" listings stay in order
                created_at_ms=base + 1 + index,
            )
            for index, header in enumerate(headers)
        ]
        data = json.loads(template["data"])
        columns = [name for name in template.keys() if name != "seq"]

        def row(invoice: SeededInvoice) -> list[object]:
            values = {
                "id": invoice.invoice_id,
                "number": invoice.number,
                "attachment_id": invoice.attachment_id,
                "created_at": invoice.created_at_ms,
                "data": json.dumps({**data, "header": invoice.header}),
            }
            return [values.get(name, template[name]) for name in columns]

        connection.executemany(
            f"INSERT INTO invoices ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",  # noqa: S608 - our own column names
            (row(invoice) for invoice in seeded),
        )
        for version in versions:
            names = list(version.keys())
            connection.executemany(
                f"INSERT INTO attachment_versions ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",  # noqa: S608
                (
                    [
                        {"attachment_id": invoice.attachment_id, "invoice_id": invoice.invoice_id}.get(
                            name, version[name]
                        )
                        for name in names
                    ]
                    for invoice in seeded
                ),
            )
        connection.execute(
            "INSERT INTO number_sequences (year, last) VALUES (?, ?)"
            " ON CONFLICT (year) DO UPDATE SET last = max(last, excluded.last)",
            (year, first_number + len(seeded) - 1),  # the last number used
        )
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()
    return seeded
