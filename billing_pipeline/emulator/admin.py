"""Test control under ``/_emulator/``: no auth, not rate-limited, never counted in the stats."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import attachments
from .clients import client_json
from .clock import format_utc
from .credit_notes import CreditNoteBook
from .delivery import sent_emails_state
from .einvoicing import submissions_state
from .errors import api_error, from_validation_error
from .faults import FaultRequest, pending_faults, queue_fault
from .invoices import InvoiceBook
from .runtime import EmulatorRuntime
from .seed import load_organization
from .store import CLOCK_OFFSET_KEY, business_now_ms, get_meta, set_meta
from .traffic import stats
from .transactions import TransactionIn, all_transactions, record_transaction


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["all", "traffic"] = "all"


class ClockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advance_s: float = Field(ge=0)


def _runtime(request: Request) -> EmulatorRuntime:
    runtime: EmulatorRuntime = request.app.state.runtime
    return runtime


async def _call(request: Request, function: Any, *args: Any) -> Any:
    runtime = _runtime(request)
    await run_in_threadpool(runtime.ensure_ready)
    return await run_in_threadpool(function, runtime, *args)


async def _parse(request: Request, model: type[BaseModel]) -> Any:
    raw = await request.body()
    try:
        return model.model_validate(json.loads(raw) if raw.strip() else {})
    except ValidationError as exc:
        raise from_validation_error(exc) from exc
    except ValueError as exc:
        raise api_error(422, "invalid_body", f"the request body is not valid JSON: {exc}") from exc


def _queue(runtime: EmulatorRuntime, fault: FaultRequest) -> int:
    with runtime.store.write() as connection:
        return queue_fault(connection, fault)


def _pending(runtime: EmulatorRuntime) -> list[dict[str, object]]:
    with runtime.store.read() as connection:
        return pending_faults(connection)


def _clear_faults(runtime: EmulatorRuntime) -> None:
    with runtime.store.write() as connection:
        connection.execute("DELETE FROM faults")


def _state(runtime: EmulatorRuntime) -> dict[str, Any]:
    with runtime.store.read() as connection:
        now_ms = business_now_ms(connection)
        organization = load_organization(connection)
        book = InvoiceBook(connection, runtime.config, organization, now_ms)
        client_rows = connection.execute("SELECT * FROM clients ORDER BY created_at, seq").fetchall()
        version_rows = connection.execute(
            "SELECT attachment_id, version_ms, kind, invoice_id, pdf IS NOT NULL AS rendered"
            " FROM attachment_versions ORDER BY attachment_id, version_ms"
        ).fetchall()
        current = {
            row["attachment_id"]: attachments.current_version(connection, row["attachment_id"], now_ms)
            for row in version_rows
        }
        return {
            "now": format_utc(now_ms),
            "organization": organization,
            "clients": [client_json(row, runtime.config.einvoicing_unreachable) for row in client_rows],
            "client_invoices": book.all_invoices(),
            "credit_notes": CreditNoteBook(book).all_credit_notes(),
            "transactions": all_transactions(connection),
            "attachment_versions": [
                {
                    "attachment_id": row["attachment_id"],
                    "invoice_id": row["invoice_id"],
                    "kind": row["kind"],
                    "updated_at": format_utc(row["version_ms"]),
                    "rendered": bool(row["rendered"]),
                    "current": (version := current[row["attachment_id"]]) is not None
                    and version.version_ms == row["version_ms"],
                }
                for row in version_rows
            ],
            # deliveries, so that tests can count them: one entry per accepted send / submission
            "sent_emails": sent_emails_state(connection),
            "einvoice_submissions": submissions_state(connection),
        }


def add_transaction(runtime: EmulatorRuntime, body: TransactionIn) -> dict[str, Any]:
    """A settled bank movement on one of the organization's accounts (the admin API and the CLI)."""
    with runtime.store.write() as connection:
        return record_transaction(connection, body, business_now_ms(connection))


def _advance_clock(runtime: EmulatorRuntime, advance_s: float) -> dict[str, Any]:
    with runtime.store.write() as connection:
        offset = int(get_meta(connection, CLOCK_OFFSET_KEY) or 0) + round(advance_s * 1000)
        set_meta(connection, CLOCK_OFFSET_KEY, str(offset))
        return {"offset_s": offset / 1000, "now": format_utc(business_now_ms(connection))}


async def post_fault(request: Request) -> Response:
    fault = await _parse(request, FaultRequest)
    try:
        fault.fault()
    except ValidationError as exc:
        raise from_validation_error(exc) from exc
    fault_id = await _call(request, _queue, fault)
    return JSONResponse({"fault_id": fault_id}, status_code=201)


async def get_faults(request: Request) -> Response:
    return JSONResponse({"faults": await _call(request, _pending)})


async def delete_faults(request: Request) -> Response:
    await _call(request, _clear_faults)
    return Response(status_code=204)


async def post_reset(request: Request) -> Response:
    body = await _parse(request, ResetRequest)
    runtime = _runtime(request)
    await run_in_threadpool(runtime.reset, traffic_only=body.scope == "traffic")
    return JSONResponse({"reset": body.scope})


async def get_stats(request: Request) -> Response:
    return JSONResponse(await _call(request, stats))


async def get_state(request: Request) -> Response:
    return JSONResponse(await _call(request, _state))


async def post_clock(request: Request) -> Response:
    body = await _parse(request, ClockRequest)
    return JSONResponse(await _call(request, _advance_clock, body.advance_s))


async def post_transaction(request: Request) -> Response:
    body = await _parse(request, TransactionIn)
    return JSONResponse({"transaction": await _call(request, add_transaction, body)}, status_code=201)


def admin_routes() -> list[Route]:
    return [
        Route("/_emulator/faults", post_fault, methods=["POST"]),
        Route("/_emulator/faults", get_faults, methods=["GET"]),
        Route("/_emulator/faults", delete_faults, methods=["DELETE"]),
        Route("/_emulator/reset", post_reset, methods=["POST"]),
        Route("/_emulator/stats", get_stats, methods=["GET"]),
        Route("/_emulator/state", get_state, methods=["GET"]),
        Route("/_emulator/clock", post_clock, methods=["POST"]),
        Route("/_emulator/transactions", post_transaction, methods=["POST"]),
    ]
