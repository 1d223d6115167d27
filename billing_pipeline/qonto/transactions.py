"""Bank transactions and invoice payment calls of ``QontoClient`` (qonto-api.md §8.3, §8.5b).

``GET /v2/transactions`` lists one bank account's movements (``bank_account_id`` or ``iban`` is
required); its filters are plain query parameters, arrays spelled ``status[]`` / ``operation_type[]``
(not the ``filter[...]`` form of the invoicing lists). ``POST …/mark_as_paid`` on an already paid
invoice only updates ``paid_at``, so repeating it is safe: it is retried like a read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from pydantic import model_validator

from billing_pipeline.qonto.calls import envelope, iterate_pages, parse_model, segment
from billing_pipeline.qonto.errors import QontoConfigurationError
from billing_pipeline.qonto.invoice_models import ClientInvoice
from billing_pipeline.qonto.session import ApiSession
from billing_pipeline.qonto.wire import MAX_PER_PAGE, Page, PageMeta, ResponseModel, Timestamp

PATH = "/v2/transactions"


class TransactionSide:
    CREDIT: Final = "credit"
    DEBIT: Final = "debit"


class TransactionStatus:
    PENDING: Final = "pending"
    DECLINED: Final = "declined"
    COMPLETED: Final = "completed"


class TransferDetails(ResponseModel):
    counterparty_account_number: str | None = None
    counterparty_bank_identifier: str | None = None


class Transaction(ResponseModel):
    """One bank movement. ``amount`` is exact: taken from ``amount_cents`` when Qonto gives it (the
    euro ``amount`` is a JSON number in Qonto's examples, which a float could round)."""

    id: str
    transaction_id: str | None = None
    amount: Decimal
    amount_cents: int | None = None
    settled_balance: Decimal | None = None
    currency: str = "EUR"
    side: str
    operation_type: str | None = None
    status: str
    label: str | None = None
    reference: str | None = None
    note: str | None = None
    settled_at: Timestamp | None = None
    emitted_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    clean_counterparty_name: str | None = None
    transfer: TransferDetails | None = None

    @model_validator(mode="before")
    @classmethod
    def _exact_amount(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if isinstance(data.get("amount_cents"), int):
                data["amount"] = Decimal(data["amount_cents"]).scaleb(-2)
            elif isinstance(data.get("amount"), float | int):
                data["amount"] = Decimal(repr(data["amount"])).quantize(Decimal("0.01"))
        return data

    @property
    def is_credit(self) -> bool:
        return self.side == TransactionSide.CREDIT


def _instant(name: str, value: datetime | None) -> dict[str, str]:
    if value is None:
        return {}
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return {name: value.isoformat()}


class TransactionCalls:
    """Mixed into ``QontoClient``, which provides the session."""

    _session: ApiSession

    async def list_transactions(
        self,
        *,
        bank_account_id: str | None = None,
        iban: str | None = None,
        status: Sequence[str] | None = None,
        side: str | None = None,
        operation_type: Sequence[str] | None = None,
        settled_at_from: datetime | None = None,
        settled_at_to: datetime | None = None,
        updated_at_from: datetime | None = None,
        updated_at_to: datetime | None = None,
        sort_by: str | None = None,
        page: int = 1,
        per_page: int = MAX_PER_PAGE,
    ) -> Page[Transaction]:
        if not (bank_account_id or iban):
            raise ValueError("GET /v2/transactions needs bank_account_id or iban")
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"page must be >= 1 and per_page in 1..{MAX_PER_PAGE}")
        params: dict[str, str | int | list[str]] = {"page": page, "per_page": per_page}
        if bank_account_id:
            params["bank_account_id"] = bank_account_id
        else:
            params["iban"] = str(iban)
        if status:
            params["status[]"] = list(status)
        if operation_type:
            params["operation_type[]"] = list(operation_type)
        if side:
            params["side"] = side
        if sort_by:
            params["sort_by"] = sort_by
        for name, value in (
            ("settled_at_from", settled_at_from),
            ("settled_at_to", settled_at_to),
            ("updated_at_from", updated_at_from),
            ("updated_at_to", updated_at_to),
        ):
            params.update(_instant(name, value))
        body = await self._session.call("GET", PATH, params=params)
        if body is None or not isinstance(body.get("transactions"), list):
            raise QontoConfigurationError(
                f"GET {PATH} answered without the 'transactions' list", method="GET", path=PATH
            )
        items = [parse_model(Transaction, item) for item in body["transactions"]]
        return Page[Transaction](items=items, meta=parse_model(PageMeta, body.get("meta") or {}))

    async def iter_transactions(self, **filters: Any) -> AsyncIterator[Transaction]:
        """Every page of ``list_transactions(**filters)``."""

        async def fetch(page: int) -> Page[Transaction]:
            return await self.list_transactions(**filters, page=page)

        async for transaction in iterate_pages(fetch):
            yield transaction

    async def mark_client_invoice_paid(self, invoice_id: str, paid_at: date) -> ClientInvoice:
        """unpaid → paid with ``paid_at``; on a paid invoice Qonto only updates ``paid_at`` (safe to repeat)."""
        path = f"/v2/client_invoices/{segment(invoice_id)}/mark_as_paid"
        body = await self._session.call("POST", path, body={"paid_at": paid_at.isoformat()}, idempotent=True)
        return parse_model(ClientInvoice, envelope(body, "client_invoice", f"POST {path}"))
