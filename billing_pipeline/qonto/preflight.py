"""What a preflight asks Qonto before billing: the e-invoicing settings, and which scopes are granted.

``GET /v2/einvoicing/settings`` (qonto-api.md §11; scope ``einvoicing.read``) answers
``{"sending_status", "receiving_status"}``: whether the organization sends e-invoices (Factur-X)
and receives them.

Scopes are probed without writing anything:

- a read scope by a cheap read of an endpoint that needs it (a list with ``per_page=1``, the
  organization, the settings);
- a write scope by the documented inference (qonto-api.md §11 [our inference, unconfirmed]): an
  authorization check answers before the body is validated, so a POST of ``{}`` to a create endpoint
  is 403 when the scope is missing and 422 when it is granted, and creates nothing. A valid body is
  never sent;
- ``attachment.read`` has no list: the probe reads an attachment id that cannot exist, by the same
  inference (403 = missing, 404 = granted) [unconfirmed].

A probe is sent once and never retried — a retry would hide Qonto's first answer and, for a write,
repeat it — but it takes its permit of the request budget like every call. Its result is
``granted``, ``missing`` (403) or ``unknown`` (anything else: the error text is kept).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict

from billing_pipeline.qonto.calls import parse_model
from billing_pipeline.qonto.errors import QontoConfigurationError, QontoError, QontoForbiddenError
from billing_pipeline.qonto.session import ApiSession
from billing_pipeline.qonto.wire import ResponseModel

SETTINGS_PATH = "/v2/einvoicing/settings"
# no attachment has this id (the nil UUID): the probe of attachment.read only looks at the 403/404
NIL_ID = "00000000-0000-0000-0000-000000000000"


class EinvoicingStatus:
    """Known values of both fields (plain strings: Qonto may add values)."""

    ENABLED: Final = "enabled"
    DISABLED: Final = "disabled"
    PENDING_CREATION: Final = "pending_creation"  # receiving only
    PENDING_DELETION: Final = "pending_deletion"  # receiving only


class EinvoicingSettings(ResponseModel):
    """``GET /v2/einvoicing/settings``. For an unsupported country Qonto "returns the default settings".

    ``sending_status`` says whether e-invoicing is activated; for a French organization it does not
    cover the registration in the national directory (Annuaire) that sending also needs.
    """

    sending_status: str
    receiving_status: str | None = None

    @property
    def sending_enabled(self) -> bool:
        return self.sending_status == EinvoicingStatus.ENABLED

    @property
    def receiving_enabled(self) -> bool:
        return self.receiving_status == EinvoicingStatus.ENABLED


# ---- scopes -------------------------------------------------------------------------------------

ORGANIZATION_READ: Final = "organization.read"
CLIENT_READ: Final = "client.read"
CLIENT_WRITE: Final = "client.write"
CLIENT_INVOICES_READ: Final = "client_invoices.read"  # plural, as in Qonto's scope list
CLIENT_INVOICE_WRITE: Final = "client_invoice.write"  # singular, as in Qonto's scope list
ATTACHMENT_READ: Final = "attachment.read"
EINVOICING_READ: Final = "einvoicing.read"

# What the pipeline calls, by scope: the organization and its transactions, clients, client invoices
# and credit notes (read and write), the invoice PDFs, and the e-invoicing settings (the preflight)
PIPELINE_SCOPES: Final[tuple[str, ...]] = (
    ORGANIZATION_READ,
    CLIENT_READ,
    CLIENT_WRITE,
    CLIENT_INVOICES_READ,
    CLIENT_INVOICE_WRITE,
    ATTACHMENT_READ,
    EINVOICING_READ,
)
# spellings of the same scopes on some of Qonto's pages (Factur-X guide, credit-note create,
# send-by-e-invoice), accepted as names of the scopes of Qonto's list
SCOPE_ALIASES: Final[Mapping[str, str]] = {
    "client_invoice.read": CLIENT_INVOICES_READ,
    "client_invoices.write": CLIENT_INVOICE_WRITE,
}


class ScopeStatus(StrEnum):
    GRANTED = "granted"
    MISSING = "missing"  # Qonto answered 403
    UNKNOWN = "unknown"  # any other failure: see ScopeCheck.detail


@dataclass(frozen=True)
class ScopeProbe:
    """The one request that tells whether ``scope`` is granted."""

    scope: str
    method: str
    path: str
    params: Mapping[str, str | int] = field(default_factory=dict)
    # the statuses of an error that still prove the call was authorized (besides any 2xx)
    granted_on: frozenset[int] = frozenset()

    @property
    def writes(self) -> bool:
        return self.method != "GET"

    def describe(self) -> str:
        query = "&".join(f"{name}={value}" for name, value in self.params.items())
        body = " {}" if self.writes else ""
        return f"{self.method} {self.path}{'?' + query if query else ''}{body}"


SCOPE_PROBES: Final[Mapping[str, ScopeProbe]] = {
    ORGANIZATION_READ: ScopeProbe(ORGANIZATION_READ, "GET", "/v2/organization"),
    CLIENT_READ: ScopeProbe(CLIENT_READ, "GET", "/v2/clients", {"per_page": 1}),
    CLIENT_INVOICES_READ: ScopeProbe(CLIENT_INVOICES_READ, "GET", "/v2/client_invoices", {"per_page": 1}),
    ATTACHMENT_READ: ScopeProbe(ATTACHMENT_READ, "GET", f"/v2/attachments/{NIL_ID}", granted_on=frozenset({404})),
    EINVOICING_READ: ScopeProbe(EINVOICING_READ, "GET", SETTINGS_PATH),
    # write scopes: an empty object to the create endpoint, 422 = authorized, then refused
    CLIENT_WRITE: ScopeProbe(CLIENT_WRITE, "POST", "/v2/clients", granted_on=frozenset({422})),
    CLIENT_INVOICE_WRITE: ScopeProbe(
        CLIENT_INVOICE_WRITE, "POST", "/v2/client_invoices", granted_on=frozenset({422})
    ),
}


class ScopeCheck(BaseModel):
    """The outcome of one probe. ``detail``: Qonto's error text (missing, unknown), or a warning."""

    model_config = ConfigDict(frozen=True)

    scope: str
    status: ScopeStatus
    probe: str  # the request sent, e.g. "POST /v2/clients {}"
    http_status: int | None = None  # None when no HTTP answer came back (or a success)
    detail: str | None = None


class ScopeReport(BaseModel):
    """Every probe's outcome, in the order the scopes were asked for."""

    model_config = ConfigDict(frozen=True)

    checks: tuple[ScopeCheck, ...]

    def _with(self, status: ScopeStatus) -> list[str]:
        return [check.scope for check in self.checks if check.status is status]

    @property
    def granted(self) -> list[str]:
        return self._with(ScopeStatus.GRANTED)

    @property
    def missing(self) -> list[str]:
        return self._with(ScopeStatus.MISSING)

    @property
    def unknown(self) -> list[str]:
        return self._with(ScopeStatus.UNKNOWN)

    @property
    def all_granted(self) -> bool:
        return all(check.status is ScopeStatus.GRANTED for check in self.checks)

    def get(self, scope: str) -> ScopeCheck | None:
        name = SCOPE_ALIASES.get(scope, scope)
        return next((check for check in self.checks if check.scope == name), None)


def scope_probe(scope: str) -> ScopeProbe:
    """The probe of ``scope`` (aliases resolved); ``ValueError`` for a scope nothing here can probe."""
    name = SCOPE_ALIASES.get(scope, scope)
    try:
        return SCOPE_PROBES[name]
    except KeyError:
        raise ValueError(f"no probe for the scope {scope!r}; probed scopes: {', '.join(SCOPE_PROBES)}") from None


async def run_probe(session: ApiSession, probe: ScopeProbe) -> ScopeCheck:
    """Send ``probe`` once (no retry) and read its answer."""
    described = probe.describe()
    try:
        await session.call_once(
            probe.method, probe.path, params=dict(probe.params) or None, body={} if probe.writes else None
        )
    except QontoForbiddenError as error:
        return ScopeCheck(
            scope=probe.scope, status=ScopeStatus.MISSING, probe=described, http_status=403, detail=error.message
        )
    except QontoConfigurationError as error:
        # a non-JSON answer is not Qonto's: an error status in it proves nothing about the scope
        return ScopeCheck(
            scope=probe.scope,
            status=ScopeStatus.UNKNOWN,
            probe=described,
            http_status=error.status,
            detail=error.message,
        )
    except QontoError as error:
        status = ScopeStatus.GRANTED if error.status in probe.granted_on else ScopeStatus.UNKNOWN
        return ScopeCheck(
            scope=probe.scope,
            status=status,
            probe=described,
            http_status=error.status,
            detail=None if status is ScopeStatus.GRANTED else error.message,
        )
    warning = None
    if probe.writes:
        # the empty body was accepted: authorized, but Qonto may have created something
        warning = f"{described} succeeded although its body was empty: check that nothing was created"
    return ScopeCheck(scope=probe.scope, status=ScopeStatus.GRANTED, probe=described, detail=warning)


class PreflightCalls:
    """Mixed into ``QontoClient``, which provides the session."""

    _session: ApiSession

    async def get_einvoicing_settings(self) -> EinvoicingSettings:
        """The organization's e-invoicing settings; ``QontoForbiddenError`` without ``einvoicing.read``."""
        body = await self._session.call("GET", SETTINGS_PATH)
        # documented unwrapped (qonto-api.md §11); no envelope key is named [unconfirmed]
        if body is None:
            raise QontoConfigurationError(
                f"GET {SETTINGS_PATH} answered without a body", method="GET", path=SETTINGS_PATH
            )
        return parse_model(EinvoicingSettings, body)

    async def probe_scopes(self, scopes: Iterable[str] = PIPELINE_SCOPES) -> ScopeReport:
        """Which of ``scopes`` the credentials carry, one request each, nothing written, nothing retried.

        ``ValueError`` (before any request) for a scope without a probe (``SCOPE_PROBES``).
        """
        by_scope = {probe.scope: probe for probe in map(scope_probe, scopes)}  # each scope probed once
        probes = list(by_scope.values())
        checks = await asyncio.gather(*(run_probe(self._session, probe) for probe in probes))
        return ScopeReport(checks=tuple(checks))
