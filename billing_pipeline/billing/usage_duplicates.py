"""Repeated ``event_id``s among the kept usage rows: which copies to drop, which differ.

Only a 64-bit hash of every kept row's id is in memory (``KeptStore``). Two steps:

1. ``candidates``: each hash, cut to the bits that fit next to the row's position, is packed with
   that position into one 64-bit word; one in-place sort of those words brings equal hashes
   together, and their positions come out with them (no second array of 8 bytes a row);
2. ``resolve``: only those rows are looked at again (from memory, or read again from their file)
   and compared by their actual ``event_id`` string, so a hash collision (more likely with the
   cut hash, and harmless) never merges two events.

The first row of an id in reading order (files in name order, rows in file order) is the one that
counts; a later copy is dropped, and reported when its content differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from billing_pipeline.billing.problems import ProblemLog
from billing_pipeline.billing.usage_store import KeptStore

if TYPE_CHECKING:
    from billing_pipeline.billing.usage_reader import UsageOrigin

_CONTENT = ["customer", "metric", "quantity", "instant"]
_SLICE = 1 << 20  # words packed or compared at a time (bounds the temporaries)
CHANGED = "the file changed while it was being read; read it again"

# (origin, {batch index: kept rows wanted}) -> {batch index: their content}, for batches whose
# content is not in memory
Reread = Callable[[int, dict[int, np.ndarray]], dict[int, pa.RecordBatch]]


@dataclass(frozen=True)
class Candidates:
    """Kept rows whose (cut) id hash is carried by another row, in reading order."""

    positions: np.ndarray  # global positions (int64), sorted
    hash_bits: np.ndarray  # their cut hashes (hash >> bits)
    bits: int


@dataclass(frozen=True)
class Dropped:
    """Later copies of events, to take out of the totals, and how many were exact repeats."""

    rows: list[pa.RecordBatch]  # their CONTENT
    repeats: int
    positions: list[np.ndarray]  # the kept-row positions of ``rows``, batch for batch


def candidates(store: KeptStore) -> Candidates:
    """Every kept row whose hash, cut to ``64 - bits`` bits, is also another kept row's.

    Consumes the hashes of ``store`` (each block is freed once copied, so they are never held twice).
    """
    total = store.count
    bits = max(1, (total - 1).bit_length())
    packed = np.empty(total, dtype=np.uint64)
    low = np.uint64((1 << bits) - 1)
    offset = 0
    for block in store.pop_hashes():
        for first in range(0, len(block), _SLICE):  # slices: the positions never exist as one array
            size = min(_SLICE, len(block) - first)
            target = packed[offset : offset + size]
            np.bitwise_and(block[first : first + size], ~low, out=target)
            target |= np.arange(offset, offset + size, dtype=np.uint64)
            offset += size
        del block  # the store no longer holds it: freed now
    if total < 2:
        return Candidates(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64), bits)
    packed.sort()
    shift = np.uint64(bits)
    pairs = []
    for first in range(0, total - 1, _SLICE):
        window = packed[first : first + _SLICE + 1] >> shift
        pairs.append(first + np.flatnonzero(window[1:] == window[:-1]))
    pair = np.concatenate(pairs)
    members = np.unique(np.concatenate([pair, pair + 1]))
    words = packed[members]
    del packed
    positions = (words & low).astype(np.int64)
    order = np.argsort(positions)
    return Candidates(positions[order], (words >> shift)[order], bits)


def resolve(
    store: KeptStore,
    origins: Sequence[UsageOrigin],
    log: ProblemLog,
    reread: Reread,
    hashes_of: Callable[[pa.Array], np.ndarray],
) -> Dropped:
    """The later copies of every repeated event id, reporting those whose content differs."""
    found = candidates(store)
    if not len(found.positions):
        return Dropped([], 0, [])
    frame, content = _candidate_rows(store, found, origins, log, reread, hashes_of)
    if frame.empty:
        return Dropped([], 0, [])
    frame = frame.sort_values(["event_id", "position"], kind="stable")
    first = frame.groupby("event_id", sort=False)[[*_CONTENT, "origin", "record"]].transform("first")
    later = frame["event_id"].duplicated()
    same = (frame[_CONTENT] == first[_CONTENT]).all(axis=1)
    for index in frame.index[later & ~same]:
        row, origin = frame.loc[index], first.loc[index]
        differs = [name for name in _CONTENT if row[name] != origin[name]]
        where = origins[int(origin["origin"])].where(int(origin["record"]), log)
        fields = ", ".join(
            "timestamp" if name == "instant" else name.replace("customer", "customer_id") for name in differs
        )
        duplicate_origin = origins[int(row["origin"])]
        located, _ = duplicate_origin.located(int(row["record"]), None, log)
        log.add(
            duplicate_origin.label,
            f"event_id already used by a different event at {where} ({fields} differ)",
            row=located,
            field="event_id",
            value=row["event_id"],
        )
    dropped = frame.loc[later, ["batch", "row", "position"]]
    rows, positions = [], []
    for batch, group in dropped.groupby("batch", sort=True):
        group = group.sort_values("row")
        rows.append(content[int(batch)].take(pa.array(group["row"].to_numpy())))
        positions.append(group["position"].to_numpy().astype(np.int64))
    return Dropped(rows, int((later & same).sum()), positions)


def _candidate_rows(
    store: KeptStore,
    found: Candidates,
    origins: Sequence[UsageOrigin],
    log: ProblemLog,
    reread: Reread,
    hashes_of: Callable[[pa.Array], np.ndarray],
) -> tuple[pd.DataFrame, dict[int, pa.RecordBatch]]:
    """The candidates with their content, and that content per batch index."""
    starts = np.cumsum([0] + [batch.count for batch in store.batches])
    owners = np.searchsorted(starts, found.positions, side="right") - 1
    wanted: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # batch -> (candidate indices, local rows)
    for owner in np.unique(owners):
        picked = np.flatnonzero(owners == owner)
        wanted[int(owner)] = (picked, found.positions[picked] - starts[owner])
    content: dict[int, pa.RecordBatch] = {}
    from_files: dict[int, dict[int, np.ndarray]] = {}
    for index, (_, local) in wanted.items():
        batch = store.batches[index]
        if batch.rows is not None:
            content[index] = batch.rows.take(pa.array(local))
        else:
            from_files.setdefault(batch.origin, {})[index] = local
    for origin, batches in from_files.items():
        read = reread(origin, batches)
        changed = False
        for index, rows in read.items():
            picked = wanted[index][0]
            cut = hashes_of(rows.column("event_id")) >> np.uint64(found.bits)
            if len(rows) == len(picked) and (cut == found.hash_bits[picked]).all():
                content[index] = rows
            else:
                changed = True
        if changed:
            log.add(origins[origin].label, CHANGED)
    frames = []
    for index in sorted(content):
        rows, batch = content[index], store.batches[index]
        picked, local = wanted[index]
        frames.append(
            pd.DataFrame(
                {
                    "position": found.positions[picked],
                    "event_id": rows.column("event_id").to_pylist(),
                    "customer": rows.column("customer").to_numpy(),
                    "metric": rows.column("metric").to_numpy(),
                    "quantity": [str(q) for q in rows.column("quantity").to_pylist()],
                    "instant": rows.column("instant").to_numpy(),
                    "origin": batch.origin,
                    "record": batch.start + batch.offsets(local),
                    "batch": index,
                    "row": np.arange(len(local)),
                }
            )
        )
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), content
