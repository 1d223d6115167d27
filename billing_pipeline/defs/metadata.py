"""Materialization metadata helpers: tables a finance person can read in the Dagster UI."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg
import pandas as pd


def table(rows: Iterable[Mapping[str, Any]], columns: list[str]) -> dg.MetadataValue:
    frame = pd.DataFrame(list(rows), columns=columns)
    if frame.empty:
        return dg.MetadataValue.md("_(none)_")
    return dg.MetadataValue.md(frame.fillna("").astype(str).to_markdown(index=False, disable_numparse=True))


COMMON_ASSET_ARGS: dict[str, Any] = {
    "group_name": "billing",
    "owners": ["team:billing"],
}
