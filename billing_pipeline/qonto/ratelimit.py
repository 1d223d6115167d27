"""The request budget: stay under Qonto's per-IP limits, across every process of this machine.

Qonto allows 1,000 requests per 10 s and 10,000 per 10 min per IP address. Each HTTP attempt to
the API takes one permit from a pyrate-limiter sliding-window log holding both rates:

- in-process (``rate_limit_db=None``): one in-memory bucket shared by every client of the process
  with the same limits;
- machine-wide (``rate_limit_db=path``): a SQLite bucket guarded by a file lock, so that a sensor,
  several runs and a CLI on the same machine draw from one budget;
- deployment-wide (``rate_limit_url``, the ledger's PostgreSQL): pyrate-limiter's PostgreSQL bucket,
  so that every machine behind the same egress IP draws from one budget (``ratelimit_postgres``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from pyrate_limiter import Duration, Limiter, Rate, SQLiteBucket

logger = logging.getLogger(__name__)

TEN_SECONDS_MS = 10 * Duration.SECOND
TEN_MINUTES_MS = 10 * Duration.MINUTE

_SQLITE_TABLE = "qonto_api_requests"
_ITEM_NAME = "qonto-api"
# below this, waiting for a permit is normal pacing and not worth a log line
_LOG_WAIT_S = 1.0


def binding_rates(rates: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Drop the rates another rate already implies (pyrate-limiter refuses redundant lists).

    A longer window whose limit is not above a shorter window's makes the shorter one redundant;
    a longer window allowing a higher density than a shorter one is itself redundant.
    """
    if not rates:
        raise ValueError("a request budget needs at least one rate")
    kept: list[tuple[int, int]] = []
    for limit, window_ms in sorted(rates, key=lambda r: (r[1], r[0])):
        if limit < 1 or window_ms < 1:
            raise ValueError(f"invalid rate {limit} per {window_ms} ms")
        while kept and limit <= kept[-1][0]:
            kept.pop()
        if kept and limit * kept[-1][1] > kept[-1][0] * window_ms:
            continue
        kept.append((limit, window_ms))
    return kept


class RequestBudget:
    """Admits one request at a time within every ``(limit, window_ms)`` rate."""

    def __init__(
        self, rates: Sequence[tuple[int, int]], db_path: Path | None = None, postgres_url: str | None = None
    ) -> None:
        self.rates = [Rate(limit, window_ms) for limit, window_ms in binding_rates(rates)]
        self.db_path = db_path
        # where the budget is kept, for messages: never the URL itself (it holds a password)
        self.store = "memory"
        if postgres_url is not None:
            from billing_pipeline.qonto.ratelimit_postgres import describe_url, postgres_bucket

            self.store = f"postgresql {describe_url(postgres_url)}"
            self._limiter = Limiter(postgres_bucket(postgres_url, self.rates))
        elif db_path is None:
            self._limiter = Limiter(self.rates)
        else:
            db_path.parent.mkdir(parents=True, exist_ok=True)
            bucket = SQLiteBucket.init_from_file(
                self.rates,
                table=_SQLITE_TABLE,
                db_path=str(db_path),
                create_new_table=True,
                use_file_lock=True,
            )
            self.store = f"sqlite {db_path}"
            self._limiter = Limiter(bucket)

    async def acquire(self) -> None:
        """Wait (without blocking the event loop) until a request may be sent."""
        started = time.monotonic()
        admitted = await self._limiter.try_acquire_async(_ITEM_NAME, weight=1)
        if not admitted:
            raise RuntimeError(f"the Qonto request budget {self.rates} can never admit a request")
        waited = time.monotonic() - started
        if waited >= _LOG_WAIT_S:
            logger.info("waited %.1f s for the Qonto request budget %s (%s)", waited, self.rates, self.store)

    def close(self) -> None:
        self._limiter.close()


_SHARED: dict[tuple[str | None, str | None, int, int, int], RequestBudget] = {}
_SHARED_LOCK = threading.Lock()


def shared_budget(
    rate_limit_10s: int,
    rate_limit_10min: int,
    db_path: Path | None,
    window_margin_s: float = 0.0,
    postgres_url: str | None = None,
) -> RequestBudget:
    """The process-wide budget for these limits (and this SQLite file or PostgreSQL, when given).

    Qonto counts per IP, so all clients of a process must share one budget; with ``db_path``
    they also share it with other processes through the SQLite file, with ``postgres_url`` (which
    wins) with every process of every machine using that server. ``window_margin_s`` widens
    both windows: a request is counted by Qonto when it arrives, which is later than when we
    take its permit by a delay that varies; a wider window absorbs that jitter.
    """
    margin_ms = round(window_margin_s * 1000)
    path = str(db_path.resolve()) if db_path is not None and postgres_url is None else None
    key = (postgres_url, path, rate_limit_10s, rate_limit_10min, margin_ms)
    with _SHARED_LOCK:
        budget = _SHARED.get(key)
        if budget is None:
            budget = RequestBudget(
                [(rate_limit_10s, TEN_SECONDS_MS + margin_ms), (rate_limit_10min, TEN_MINUTES_MS + margin_ms)],
                db_path=Path(path) if path is not None else None,
                postgres_url=postgres_url,
            )
            _SHARED[key] = budget
        return budget
