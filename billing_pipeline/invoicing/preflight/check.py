"""The preflight: what must hold in Qonto before the first irreversible step of a period.

A finalized invoice is a legal document. Before any client, draft or finalization is written, ask
Qonto whether what billing needs is there, and name what to fix when it is not:

- every scope the pipeline's calls need (a 403 names the scope; nothing is written by the probes);
- e-invoicing sending enabled (``GET /v2/einvoicing/settings``): without it Qonto finalizes and
  numbers the invoices but renders no Factur-X;
- the receiving account: the open (main) account whose IBAN every invoice asks to be paid on;
- the seller's identifiers: the organization's SIREN, which the Factur-X carries (BT-30).

What the credentials cannot read (``einvoicing.read`` is not among the scopes of Qonto's Factur-X
guide) or a probe Qonto answered oddly is a named warning: never reported as a pass, never a
reason to stop billing by itself.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from stdnum.exceptions import ValidationError as IdentifierError
from stdnum.fr import siren as fr_siren

from billing_pipeline.qonto import QontoClient, QontoError
from billing_pipeline.qonto.parties import Organization
from billing_pipeline.qonto.preflight import (
    ATTACHMENT_READ,
    CLIENT_INVOICE_WRITE,
    CLIENT_INVOICES_READ,
    CLIENT_READ,
    CLIENT_WRITE,
    EINVOICING_READ,
    ORGANIZATION_READ,
    PIPELINE_SCOPES,
    ScopeReport,
    ScopeStatus,
)

# why billing needs each scope: said with the problem, so a person knows what stops without it
WHAT_NEEDS_IT: dict[str, str] = {
    ORGANIZATION_READ: "the IBAN printed on every invoice, and the payments read from the account",
    CLIENT_READ: "finding each customer's Qonto client",
    CLIENT_WRITE: "creating and updating the customers' clients",
    CLIENT_INVOICES_READ: "reconciling invoices and credit notes before any create",
    CLIENT_INVOICE_WRITE: "creating, finalizing, crediting and sending invoices",
    ATTACHMENT_READ: "downloading the Factur-X files",
}
GRANT_SCOPE = (
    "grant it to the credentials in Qonto (OAuth: add it to the app's requested scopes and authorize again; "
    "API key: Qonto's endpoints access table lists what a key may call)"
)
ENABLE_EINVOICING = (
    "enable e-invoicing in Qonto (Settings › E-invoicing) before billing: a finalized invoice is numbered "
    "and legally issued, and without e-invoicing Qonto renders it as a plain PDF, not a Factur-X"
)


class PreflightFinding(BaseModel):
    """One thing the preflight found: ``name`` is stable (scripts may match it), ``fix`` says what to do."""

    model_config = ConfigDict(frozen=True)
    name: str
    message: str
    fix: str | None = None


class PreflightReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    problems: tuple[PreflightFinding, ...] = ()
    warnings: tuple[PreflightFinding, ...] = ()
    # what was confirmed, for the report (no secret: an IBAN is printed on every invoice)
    confirmed: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ready:
            return "ready to bill" + (f" ({len(self.warnings)} warning(s))" if self.warnings else "")
        return "not ready to bill: " + "; ".join(p.message for p in self.problems)

    def lines(self) -> list[str]:
        """The text report: one line per finding, problems first."""
        rows = [f"NOT READY  {p.name}: {p.message}" + (f" — {p.fix}" if p.fix else "") for p in self.problems]
        rows += [f"WARNING    {w.name}: {w.message}" + (f" — {w.fix}" if w.fix else "") for w in self.warnings]
        rows += [f"ok         {fact}" for fact in self.confirmed]
        return rows


async def run_preflight(qonto: QontoClient) -> PreflightReport:
    """Ask Qonto; write nothing. Every probe is one request through the shared request budget."""
    problems: list[PreflightFinding] = []
    warnings: list[PreflightFinding] = []
    confirmed: list[str] = []
    scopes = await qonto.probe_scopes(PIPELINE_SCOPES)
    _judge_scopes(scopes, problems, warnings, confirmed)
    if _granted(scopes, EINVOICING_READ):
        await _judge_einvoicing(qonto, problems, warnings, confirmed)
    else:
        warnings.append(
            PreflightFinding(
                name="einvoicing.unconfirmed",
                message="the e-invoicing settings could not be read (no einvoicing.read): e-invoicing is not "
                "confirmed enabled",
                fix="grant einvoicing.read to let the preflight confirm it, or check Settings › E-invoicing in Qonto",
            )
        )
    if _granted(scopes, ORGANIZATION_READ):
        await _judge_organization(qonto, problems, warnings, confirmed)
    return PreflightReport(problems=tuple(problems), warnings=tuple(warnings), confirmed=tuple(confirmed))


def _granted(scopes: ScopeReport, scope: str) -> bool:
    check = scopes.get(scope)
    return check is not None and check.status is ScopeStatus.GRANTED


def _judge_scopes(
    scopes: ScopeReport, problems: list[PreflightFinding], warnings: list[PreflightFinding], confirmed: list[str]
) -> None:
    for check in scopes.checks:
        if check.scope == EINVOICING_READ:
            continue  # optional: its absence is the e-invoicing warning above
        if check.status is ScopeStatus.GRANTED:
            confirmed.append(f"scope {check.scope}")
        elif check.status is ScopeStatus.MISSING:
            problems.append(
                PreflightFinding(
                    name=f"scope.{check.scope}",
                    message=f"the credentials lack the scope {check.scope}, needed for {WHAT_NEEDS_IT[check.scope]} "
                    f"(Qonto answered 403 to {check.probe})",
                    fix=GRANT_SCOPE,
                )
            )
        else:
            warnings.append(
                PreflightFinding(
                    name=f"scope.{check.scope}",
                    message=f"could not tell whether the scope {check.scope} is granted: {check.probe} answered "
                    f"{check.http_status or 'nothing'} ({check.detail or 'no detail'})",
                )
            )


async def _judge_einvoicing(
    qonto: QontoClient, problems: list[PreflightFinding], warnings: list[PreflightFinding], confirmed: list[str]
) -> None:
    try:
        settings = await qonto.get_einvoicing_settings()
    except QontoError as error:
        warnings.append(PreflightFinding(name="einvoicing.unconfirmed", message=f"e-invoicing settings: {error}"))
        return
    if settings.sending_enabled:
        confirmed.append("e-invoicing sending enabled")
        return
    problems.append(
        PreflightFinding(
            name="einvoicing.sending",
            message=f"e-invoicing sending is {settings.sending_status} for this Qonto organization",
            fix=ENABLE_EINVOICING,
        )
    )


async def _judge_organization(
    qonto: QontoClient, problems: list[PreflightFinding], warnings: list[PreflightFinding], confirmed: list[str]
) -> None:
    try:
        organization = await qonto.get_organization()
    except QontoError as error:
        warnings.append(PreflightFinding(name="organization.unread", message=f"the organization: {error}"))
        return
    try:
        account = organization.main_account()
    except LookupError:
        problems.append(
            PreflightFinding(
                name="receiving_account",
                message="the organization has no open Qonto account for customers to pay into",
                fix="open (or reopen) a Qonto account: every invoice prints the IBAN it is to be paid on",
            )
        )
    else:
        confirmed.append(f"receiving account {account.name or account.slug or ''} {_masked(account.iban)}".strip())
    _judge_seller(organization, problems, confirmed)


def _judge_seller(organization: Organization, problems: list[PreflightFinding], confirmed: list[str]) -> None:
    if organization.legal_country not in (None, "FR"):
        confirmed.append(f"seller {organization.legal_name or organization.id} ({organization.legal_country})")
        return
    try:
        siren = fr_siren.validate(organization.legal_number or "")
    except IdentifierError:
        problems.append(
            PreflightFinding(
                name="seller.siren",
                message=f"the organization's SIREN {organization.legal_number or '(none)'} is not a valid SIREN: "
                "the Factur-X of every invoice carries it (BT-30)",
                fix="correct the company's registration number in Qonto",
            )
        )
        return
    confirmed.append(f"seller {organization.legal_name or organization.id}, SIREN {siren}")


def _masked(iban: str | None) -> str:
    if not iban:
        return "(no IBAN)"
    compact = iban.replace(" ", "")
    return f"{compact[:4]} … {compact[-4:]}"
