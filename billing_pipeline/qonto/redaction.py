"""Keep Qonto secrets out of log lines, reprs and exception messages.

Every secret the client handles (API secret key, the ``login:secret`` header value, the staging
token, OAuth client secret, refresh and access tokens) is registered here as soon as it is known.
A logging filter attached to the loggers of httpx, httpcore and this package rewrites any record
that contains one of them, and the same ``redact`` is applied to our own exception messages.
Signed download URLs are bearer credentials for 30 minutes, so their signature-like query
parameters are masked as well.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

MASK = "[REDACTED]"

# Shorter strings would mask ordinary words; no real Qonto secret is that short.
_MIN_SECRET_LENGTH = 6

_SIGNED_QUERY = re.compile(
    r"(?i)\b(signature|x-amz-signature|x-amz-credential|x-amz-security-token|token|access_token)=[^&\s\"'>]+"
)

# Loggers that may see request details. httpcore creates one logger per module and filters on a
# parent logger do not apply to records of its children, hence the explicit list.
_WATCHED_LOGGERS: tuple[str, ...] = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "billing_pipeline.qonto",
)


class _SecretRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, secret: str) -> None:
        if len(secret) < _MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret in self._secrets:
                return
            self._secrets.add(secret)
            # longest first so that "login:secret" is masked whole rather than around "secret"
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return _SIGNED_QUERY.sub(lambda m: f"{m.group(1)}={MASK}", text)


_REGISTRY = _SecretRegistry()


def register_secret(*secrets: str | None) -> None:
    """Remember secrets so that every later log line and error message masks them."""
    for secret in secrets:
        if secret:
            _REGISTRY.add(secret)


def redact(text: str) -> str:
    """Mask every registered secret and every signed-URL parameter in ``text``."""
    return _REGISTRY.redact(text)


class RedactingFilter(logging.Filter):
    """Rewrites a log record whose rendered message contains a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            # exceptions from httpx may quote URLs; render the traceback now, redacted
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_FILTER = RedactingFilter()
_install_lock = threading.Lock()


def install_log_redaction(extra_loggers: Iterable[str] = ()) -> None:
    """Attach the redacting filter to the HTTP and Qonto loggers (idempotent)."""
    with _install_lock:
        names = set(_WATCHED_LOGGERS) | set(extra_loggers)
        names |= {
            name
            for name in list(logging.root.manager.loggerDict)
            if name.startswith(("httpx", "httpcore", "billing_pipeline.qonto"))
        }
        for name in names:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
