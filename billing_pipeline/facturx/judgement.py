"""The XML side of a verdict: the XSD, the official Schematrons sorted into the layers they judge,
the French rules where they apply, and our exact arithmetic.

CII: the Factur-X Schematron of the profile holds the EN 16931 business rules (``BR-…``, also written
``FX-SCH-A-…`` with a ``[BR-…]`` message in BASIC and MINIMUM), the CEN CII syntax rules
(``CII-SR-…``) and the Factur-X code-list rules (``Value of '…' is not allowed``, the counterpart of
the CEN ``BR-CL-…``): those judge ``en16931``. Its other assertions (cardinalities and elements of
the profile) judge ``profile``. UBL: the CEN EN 16931 UBL Schematron judges ``en16931``; there is no
profile layer. The BR-FR Flux 2 Schematron of the syntax judges ``france``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from lxml import etree

from billing_pipeline.facturx.engines import SCHEMATRON, XSD, SchematronError, SchematronResult
from billing_pipeline.facturx.findings import Findings
from billing_pipeline.facturx.identifiers import check_identifiers
from billing_pipeline.facturx.models import FacturXInvoice
from billing_pipeline.facturx.money import check_money
from billing_pipeline.facturx.profiles import (
    BR_FR_CII_SCHEMATRON,
    BR_FR_UBL_SCHEMATRON,
    DATA_ONLY_LEVELS,
    EN16931_PROFILE,
    EN16931_UBL_SCHEMATRON,
    XRECHNUNG_CIUS,
    Guideline,
)
from billing_pipeline.facturx.rules import Layer, RuleSet, Severity
from billing_pipeline.facturx.syntax import DocumentKind, Syntax

_EN16931_ID = re.compile(r"^(?:BR-(?!FR)|CII-SR-)")
_EN16931_ID_IN_TEXT = re.compile(r"^\[((?:BR-(?!FR)|CII-SR-)[A-Za-z0-9-]+)\]")
_CODE_LIST_TEXT = re.compile(r"^Value of '[^']*' is not allowed\.")
# the Factur-X code list of BT-24 values: superseded by our BT-24 findings (BP-FX-05, -10, -12)
_BT24_LOCATION = "/ExchangedDocumentContext/GuidelineSpecifiedDocumentContextParameter/ID"
FRANCE = "FR"


class Role(Enum):
    FACTURX = "the Factur-X profile Schematron"  # split between en16931 and profile
    EN16931 = "the CEN EN 16931 Schematron"
    FRANCE = "the BR-FR Flux 2 Schematron"


@dataclass(frozen=True)
class Plan:
    """What judges one invoice XML."""

    syntax: Syntax
    xsd: str
    stylesheets: tuple[tuple[str, Role], ...]
    en16931: bool  # the EN 16931 layer applies (not MINIMUM / BASIC WL)
    profile: bool  # the Factur-X profile layer applies
    french: bool  # the French layer applies

    @property
    def layers(self) -> tuple[Layer, ...]:
        applicable = {Layer.EN16931: self.en16931, Layer.PROFILE: self.profile, Layer.FRANCE: self.french}
        return tuple(layer for layer, applies in applicable.items() if applies)


def french_rules_apply(invoice: FacturXInvoice, rules: RuleSet) -> bool:
    """``auto``: seller (BT-40) and buyer (BT-55) both in France; ``france`` always; ``en16931`` never."""
    if rules is RuleSet.FRANCE:
        return True
    if rules is RuleSet.EN16931:
        return False
    return invoice.seller_country == FRANCE and invoice.buyer_country == FRANCE


def plan_cii(guideline: Guideline, invoice: FacturXInvoice, rules: RuleSet) -> Plan:
    profile = guideline.profile or EN16931_PROFILE  # an unknown BT-24 is judged as EN 16931
    french = profile.french_rules and french_rules_apply(invoice, rules)
    stylesheets = [(profile.schematron, Role.FACTURX)]
    if french:
        stylesheets.append((BR_FR_CII_SCHEMATRON, Role.FRANCE))
    return Plan(
        syntax=Syntax.CII,
        xsd=profile.xsd,
        stylesheets=tuple(stylesheets),
        en16931=profile.level not in DATA_ONLY_LEVELS,
        profile=guideline.factur_x,
        french=french,
    )


def plan_ubl(kind: DocumentKind, invoice: FacturXInvoice, rules: RuleSet) -> Plan:
    assert kind.xsd is not None
    french = french_rules_apply(invoice, rules)
    stylesheets = [(EN16931_UBL_SCHEMATRON, Role.EN16931)]
    if french:
        stylesheets.append((BR_FR_UBL_SCHEMATRON, Role.FRANCE))
    return Plan(Syntax.UBL, kind.xsd, tuple(stylesheets), en16931=True, profile=False, french=french)


def report_guideline(guideline: Guideline, *, in_pdf: bool, findings: Findings) -> None:
    """What BT-24 tells before any rule runs: an older identifier, a CIUS, no Factur-X profile."""
    declared = guideline.declared
    if guideline.older and guideline.profile is not None:
        findings.add(
            "BP-FX-10",
            f"BT-24 {declared!r} is the {guideline.older} identifier of profile {guideline.profile.name}; today's "
            f"is {guideline.profile.guideline_id!r}. Judged by the current {guideline.profile.name} rules",
        )
    if guideline.cius == XRECHNUNG_CIUS or (not guideline.factur_x and not in_pdf and declared):
        what = guideline.cius or "no Factur-X profile"
        findings.add(
            "BP-FX-12",
            f"BT-24 {declared!r} names {what}: judged by the EN 16931 rules, not by that specification's own",
        )
    elif not guideline.factur_x and in_pdf:
        findings.add(
            "BP-FX-05",
            f"BT-24 {declared!r} is not a Factur-X / ZUGFeRD profile; judged by the EN 16931 rules"
            if declared
            else "BT-24 (the profile) is missing",
        )
    if guideline.factur_x and guideline.profile is not None and guideline.profile.level in DATA_ONLY_LEVELS:
        findings.add(
            "BP-FX-06",
            f"profile {guideline.profile.name} has no invoice lines and is not an EN 16931 invoice",
        )


def report_ubl_guideline(guideline: Guideline, findings: Findings) -> None:
    """UBL has no Factur-X profile layer: only say when BT-24 names a CIUS whose own rules are not run."""
    if guideline.cius or (guideline.profile is None and guideline.declared):
        findings.add(
            "BP-FX-12",
            f"BT-24 {guideline.declared!r} names {guideline.cius or 'no specification we know'}: judged by the "
            "EN 16931 rules, not by that specification's own",
        )


def judge_xml(root: etree._Element, invoice: FacturXInvoice, plan: Plan, findings: Findings) -> None:
    """Every layer but the PDF one, on a read invoice."""
    for message in XSD.validate(root.getroottree(), plan.xsd):
        findings.add("BP-XSD-01", f"{plan.syntax} XSD {plan.xsd.rsplit('/', 1)[-1]}: {message}")
    findings.judge(Layer.XML_SCHEMA)
    _run_schematrons(root, plan, findings)
    check_money(invoice, findings)
    check_identifiers(invoice, findings)
    findings.judge(Layer.ARITHMETIC)
    if plan.french:
        check_document_type(invoice, findings)


def check_document_type(invoice: FacturXInvoice, findings: Findings) -> None:
    """A credit note is checked like an invoice, plus the reference to the invoice it corrects.

    BR-FR-CO-05 requires the same, but only where its Schematron runs (not MINIMUM/BASIC WL, not a
    file whose Schematron failed); a credit note that corrects nothing nameable is unusable to us.
    """
    if invoice.is_credit_note and invoice.preceding_invoice_number is None:
        findings.add(
            "BP-FX-08",
            "credit note (BT-3 381) without a preceding invoice reference (BT-25, "
            "ram:ApplicableHeaderTradeSettlement/ram:InvoiceReferencedDocument/ram:IssuerAssignedID)",
        )


def _run_schematrons(root: etree._Element, plan: Plan, findings: Findings) -> None:
    stylesheets = [stylesheet for stylesheet, _ in plan.stylesheets]
    try:
        results = SCHEMATRON.run(etree.tostring(root, encoding="utf-8"), stylesheets)
    except SchematronError as exc:
        for layer in plan.layers:
            findings.add("BP-SCH-01", f"the Schematron could not be run: {exc}", layer)
        return
    for stylesheet, role in plan.stylesheets:
        for result in results[stylesheet]:
            if role is Role.FACTURX and _is_bt24_code_list(result):
                continue
            rule, layer = _sort(result, role, plan)
            message = result.message if not result.location else f"{result.message} (at {result.location})"
            severity = Severity.WARNING if result.is_warning else Severity.ERROR
            findings.add_with_severity(rule, message, severity, layer)
    findings.judge(*plan.layers)


def _sort(result: SchematronResult, role: Role, plan: Plan) -> tuple[str, Layer]:
    """The rule id to report and the layer it judges."""
    if role is Role.FRANCE:
        return result.rule or "BP-SCH-02", Layer.FRANCE
    if role is Role.EN16931:
        return result.rule or "BP-SCH-02", Layer.EN16931
    in_text = _EN16931_ID_IN_TEXT.match(result.message)
    en16931_rule = result.rule if result.rule and _EN16931_ID.match(result.rule) else None
    if en16931_rule is None and in_text and (result.rule is None or result.rule.startswith("FX-SCH")):
        en16931_rule = in_text.group(1)  # BASIC / MINIMUM write EN 16931 rules under FX-SCH-A ids
    rule = en16931_rule or result.rule or "BP-SCH-02"
    if not plan.profile:
        return rule, Layer.EN16931
    if not plan.en16931:
        return rule, Layer.PROFILE
    if en16931_rule or _CODE_LIST_TEXT.match(result.message):
        return rule, Layer.EN16931
    return rule, Layer.PROFILE


def _is_bt24_code_list(result: SchematronResult) -> bool:
    """The Factur-X code list of BT-24 knows only today's identifiers: an older one or a CIUS is judged
    by ``report_guideline`` instead (a warning), an unknown one in a PDF is BP-FX-05."""
    return bool(result.location and result.location.endswith(_BT24_LOCATION) and _CODE_LIST_TEXT.match(result.message))
