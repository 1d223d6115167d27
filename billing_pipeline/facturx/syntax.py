"""What an XML document is, from its root element: a CII invoice, a UBL invoice or credit note, a
ZUGFeRD 1.x invoice (unsupported legacy), or something else."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

from billing_pipeline.facturx.profiles import UBL_CREDIT_NOTE_XSD, UBL_INVOICE_XSD
from billing_pipeline.facturx.reader import CII_ROOT_TAG
from billing_pipeline.facturx.ubl_reader import UBL_CREDIT_NOTE_TAG, UBL_INVOICE_TAG

ZUGFERD_1_NAMESPACE = "urn:ferd:CrossIndustryDocument:invoice:1p0"
_ZUGFERD_1_PROFILE = (
    "string(*[local-name()='SpecifiedExchangedDocumentContext']"
    "/*[local-name()='GuidelineSpecifiedDocumentContextParameter']/*[local-name()='ID'])"
)


class Syntax(StrEnum):
    CII = "CII"
    UBL = "UBL"


@dataclass(frozen=True)
class DocumentKind:
    syntax: Syntax | None  # None: not an invoice syntax we judge
    xsd: str | None = None  # UBL: the XSD of the document type (CII: the profile's)
    legacy: str | None = None  # what the unsupported legacy document is

    @property
    def is_invoice(self) -> bool:
        return self.syntax is not None


def classify(root: etree._Element) -> DocumentKind:
    if root.tag == CII_ROOT_TAG:
        return DocumentKind(Syntax.CII)
    if root.tag == UBL_INVOICE_TAG:
        return DocumentKind(Syntax.UBL, xsd=UBL_INVOICE_XSD)
    if root.tag == UBL_CREDIT_NOTE_TAG:
        return DocumentKind(Syntax.UBL, xsd=UBL_CREDIT_NOTE_XSD)
    if etree.QName(root).namespace == ZUGFERD_1_NAMESPACE:
        profile = str(root.xpath(_ZUGFERD_1_PROFILE)).strip()
        level = profile.rsplit(":", 1)[-1].upper() if profile else "profile unknown"
        return DocumentKind(None, legacy=f"ZUGFeRD 1.0 {level}")
    return DocumentKind(None)


def describe_root(root: etree._Element) -> str:
    name = etree.QName(root)
    return f"root element {name.localname!r} in namespace {name.namespace!r}"


def zugferd_1_message(kind: DocumentKind, where: str) -> str:
    return (
        f"{where} is a {kind.legacy} invoice (rsm:CrossIndustryDocument, {ZUGFERD_1_NAMESPACE}): an unsupported "
        "legacy format, superseded by ZUGFeRD 2 / Factur-X; ask the sender for a Factur-X, CII or UBL invoice"
    )
