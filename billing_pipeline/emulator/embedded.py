"""The embedded emulator: the one thing production code may start from this package.

With no Qonto credentials the pipeline talks to the emulator in-process (an httpx transport, no
socket) on a state file it chooses. The pipeline depends on this module only, never on the test
helpers of ``testing``, so what the UI's runs start is exactly what is documented here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .app import create_app
from .config import EMULATOR_API_KEY, IN_PROCESS_API_BASE_URL, EmulatorConfig
from .transport import EmulatorTransport


@dataclass(frozen=True)
class EmbeddedEmulator:
    """How a client reaches it: a transport for both the API and the attachment downloads."""

    transport: EmulatorTransport
    base_url: str = IN_PROCESS_API_BASE_URL
    # the emulator's public local credentials, never the user's
    api_key: str = EMULATOR_API_KEY


def embedded_transport(config: EmulatorConfig) -> EmulatorTransport:
    """The emulator app behind an in-process transport. Close it with ``await transport.aclose()``."""
    return EmulatorTransport(create_app(config))


def start_embedded(
    state_path: Path,
    *,
    render_delay_s: float,
    einvoicing_delay_s: float = 5.0,
    outbox_dir: Path | None = None,
    einvoicing_unreachable: Iterable[str] = (),
    einvoicing_refuse: Iterable[str] = (),
    einvoicing_disabled: bool = False,
    scopes: Iterable[str] | None = None,
) -> EmbeddedEmulator:
    """The embedded emulator on ``state_path``; emailed invoices land in ``emulator-outbox/`` beside it
    unless ``outbox_dir`` says otherwise. The other options are those of ``emulator serve``: the SIREN
    lists, ``einvoicing_disabled`` (``--einvoicing-disabled``) and ``scopes`` (``--scopes``; None =
    every scope, an empty iterable = none; an unknown name raises ``pydantic.ValidationError``)."""
    config = EmulatorConfig(
        state_path=state_path,
        render_delay_s=render_delay_s,
        einvoicing_delay_s=einvoicing_delay_s,
        outbox_dir=outbox_dir,
        einvoicing_unreachable=frozenset(einvoicing_unreachable),
        einvoicing_refuse=frozenset(einvoicing_refuse),
        einvoicing_disabled=einvoicing_disabled,
        **({} if scopes is None else {"scopes": frozenset(scopes)}),
    )
    return EmbeddedEmulator(embedded_transport(config))
