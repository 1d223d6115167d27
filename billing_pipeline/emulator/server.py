"""Running the app under uvicorn: socket binding, URLs, signals and log hygiene (CLI and tests)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from .faults import LostResponse

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind first so that ``port=0`` is resolved before the app (and its URLs) are built."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _url_host(host: str) -> str:
    return f"[{host.strip('[]')}]" if ":" in host else host


def api_base_url(host: str, port: int) -> str:
    # a wildcard bind is reached on loopback from this machine
    reachable = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else _url_host(host)  # noqa: S104
    return f"http://{reachable}:{port}"


def default_files_base_url(host: str, port: int) -> str:
    """A different host name for the same server, so credentials sent there are detectable."""
    return f"http://localhost:{port}" if host != "localhost" else f"http://127.0.0.1:{port}"


class _LostResponseLogFilter(logging.Filter):
    """uvicorn logs a traceback when the app drops a connection on purpose; say it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], LostResponse):
            record.msg = "%s: connection dropped after the request was processed"
            record.args = (str(record.exc_info[1]),)
            record.exc_info = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


def install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _LostResponseLogFilter) for existing in logger.filters):
        logger.addFilter(_LostResponseLogFilter())


def uvicorn_config(app: Starlette, *, log_level: str = "warning") -> uvicorn.Config:
    # every log line to stderr: stdout carries only the lines a shell can `export`
    log_config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": log_level.upper(), "propagate": False},
            "uvicorn.error": {"level": log_level.upper()},
            "uvicorn.access": {"handlers": ["stderr"], "level": log_level.upper(), "propagate": False},
        },
    }
    return uvicorn.Config(
        app,
        log_config=log_config,
        log_level=log_level,
        access_log=log_level in ("debug", "info"),
        lifespan="on",
        timeout_graceful_shutdown=2,
    )


class EmulatorServer(uvicorn.Server):
    """uvicorn, plus a hook once it accepts connections, minus its re-raising of SIGINT/SIGTERM
    after shutdown (the CLI exits 0 instead)."""

    def __init__(self, config: uvicorn.Config, *, on_started: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._on_started is not None:
            self._on_started()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        originals = {sig: signal.signal(sig, self._request_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    def _request_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True
