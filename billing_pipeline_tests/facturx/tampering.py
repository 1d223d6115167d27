"""Turn a valid Factur-X PDF into a specific bad one, with pikepdf and lxml."""

from __future__ import annotations

import io
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

import pikepdf
from lxml import etree

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
TRANSACTION = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction"
SETTLEMENT = f"{TRANSACTION}/ram:ApplicableHeaderTradeSettlement"
SUM = f"{SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
LINES = f"{TRANSACTION}/ram:IncludedSupplyChainTradeLineItem"
VAT_GROUPS = f"{SETTLEMENT}/ram:ApplicableTradeTax"
BUYER = f"{TRANSACTION}/ram:ApplicableHeaderTradeAgreement/ram:BuyerTradeParty"
CENT = Decimal("0.01")


def _edit(pdf_bytes: bytes, change: Callable[[pikepdf.Pdf], None]) -> bytes:
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        change(pdf)
        out = io.BytesIO()
        pdf.save(out)
    return out.getvalue()


def _facturx_filespec(pdf: pikepdf.Pdf) -> pikepdf.Dictionary:
    return pikepdf.NameTree(pdf.Root.Names.EmbeddedFiles)["factur-x.xml"]


def read_xml(pdf_bytes: bytes) -> etree._Element:
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        return etree.fromstring(_facturx_filespec(pdf).EF.F.read_bytes())


def replace_xml(pdf_bytes: bytes, change: Callable[[etree._Element], None]) -> bytes:
    """Apply ``change`` to the embedded factur-x.xml and write it back in place."""

    def edit(pdf: pikepdf.Pdf) -> None:
        stream = _facturx_filespec(pdf).EF.F
        root = etree.fromstring(stream.read_bytes())
        change(root)
        stream.write(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

    return _edit(pdf_bytes, edit)


def edit_xml(xml: bytes, change: Callable[[etree._Element], None]) -> bytes:
    """Apply ``change`` to a standalone XML document."""
    root = etree.fromstring(xml)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def remove(root: etree._Element, path: str) -> None:
    elements = root.xpath(path, namespaces=NS)
    assert elements, f"nothing at {path}"
    for element in elements:
        element.getparent().remove(element)


def replace_embedded(pdf_bytes: bytes, xml: bytes) -> bytes:
    """Put other bytes in place of the embedded factur-x.xml."""

    def edit(pdf: pikepdf.Pdf) -> None:
        _facturx_filespec(pdf).EF.F.write(xml)

    return _edit(pdf_bytes, edit)


def set_text(root: etree._Element, path: str, value: str) -> None:
    elements = root.xpath(path, namespaces=NS)
    assert elements, f"nothing at {path}"
    elements[0].text = value


def get_decimal(root: etree._Element, path: str) -> Decimal:
    return Decimal(root.xpath(path, namespaces=NS)[0].text)


def recompute_totals(root: etree._Element) -> None:
    """Make every sum consistent with the line nets and VAT amounts already in the XML, so that only
    the defect a test plants remains (the official rules then see nothing wrong)."""
    bases: dict[tuple[str, Decimal], Decimal] = {}
    for line in root.xpath(LINES, namespaces=NS):
        category = line.xpath(".//ram:ApplicableTradeTax/ram:CategoryCode", namespaces=NS)[0].text
        rate = Decimal(line.xpath(".//ram:ApplicableTradeTax/ram:RateApplicablePercent", namespaces=NS)[0].text)
        net = Decimal(
            line.xpath(".//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount", namespaces=NS)[
                0
            ].text
        )
        key = (category, rate)
        bases[key] = bases.get(key, Decimal("0.00")) + net
    vat_total = Decimal("0.00")
    for group in root.xpath(VAT_GROUPS, namespaces=NS):
        key = (group.find("ram:CategoryCode", NS).text, Decimal(group.find("ram:RateApplicablePercent", NS).text))
        group.find("ram:BasisAmount", NS).text = f"{bases[key]:.2f}"
        vat_total += Decimal(group.find("ram:CalculatedAmount", NS).text)
    net_total = sum(bases.values(), Decimal("0.00"))
    set_text(root, f"{SUM}/ram:LineTotalAmount", f"{net_total:.2f}")
    set_text(root, f"{SUM}/ram:TaxBasisTotalAmount", f"{net_total:.2f}")
    set_text(root, f"{SUM}/ram:TaxTotalAmount", f"{vat_total:.2f}")
    set_text(root, f"{SUM}/ram:GrandTotalAmount", f"{net_total + vat_total:.2f}")
    set_text(root, f"{SUM}/ram:DuePayableAmount", f"{net_total + vat_total:.2f}")


def vat_of(basis: Decimal, percent: Decimal) -> Decimal:
    return (basis * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def replace_xmp(pdf_bytes: bytes, old: str, new: str) -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        xmp = pdf.Root.Metadata.read_bytes().decode("utf-8")
        assert old in xmp, f"{old!r} not in the XMP"
        pdf.Root.Metadata.write(xmp.replace(old, new).encode("utf-8"))

    return _edit(pdf_bytes, edit)


def rename_attachment(pdf_bytes: bytes, new_name: str) -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        filespec = _facturx_filespec(pdf)
        filespec.F = pikepdf.String(new_name)
        filespec.UF = pikepdf.String(new_name)
        pdf.Root.Names.EmbeddedFiles = pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String(new_name), filespec]))

    return _edit(pdf_bytes, edit)


def drop_af_relationship(pdf_bytes: bytes) -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        del _facturx_filespec(pdf)["/AFRelationship"]

    return _edit(pdf_bytes, edit)


def add_second_xml(pdf_bytes: bytes, name: str = "invoice-copy.xml") -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        data = _facturx_filespec(pdf).EF.F.read_bytes()
        spec = pikepdf.AttachedFileSpec(pdf, data, mime_type="text/xml", relationship=pikepdf.Name.Data)
        pdf.attachments[name] = spec

    return _edit(pdf_bytes, edit)
