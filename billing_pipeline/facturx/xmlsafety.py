"""Parsing XML from untrusted PDFs: no DTD, no entities, no network."""

from __future__ import annotations

from lxml import etree

_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
}


def parse_untrusted_xml(data: bytes) -> etree._Element:
    """Parse ``data``; raise ``ValueError`` when it declares a DOCTYPE (no CII or XMP needs one)."""
    parser = etree.XMLParser(**_PARSER_OPTIONS)
    root = etree.fromstring(data, parser=parser)
    if root.getroottree().docinfo.doctype:
        raise ValueError("the XML declares a DOCTYPE, which is not allowed")
    return root
