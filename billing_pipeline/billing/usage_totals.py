"""Duplicates and totals of the usage rows a ``UsageReader`` kept.

A duplicated ``event_id`` counts once; one that names a *different* event is reported with the
fields that differ. Sums stay exact: integers while they cannot overflow, decimals otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from billing_pipeline.billing.problems import ProblemLog
from billing_pipeline.billing.usage_columns import QUANTITY_TYPE

if TYPE_CHECKING:
    from billing_pipeline.billing.usage_reader import UsageOrigin

_INT64_LIMIT = 2**63 - 1


@dataclass
class KeptRows:
    """The valid in-period rows of one batch, in compact columns."""

    file: int
    records: np.ndarray
    event_ids: pa.Array
    hashes: np.ndarray
    customers: np.ndarray
    metrics: np.ndarray
    quantities: pa.Array
    instants: np.ndarray


def _candidate_rows(kept_rows: list[KeptRows], positions: np.ndarray) -> pd.DataFrame:
    starts = np.cumsum([0] + [len(kept.records) for kept in kept_rows])
    owners = np.searchsorted(starts, positions, side="right") - 1
    frames = []
    for owner in np.unique(owners):
        kept = kept_rows[owner]
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


def _duplicates(
    kept_rows: list[KeptRows], origins: Sequence[UsageOrigin], log: ProblemLog, hashes: np.ndarray
) -> tuple[np.ndarray, int]:
    """Positions of rows to drop, and how many of them are exact repeats of an event."""
    ordered = np.sort(hashes)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if not len(repeated):
        return np.zeros(0, dtype=np.int64), 0
    candidates = _candidate_rows(kept_rows, _rows_with_hashes(hashes, repeated))
    candidates = candidates.sort_values(["event_id", "position"], kind="stable")
    content = ["customer", "metric", "quantity", "instant"]
    first = candidates.groupby("event_id", sort=False)[[*content, "file", "record"]].transform("first")
    later = candidates["event_id"].duplicated()
    same = (candidates[content] == first[content]).all(axis=1)
    for index in candidates.index[later & ~same]:
        row, origin = candidates.loc[index], first.loc[index]
        differs = [name for name in content if row[name] != origin[name]]
        first_origin = origins[int(origin["file"])]
        where = f"{first_origin.label} {first_origin.noun} "
        where += str(first_origin.row_number(int(origin["record"]), log))
        fields = ", ".join(
            "timestamp" if name == "instant" else name.replace("customer", "customer_id") for name in differs
        )
        duplicate_origin = origins[int(row["file"])]
        log.add(
            duplicate_origin.label,
            f"event_id already used by a different event at {where} ({fields} differ)",
            row=duplicate_origin.row_number(int(row["record"]), log),
            field="event_id",
            value=row["event_id"],
        )
    dropped = candidates.loc[later, "position"].to_numpy()
    return dropped, int((later & same).sum())


def add_up(
    kept_rows: list[KeptRows],
    origins: Sequence[UsageOrigin],
    log: ProblemLog,
    customers: Sequence[str],
    metrics: Sequence[str],
) -> tuple[dict[str, dict[str, Decimal]], int]:
    """Drop repeated events (reporting those that differ), then sum per customer and metric.

    ``customers``/``metrics``: the values behind the integer codes of the kept rows.
    """
    if not kept_rows:
        return {}, 0
    hashes = np.concatenate([kept.hashes for kept in kept_rows])
    dropped, repeats = _duplicates(kept_rows, origins, log, hashes)
    del hashes
    width = max(len(metrics), 1)
    keys = np.concatenate([kept.customers.astype(np.int64) * width + kept.metrics for kept in kept_rows])
    amounts = [kept.quantities for kept in kept_rows]
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
        result.setdefault(customers[customer], {})[metrics[metric]] = Decimal(amount)
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
