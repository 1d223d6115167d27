"""Vectorized conversion and checking of usage columns (Arrow arrays in, NumPy/Arrow out).

Fast paths let Arrow convert a whole batch at once; only a batch that fails falls back to a
row-by-row pass, which exists to say exactly which rows are wrong and why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Context, Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

QUANTITY_SCALE = 6  # quantities keep at most 6 decimals
QUANTITY_TYPE = pa.decimal128(38, QUANTITY_SCALE)
_MAX_QUANTITY = Decimal(10) ** (38 - QUANTITY_SCALE)
_WIDE = Context(prec=80)  # every digit of a quantity below _MAX_QUANTITY, and of its decimals
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INSTANT = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})", re.IGNORECASE
)


@dataclass
class Checked:
    """A converted column plus the rows that could not be converted, grouped by reason."""

    values: pa.Array | None
    bad: dict[str, np.ndarray] = field(default_factory=dict)  # reason -> boolean mask

    def bad_mask(self, length: int) -> np.ndarray:
        mask = np.zeros(length, dtype=bool)
        for rows in self.bad.values():
            mask |= rows
        return mask


def _masks(reasons: list[str | None]) -> dict[str, np.ndarray]:
    labels = np.array([reason or "" for reason in reasons], dtype=object)
    return {reason: labels == reason for reason in set(reasons) if reason}


# ---- timestamps -------------------------------------------------------------------------------


def _instant_micros(text: str) -> int | str:
    """Microseconds since the epoch for an ISO 8601 instant with an offset, or a reason."""
    match = _INSTANT.fullmatch(text.strip())
    if match is None:
        if not text.strip():
            return "missing timestamp"
        return "not an ISO 8601 timestamp with a UTC offset or Z (e.g. 2026-10-01T08:30:00+02:00)"
    day, clock, fraction, offset = match.groups()
    fraction = (fraction or "").ljust(6, "0")[:6]
    offset = "+00:00" if offset.upper() == "Z" else offset
    if ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    try:
        instant = datetime.fromisoformat(f"{day}T{clock}.{fraction}{offset}")
    except ValueError as error:
        return f"not a real date and time: {error}"
    return (instant - _EPOCH) // _ONE_MICROSECOND


_ONE_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - _EPOCH


def timestamps(column: pa.Array) -> Checked:
    """UTC instants as ``timestamp[us, UTC]`` (or the column's own tz-aware timestamp type)."""
    if pa.types.is_timestamp(column.type):
        values = column.cast(pa.timestamp(column.type.unit, tz="UTC"))
        missing = column.is_null().to_numpy(zero_copy_only=False)
        return Checked(values, {"missing timestamp": missing} if missing.any() else {})
    strings = column.cast(pa.string()) if not pa.types.is_string(column.type) else column
    try:
        values = pc.cast(strings, pa.timestamp("us", tz="UTC"))
        if values.null_count == 0:
            return Checked(values)
    except pa.ArrowInvalid:
        pass
    parsed = [_instant_micros(text) if text is not None else "missing timestamp" for text in strings.to_pylist()]
    reasons = [item if isinstance(item, str) else None for item in parsed]
    micros = pa.array([item if isinstance(item, int) else None for item in parsed], pa.int64())
    return Checked(micros.cast(pa.timestamp("us", tz="UTC")), _masks(reasons))


# ---- quantities -------------------------------------------------------------------------------


def _quantity_reason(text: str | None) -> Decimal | str:
    if text is None or not text.strip():
        return "missing quantity"
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return "not a number"
    if value.is_nan():
        return "quantity is NaN"
    if value.is_infinite():
        return "quantity is infinite"
    if value < 0:
        return "negative quantity"
    if value >= _MAX_QUANTITY:
        return "quantity too large"
    # quantized in a context wide enough for any quantity below the maximum (the default 28 digits
    # would raise on a 23-digit quantity with its 6 decimals instead of telling the row's problem)
    if value != value.quantize(Decimal(1).scaleb(-QUANTITY_SCALE), context=_WIDE):
        return f"more than {QUANTITY_SCALE} decimals"
    return value


def quantities(column: pa.Array) -> Checked:
    """Non-negative quantities as ``int64`` (whole numbers) or ``decimal128(38, 6)``."""
    kind = column.type
    length = len(column)
    if pa.types.is_integer(kind):
        values = column.cast(pa.int64())
        return Checked(values, _numeric_masks(values, length))
    if pa.types.is_floating(kind):
        floats = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            bad = {
                "missing quantity": column.is_null().to_numpy(zero_copy_only=False),
                "quantity is NaN": np.isnan(floats) & column.is_valid().to_numpy(zero_copy_only=False),
                "quantity is infinite": np.isinf(floats),
                "negative quantity": floats < 0,
            }
            finite = np.where(np.isfinite(floats), floats, 0.0)
            rounded = np.round(finite, QUANTITY_SCALE)
            bad[f"more than {QUANTITY_SCALE} decimals"] = np.abs(finite - rounded) > 1e-9 * np.maximum(
                1.0, np.abs(finite)
            )
        values = pc.cast(pa.array(rounded), QUANTITY_TYPE, safe=False)
        return Checked(values, {reason: mask for reason, mask in bad.items() if mask.any()})
    if pa.types.is_decimal(kind):
        try:
            values = column.cast(QUANTITY_TYPE)
            return Checked(values, _numeric_masks(values, length))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            column = column.cast(pa.string())
    strings = column if pa.types.is_string(column.type) else column.cast(pa.string())
    try:
        values = pc.cast(strings, QUANTITY_TYPE)
        return Checked(values, _numeric_masks(values, length))
    except pa.ArrowInvalid:
        pass
    parsed = [_quantity_reason(text) for text in strings.to_pylist()]
    reasons = [item if isinstance(item, str) else None for item in parsed]
    values = pa.array([item if isinstance(item, Decimal) else None for item in parsed], QUANTITY_TYPE)
    return Checked(values, _masks(reasons))


def _numeric_masks(values: pa.Array, length: int) -> dict[str, np.ndarray]:
    bad = {}
    if values.null_count:
        bad["missing quantity"] = values.is_null().to_numpy(zero_copy_only=False)
    negative = pc.less(values, pa.scalar(0, values.type)).fill_null(False)
    if pc.any(negative).as_py():
        bad["negative quantity"] = negative.to_numpy(zero_copy_only=False)
    return bad


# ---- identifiers ------------------------------------------------------------------------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_HASH_SLICE = 1 << 15  # rows hashed at a time by the fixed-width path (a few hundred KB)
_M2 = np.uint64(0x94D049BB133111EB)


def concat_quantities(parts: Sequence[pa.Array | pa.ChunkedArray]) -> pa.Array:
    """Quantities of several batches as one array: int64 when every part is whole, decimal128(38, 6)
    otherwise (the two types ``quantities`` gives)."""
    arrays = [part.combine_chunks() if isinstance(part, pa.ChunkedArray) else part for part in parts]
    kind = pa.int64() if all(pa.types.is_integer(part.type) for part in arrays) else QUANTITY_TYPE
    if not arrays:
        return pa.array([], kind)
    return pa.concat_arrays([part.cast(kind) for part in arrays])


def plain_strings(column: pa.Array) -> pa.Array:
    """The column as ``string`` or ``large_string`` (dictionary and view types decoded)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    return column.cast(pa.large_string() if pa.types.is_large_binary(column.type) else pa.string())


def id_strings(column: pa.Array) -> pa.Array:
    """An id column as strings, or as a dictionary of strings when it comes as one (a Parquet file's
    ``unique_key``: ``usage_files``), which is kept: its codes are what distinct counting needs."""
    kind = column.type
    values = kind.value_type if pa.types.is_dictionary(kind) else None
    if values is not None and (pa.types.is_string(values) or pa.types.is_large_string(values)):
        return column
    return plain_strings(column)


def missing_strings(column: pa.Array) -> np.ndarray:
    """Where a column of strings (or a dictionary of them) holds nothing: null or empty — for a
    dictionary, each distinct value looked at once."""
    if pa.types.is_dictionary(column.type):
        empty = missing_strings(plain_strings(column.dictionary))
        codes = column.indices.fill_null(len(empty)).to_numpy(zero_copy_only=False)
        return np.append(empty, True)[codes]  # a null code: the True appended
    missing = pc.or_kleene(column.is_null(), pc.equal(column, "")).fill_null(True)
    return missing.to_numpy(zero_copy_only=False)


def string_hashes(column: pa.Array) -> np.ndarray:
    """A 64-bit hash of every string, computed 8 bytes at a time over the Arrow buffers.

    Only used to find candidate duplicates quickly; candidates are then compared as strings,
    so a hash collision can never merge two different events.
    """
    length = len(column)
    if length == 0:
        return np.zeros(0, dtype=np.uint64)
    offset_type = np.int64 if pa.types.is_large_string(column.type) else np.int32
    buffers = column.buffers()
    width = np.dtype(offset_type).itemsize
    offsets = np.frombuffer(buffers[1], dtype=offset_type, count=length + 1, offset=column.offset * width)
    first, last = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets).astype(np.int64)
    raw = np.frombuffer(buffers[2], dtype=np.uint8, count=last - first, offset=first) if last > first else None
    size = int(lengths[0])
    if raw is not None and size and (last - first) == size * length and bool((lengths == size).all()):
        return _fixed_width_hashes(raw.reshape(length, size), size)
    # 8 spare zero bytes let every 8-byte window be read without running off the end.
    data = np.zeros(last - first + 8, dtype=np.uint8)
    if raw is not None:
        data[: last - first] = raw
    windows = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    starts = (offsets[:-1] - first).astype(np.intp)
    hashes = lengths.astype(np.uint64) * _M2
    longest = int(lengths.max())
    with np.errstate(over="ignore"):
        for position in range(0, longest, 8):
            # a string shorter than ``position`` reads past the end of the data; its word is
            # masked to zero below, so any in-bounds window will do
            words = windows[np.minimum(starts + position, len(windows) - 1)]
            remaining = lengths - position
            partial = remaining < 8
            if partial.any():
                kept_bits = (np.clip(remaining, 0, 8) * 8).astype(np.uint64)
                masks = np.where(
                    partial,
                    (np.uint64(1) << np.minimum(kept_bits, np.uint64(63))) - np.uint64(1),
                    np.uint64(0xFFFFFFFFFFFFFFFF),
                )
                words &= masks
            _mix(hashes, words)
        return _finish(hashes)


def _fixed_width_hashes(rows: np.ndarray, size: int) -> np.ndarray:
    """``string_hashes`` of strings that all have ``size`` bytes (ids of one format, the usual case).

    The same function, computed over a contiguous (rows, words) matrix instead of gathered
    windows, the last word zero-padded as the general path masks it; slice by slice, so that a
    slice's words and hashes stay in the CPU cache while every word is mixed in.
    """
    words = -(-size // 8)
    hashes = np.empty(len(rows), dtype=np.uint64)
    padded = np.zeros((min(len(rows), _HASH_SLICE), words * 8), dtype=np.uint8)
    with np.errstate(over="ignore"):
        seed = np.uint64(size) * _M2
    for first in range(0, len(rows), _HASH_SLICE):
        chunk = rows[first : first + _HASH_SLICE]
        if size % 8 or len(chunk) < len(padded):
            target = padded[: len(chunk)]
            target[:, :size] = chunk
            matrix = target.view("<u8")
        else:
            matrix = np.ascontiguousarray(chunk).view("<u8")
        out = hashes[first : first + len(chunk)]
        out.fill(seed)
        with np.errstate(over="ignore"):
            for word in range(words):
                _mix(out, matrix[:, word])
            _finish(out)
    return hashes


def _mix(hashes: np.ndarray, words: np.ndarray) -> None:
    hashes ^= words
    hashes *= _M1
    hashes ^= hashes >> np.uint64(31)


def _finish(hashes: np.ndarray) -> np.ndarray:
    hashes *= _M2
    hashes ^= hashes >> np.uint64(29)
    return hashes
