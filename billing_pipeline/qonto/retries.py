"""Which failures are retried, and how long to wait between attempts.

Reads are retried on 429, 5xx and transport errors. Writes are retried only when they provably
never reached Qonto: a connection that could not be established, or a 429 (Qonto answers it before
doing anything). Every other write failure is ambiguous and surfaces as
``QontoAmbiguousWriteError`` for the caller to reconcile: a 5xx on a POST/PATCH/DELETE included,
because a gateway or the application may fail after the write was committed.

The backoff is exponential with jitter; a ``Retry-After`` header, when present, wins. The sleep
function is part of the policy so that tests can record waits instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from billing_pipeline.qonto.errors import (
    QontoError,
    QontoRateLimitedError,
    QontoServerError,
    QontoTransportError,
)

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_jitter = random.SystemRandom()


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff timing. ``attempts`` counts the first try; ``sleep`` is injectable for tests."""

    attempts: int = 6
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    wait_exp_base: float = 2.0
    retry_after_max: float = 120.0
    sleep: Sleep = field(default=asyncio.sleep)

    def backoff(self, attempt_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt_number`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        jitter = _jitter.uniform(0, self.wait_jitter) if self.wait_jitter > 0 else 0.0
        try:
            exponential = self.wait_initial * self.wait_exp_base ** (attempt_number - 1)
        except OverflowError:
            return self.wait_max
        return min(self.wait_max, exponential + jitter)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)


def is_idempotent(method: str) -> bool:
    return method.upper() in READ_METHODS


def is_retryable(error: BaseException, *, idempotent: bool) -> bool:
    """Whether ``error`` may be retried without risking a double write."""
    if isinstance(error, QontoRateLimitedError):
        return True
    if isinstance(error, QontoTransportError) and not error.request_sent:
        return True
    if idempotent:
        return isinstance(error, QontoServerError | QontoTransportError)
    return False


def retrying(policy: RetryPolicy, what: str, *, idempotent: bool) -> AsyncRetrying:
    """A tenacity loop applying ``policy`` to one logical call (``what`` names it in logs)."""

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = error.retry_after if isinstance(error, QontoError) else None
        return policy.backoff(state.attempt_number, retry_after)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "Qonto %s failed (attempt %d/%d: %s); retrying in %.2f s",
            what,
            state.attempt_number,
            policy.attempts,
            error,
            delay,
        )

    return AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry_if_exception(lambda e: is_retryable(e, idempotent=idempotent)),
        sleep=policy.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
