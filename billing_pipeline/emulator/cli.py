"""``billing-pipeline emulator serve|reset`` — the local Qonto emulator on a loopback port."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from .app import create_app
from .config import EMULATOR_API_KEY, EMULATOR_STAGING_TOKEN, EmulatorConfig, default_state_path
from .runtime import EmulatorRuntime
from .scopes import ALL_SCOPES
from .server import (
    EmulatorServer,
    api_base_url,
    bind_socket,
    default_files_base_url,
    install_log_filter,
    is_loopback,
    uvicorn_config,
)

DEFAULT_PORT = 8765


def _config(values: dict[str, Any]) -> EmulatorConfig:
    try:
        return EmulatorConfig.model_validate({key: value for key, value in values.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
        raise click.UsageError(f"invalid emulator setting: {problems}") from exc


@click.group()
def emulator() -> None:
    """The local Qonto emulator (emulated invoices only — never real ones)."""


@emulator.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback only by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True, help="0 = a free port.")
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path), help="SQLite state file.")
@click.option(
    "--render-delay",
    type=float,
    envvar="QONTO_EMULATOR_RENDER_DELAY",
    help="Seconds from finalize to the Factur-X PDF (default 10).",
)
@click.option("--attachment-gap", type=float, help="Max seconds attachment_id reads null after finalize (default 0).")
@click.option("--latency-ms", type=int, help="Added to every API request.")
@click.option("--fault-rate", type=float, help="Share of API requests answered 500 (0..1).")
@click.option("--lost-response-rate", type=float, help="Share of API requests whose response is dropped (0..1).")
@click.option("--no-rate-limit", is_flag=True, help="Disable Qonto's 1000/10 s and 10000/10 min limits.")
@click.option("--sandbox", is_flag=True, help="Require X-Qonto-Staging-Token like Qonto's sandbox.")
@click.option("--refuse-api-key-finalize", is_flag=True, help="Answer 403 to finalize under API-key auth.")
@click.option("--url-ttl", "url_ttl_s", type=int, help="Lifetime of signed download URLs in seconds (default 1800).")
@click.option("--files-base-url", help="Base of signed download URLs (default: http://localhost:PORT).")
@click.option(
    "--outbox",
    "outbox_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the emailed invoices, one .eml per send (default: emulator-outbox/ beside the state file).",
)
@click.option(
    "--einvoicing-delay",
    type=float,
    envvar="QONTO_EMULATOR_EINVOICING_DELAY",
    help="Seconds between e-invoicing lifecycle steps submitted → issued → received (default 5).",
)
@click.option(
    "--einvoicing-unreachable",
    metavar="SIREN[,SIREN…]",
    help="French companies not reachable on the e-invoicing network (others with a valid SIREN are).",
)
@click.option("--einvoicing-refuse", metavar="SIREN[,SIREN…]", help="Buyers that refuse e-invoices (code 210).")
@click.option(
    "--einvoicing-disabled",
    is_flag=True,
    help="The organization has not enabled e-invoicing: GET /v2/einvoicing/settings says so and what is "
    "finalized gets a plain PDF, without factur-x.xml.",
)
@click.option(
    "--scopes",
    metavar="SCOPE[,SCOPE…]",
    help="The credentials carry only these OAuth scopes (default: all); a call needing another is answered "
    f"403 before its body is validated. Scopes: {', '.join(sorted(ALL_SCOPES))}.",
)
@click.option("--seed", type=int, help="Seed of the random faults.")
@click.option("--allow-non-loopback", is_flag=True, help="Allow binding an address reachable from other machines.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning")
def serve(
    host: str,
    port: int,
    state_path: Path | None,
    render_delay: float | None,
    attachment_gap: float | None,
    latency_ms: int | None,
    fault_rate: float | None,
    lost_response_rate: float | None,
    no_rate_limit: bool,
    sandbox: bool,
    refuse_api_key_finalize: bool,
    url_ttl_s: int | None,
    files_base_url: str | None,
    outbox_dir: Path | None,
    einvoicing_delay: float | None,
    einvoicing_unreachable: str | None,
    einvoicing_refuse: str | None,
    einvoicing_disabled: bool,
    scopes: str | None,
    seed: int | None,
    allow_non_loopback: bool,
    log_level: str,
) -> None:
    """Serve the emulator; prints QONTO_BASE_URL and QONTO_API_KEY once it accepts connections."""
    if not is_loopback(host) and not allow_non_loopback:
        raise click.UsageError(
            f"refusing to bind {host}: it is not a loopback address and the emulator's credentials are "
            "public; pass --allow-non-loopback to do it anyway"
        )
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot bind {host}:{port}: {exc}") from exc
    bound_port = sock.getsockname()[1]
    config = _config(
        {
            "state_path": state_path or default_state_path(),
            "render_delay_s": render_delay,
            "attachment_gap_s": attachment_gap,
            "latency_ms": latency_ms,
            "fault_rate": fault_rate,
            "lost_response_rate": lost_response_rate,
            "rate_limit_10s": 0 if no_rate_limit else None,
            "rate_limit_10min": 0 if no_rate_limit else None,
            "sandbox": sandbox,
            "refuse_api_key_finalize": refuse_api_key_finalize,
            "url_ttl_s": url_ttl_s,
            "files_base_url": files_base_url or default_files_base_url(host, bound_port),
            "outbox_dir": outbox_dir,
            "einvoicing_delay_s": einvoicing_delay,
            "einvoicing_unreachable": einvoicing_unreachable,
            "einvoicing_refuse": einvoicing_refuse,
            "einvoicing_disabled": einvoicing_disabled,
            "scopes": scopes,
            "seed": seed,
        }
    )
    lines = [f"QONTO_BASE_URL={api_base_url(host, bound_port)}", f"QONTO_API_KEY={EMULATOR_API_KEY}"]
    if config.sandbox:
        lines.append(f"QONTO_STAGING_TOKEN={EMULATOR_STAGING_TOKEN}")
    install_log_filter()

    def announce() -> None:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()

    server = EmulatorServer(uvicorn_config(create_app(config), log_level=log_level), on_started=announce)
    click.echo(f"local Qonto emulator (emulated invoices, not real ones); state: {config.state_path}", err=True)
    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        runner.run(server.serve(sockets=[sock]))


@emulator.command()
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path), help="SQLite state file.")
def reset(state_path: Path | None) -> None:
    """Wipe the emulator's state back to the freshly seeded organization (servers may keep running)."""
    config = _config({"state_path": state_path or default_state_path()})
    runtime = EmulatorRuntime(config)
    try:
        runtime.reset()
    finally:
        runtime.close()
    click.echo(f"emulator state reset: {config.state_path}")


class _BadStateFile(click.ClickException):
    """Printed as one line, ``Error: <message>``, with the usage-error status (click's UsageError adds
    the usage text and a hint: several lines)."""

    exit_code = 2


@emulator.command()
@click.option(
    "--state",
    "state_path",
    # existence and kind are checked by check_existing_state, whose refusals are one line
    type=click.Path(path_type=Path),
    required=True,
    help="An existing SQLite state file (of a running or past `emulator serve`, or of the pipeline).",
)
@click.option("--amount", required=True, help="Amount in euros, a decimal with at most two decimals (e.g. 120.00).")
@click.option("--label", help="The bank's label of the movement (default: the counterparty's name).")
@click.option("--reference", help="The remittance information the payer typed.")
@click.option("--counterparty", help="The payer's (or payee's) name, Qonto's clean_counterparty_name.")
@click.option("--iban", help="The counterparty's IBAN.")
@click.option("--settled-at", "settled_at", help="ISO 8601 instant with an offset (default: the emulator's now).")
@click.option("--side", type=click.Choice(["credit", "debit"]), default="credit", show_default=True)
def transfer(
    state_path: Path,
    amount: str,
    label: str | None,
    reference: str | None,
    counterparty: str | None,
    iban: str | None,
    settled_at: str | None,
    side: str,
) -> None:
    """Record a settled bank transaction on the emulated organization's main account; prints its id.

    A server running on the same state file sees it at once (the state is shared). The state file
    must exist already: a missing or unusable one is refused (exit 2) and nothing is created.
    """
    from .admin import add_transaction
    from .state_file import StateFileError, check_existing_state
    from .transactions import TransactionIn

    try:
        body = TransactionIn.model_validate(
            {
                key: value
                for key, value in {
                    "amount": amount,
                    "label": label,
                    "reference": reference,
                    "counterparty": counterparty,
                    "iban": iban,
                    "settled_at": settled_at,
                    "side": side,
                }.items()
                if value is not None
            }
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, error['loc'])) or 'input'}: {error['msg']}" for error in exc.errors())
        raise click.UsageError(f"invalid transfer: {problems}") from exc
    try:
        check_existing_state(state_path)
    except StateFileError as exc:
        raise _BadStateFile(str(exc)) from None
    runtime = EmulatorRuntime(_config({"state_path": state_path}))
    try:
        runtime.ensure_ready()
        transaction = add_transaction(runtime, body)
    except sqlite3.Error as exc:  # e.g. a file damaged past its header: still one line, no traceback
        raise _BadStateFile(str(StateFileError(state_path, f"SQLite failed on it ({exc})"))) from None
    finally:
        runtime.close()
    click.echo(transaction["id"])
