"""The XMP metadata of a Factur-X: PDF/A identification, the ``fx:`` properties and their extension
schema, and the Info dictionary entries that must agree with it.

ZUGFeRD 2.0 files write the same four properties in their own namespace (prefix ``zf``, file name
``zugferd-invoice.xml``); they are read and checked alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import pikepdf
from lxml import etree

from billing_pipeline.facturx.container import INVOICE_FILE_NAMES, EmbeddedFile, read_bounded
from billing_pipeline.facturx.findings import Findings
from billing_pipeline.facturx.xmlsafety import parse_untrusted_xml

FX_NAMESPACE = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
ZUGFERD_2_0_NAMESPACE = "urn:zugferd:pdfa:CrossIndustryDocument:invoice:2p0#"
# namespace -> (accepted fx:Version values, accepted extension-schema prefixes)
_NAMESPACES = {
    FX_NAMESPACE: (frozenset({"1.0"}), frozenset({"fx"})),
    ZUGFERD_2_0_NAMESPACE: (frozenset({"1.0", "2p0"}), frozenset({"zf", "fx"})),
}
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_PDFAID = "http://www.aiim.org/pdfa/ns/id/"
_DC = "http://purl.org/dc/elements/1.1/"
_PDF = "http://ns.adobe.com/pdf/1.3/"
_XMP = "http://ns.adobe.com/xap/1.0/"
_PDFA_SCHEMA = "http://www.aiim.org/pdfa/ns/schema#"
_PDFA_PROPERTY = "http://www.aiim.org/pdfa/ns/property#"
_FX_PROPERTIES = ("DocumentFileName", "DocumentType", "Version", "ConformanceLevel")


@dataclass(frozen=True)
class XmpFacts:
    part: str | None
    conformance: str | None
    fx: dict[str, str]
    namespace: str  # the namespace the fx properties were found in (Factur-X's when none)
    extension_properties: frozenset[str] | None  # None: no fx extension schema declared
    extension_prefix: str | None
    info_equivalents: dict[str, str]  # Info key -> XMP value


def read_xmp(pdf: pikepdf.Pdf, findings: Findings) -> XmpFacts | None:
    metadata = pdf.Root.get("/Metadata")
    if not isinstance(metadata, pikepdf.Stream):
        findings.add("BP-XMP-01", "the catalog has no /Metadata XMP stream")
        return None
    try:
        root = parse_untrusted_xml(read_bounded(metadata))
    except (etree.XMLSyntaxError, ValueError, pikepdf.PdfError) as exc:
        findings.add("BP-XMP-01", f"the XMP metadata cannot be parsed: {exc}")
        return None
    namespace, fx = FX_NAMESPACE, {}
    for candidate in _NAMESPACES:
        found = {name: value for name in _FX_PROPERTIES if (value := _xmp_simple(root, candidate, name)) is not None}
        if found:
            namespace, fx = candidate, found
            break
    properties, prefix = _fx_extension_schema(root, namespace)
    info_equivalents = {
        "/Title": _xmp_alt(root, _DC, "title"),
        "/Author": _xmp_seq(root, _DC, "creator"),
        "/Subject": _xmp_alt(root, _DC, "description"),
        "/Keywords": _xmp_simple(root, _PDF, "Keywords"),
        "/Creator": _xmp_simple(root, _XMP, "CreatorTool"),
        "/Producer": _xmp_simple(root, _PDF, "Producer"),
    }
    return XmpFacts(
        part=_xmp_simple(root, _PDFAID, "part"),
        conformance=_xmp_simple(root, _PDFAID, "conformance"),
        fx=fx,
        namespace=namespace,
        extension_properties=properties,
        extension_prefix=prefix,
        info_equivalents={key: value for key, value in info_equivalents.items() if value is not None},
    )


def check_xmp(
    xmp: XmpFacts, xml_file: EmbeddedFile, level_name: str | None, guideline_id: str | None, findings: Findings
) -> None:
    """``level_name``: the fx:ConformanceLevel BT-24 calls for (None: unknown, only required)."""
    if xmp.part != "3":
        findings.add("BP-XMP-02", f"pdfaid:part is {xmp.part or 'missing'}; a Factur-X is PDF/A-3")
    if xmp.conformance not in {"A", "B", "U"}:
        findings.add("BP-XMP-03", f"pdfaid:conformance is {xmp.conformance or 'missing'}; expected A, B or U")
    document_type = xmp.fx.get("DocumentType")
    if document_type != "INVOICE":
        findings.add("BP-XMP-04", f"fx:DocumentType is {document_type or 'missing'}; expected INVOICE")
    file_name = xmp.fx.get("DocumentFileName")
    if file_name not in INVOICE_FILE_NAMES or file_name not in xml_file.all_names:
        expected = next((name for name in INVOICE_FILE_NAMES if name in xml_file.all_names), INVOICE_FILE_NAMES[0])
        findings.add(
            "BP-XMP-05",
            f"fx:DocumentFileName is {file_name or 'missing'}; expected {expected!r}, the name of "
            f"the embedded file ({xml_file.display_name!r})",
        )
    versions, prefixes = _NAMESPACES[xmp.namespace]
    version = xmp.fx.get("Version")
    if version is None:
        findings.add("BP-XMP-06", "fx:Version is missing")
    elif version not in versions:
        findings.add("BP-XMP-07", f"fx:Version is {version}; expected {' or '.join(sorted(versions))}")
    level = xmp.fx.get("ConformanceLevel")
    if level is None:
        findings.add("BP-XMP-08", "fx:ConformanceLevel is missing")
    elif level_name is not None and level != level_name:
        findings.add(
            "BP-XMP-08",
            f"fx:ConformanceLevel is {level!r} but the XML declares profile {level_name!r} (BT-24 {guideline_id})",
        )
    if xmp.extension_properties is None:
        findings.add("BP-XMP-09", f"no PDF/A extension schema declares the fx namespace {xmp.namespace}")
    else:
        missing = sorted(set(_FX_PROPERTIES) - xmp.extension_properties)
        if missing or xmp.extension_prefix not in prefixes:
            findings.add(
                "BP-XMP-09",
                f"the fx extension schema is incomplete (prefix {xmp.extension_prefix!r}, missing properties: "
                f"{', '.join(missing) or 'none'})",
            )


def check_info_matches_xmp(pdf: pikepdf.Pdf, xmp: XmpFacts, findings: Findings) -> None:
    info = pdf.trailer.get("/Info")
    if not isinstance(info, pikepdf.Dictionary):
        return
    for key in ("/Title", "/Author", "/Subject", "/Keywords", "/Creator", "/Producer"):
        value = info.get(key)
        if value is None:
            continue
        text = str(value)
        if not text:
            continue
        if xmp.info_equivalents.get(key) != text:
            findings.add(
                "BP-PDFA-05",
                f"Info {key} is {text!r} but its XMP equivalent is {xmp.info_equivalents.get(key)!r}",
            )


def _xmp_simple(root: etree._Element, namespace: str, name: str) -> str | None:
    tag = f"{{{namespace}}}{name}"
    for description in root.iter(f"{{{_RDF}}}Description"):
        if tag in description.attrib:
            return description.attrib[tag].strip()
    element = next(root.iter(tag), None)
    if element is None:
        return None
    return (element.text or "").strip()


def _xmp_alt(root: etree._Element, namespace: str, name: str) -> str | None:
    element = next(root.iter(f"{{{namespace}}}{name}"), None)
    if element is None:
        return None
    items = list(element.iter(f"{{{_RDF}}}li"))
    preferred = next(
        (item for item in items if item.get("{http://www.w3.org/XML/1998/namespace}lang") == "x-default"),
        items[0] if items else None,
    )
    return (preferred.text or "").strip() if preferred is not None else (element.text or "").strip()


def _xmp_seq(root: etree._Element, namespace: str, name: str) -> str | None:
    element = next(root.iter(f"{{{namespace}}}{name}"), None)
    if element is None:
        return None
    items = [(item.text or "").strip() for item in element.iter(f"{{{_RDF}}}li")]
    return ", ".join(items) if items else (element.text or "").strip()


def _fx_extension_schema(root: etree._Element, namespace: str) -> tuple[frozenset[str] | None, str | None]:
    for uri in root.iter(f"{{{_PDFA_SCHEMA}}}namespaceURI"):
        if (uri.text or "").strip() != namespace:
            continue
        schema = uri.getparent()
        if schema is None:
            continue
        prefix_element = schema.find(f"{{{_PDFA_SCHEMA}}}prefix")
        prefix = (prefix_element.text or "").strip() if prefix_element is not None else None
        names = frozenset((element.text or "").strip() for element in schema.iter(f"{{{_PDFA_PROPERTY}}}name"))
        return names, prefix
    return None, None
