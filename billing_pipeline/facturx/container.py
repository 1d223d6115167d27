"""The PDF side of a Factur-X: the embedded ``factur-x.xml``, its file specification and the
structural PDF/A-3 requirements, read with pikepdf (the XMP metadata: ``xmp.py``).

This is not a full PDF/A validator (veraPDF is not obtainable offline): it checks what a Factur-X
reader relies on and what generators typically get wrong.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pikepdf

from billing_pipeline.facturx.findings import Findings
from billing_pipeline.facturx.profiles import ALLOWED_RELATIONSHIPS, DATA_ONLY_LEVELS, Profile

FACTURX_FILE_NAME = "factur-x.xml"
ZUGFERD_2_0_FILE_NAME = "zugferd-invoice.xml"  # ZUGFeRD 2.0 (2019); ZUGFeRD 2.1+ uses factur-x.xml
XRECHNUNG_FILE_NAME = "xrechnung.xml"  # ZUGFeRD 2.1+ XRECHNUNG profile
# the names an invoice XML may carry, preferred first
INVOICE_FILE_NAMES = (FACTURX_FILE_NAME, ZUGFERD_2_0_FILE_NAME, XRECHNUNG_FILE_NAME)
_EMBEDDED_FONT_KEYS = ("/FontFile", "/FontFile2", "/FontFile3")
_MAX_FORM_DEPTH = 8
# an invoice XML or an XMP packet is a few KB; 20 MB leaves room for huge invoices, not for bombs
MAX_EMBEDDED_BYTES = 20_000_000


@dataclass(frozen=True)
class EmbeddedFile:
    key: str | None  # the name-tree key (None when only listed in /AF)
    file_names: tuple[str, ...]  # /UF and /F as written
    filespec: pikepdf.Dictionary

    @property
    def display_name(self) -> str:
        return next(iter(self.file_names), None) or self.key or "(unnamed)"

    @property
    def all_names(self) -> set[str]:
        return {name for name in (self.key, *self.file_names) if name}

    @property
    def looks_like_xml(self) -> bool:
        if any(name.lower().endswith(".xml") for name in self.all_names):
            return True
        subtype = _embedded_stream_subtype(self.filespec)
        return subtype is not None and "xml" in subtype.lower()

    def read(self) -> bytes:
        return read_bounded(_embedded_stream(self.filespec))


def read_bounded(stream: pikepdf.Stream, limit: int = MAX_EMBEDDED_BYTES) -> bytes:
    """The decoded stream, refusing more than ``limit`` bytes (a small Flate bomb can hold gigabytes)."""
    if stream.get("/Filter") == pikepdf.Name.FlateDecode and "/DecodeParms" not in stream:
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(stream.read_raw_bytes(), limit + 1)
        except zlib.error as exc:
            raise ValueError(f"the stream cannot be inflated: {exc}") from exc
    else:
        data = stream.read_bytes()
    if len(data) > limit:
        raise ValueError(f"the stream holds more than {limit // 1_000_000} MB")
    return data


def open_pdf(data: bytes) -> pikepdf.Pdf:
    """Open the PDF; raises ``pikepdf.PdfError`` (or ``PasswordError``) when it cannot be read."""
    return pikepdf.open(io.BytesIO(data))


def embedded_files(pdf: pikepdf.Pdf) -> list[EmbeddedFile]:
    """Files in the EmbeddedFiles name tree, plus file specifications only listed in the catalog /AF."""
    found: list[EmbeddedFile] = []
    seen: set[tuple[int, int]] = set()
    names = pdf.Root.get("/Names")
    tree = names.get("/EmbeddedFiles") if isinstance(names, pikepdf.Dictionary) else None
    if isinstance(tree, pikepdf.Dictionary):
        for key, filespec in pikepdf.NameTree(tree).items():
            if isinstance(filespec, pikepdf.Dictionary):
                found.append(EmbeddedFile(key=str(key), file_names=_file_names(filespec), filespec=filespec))
                seen.add(filespec.objgen)
    listed_names = {file.file_names for file in found}
    for filespec in _catalog_af(pdf):
        if not isinstance(filespec, pikepdf.Dictionary) or "/EF" not in filespec:
            continue
        # a direct object has no id: the same names mean the same file
        indirect = filespec.objgen != (0, 0)
        if (indirect and filespec.objgen in seen) or (not indirect and _file_names(filespec) in listed_names):
            continue
        found.append(EmbeddedFile(key=None, file_names=_file_names(filespec), filespec=filespec))
    return found


def select_facturx_xml(files: list[EmbeddedFile], findings: Findings) -> EmbeddedFile | None:
    """Pick the embedded invoice XML; record missing, several and misnamed XML files."""
    chosen = select_invoice_xml(files, findings)
    if chosen is not None:
        check_invoice_xml_name(chosen, findings)
    return chosen


def select_invoice_xml(files: list[EmbeddedFile], findings: Findings) -> EmbeddedFile | None:
    """Pick the embedded XML to verify (factur-x.xml first, then the ZUGFeRD names); record none and several."""
    xml_files = [file for file in files if file.looks_like_xml]
    if not xml_files:
        others = ", ".join(sorted(file.display_name for file in files)) or "none"
        findings.add(
            "BP-FX-01",
            f"no factur-x.xml embedded (embedded files: {others}): a plain PDF, such as Qonto's draft "
            "PDF served until the Factur-X one is ready",
        )
        return None
    if len(xml_files) > 1:
        listed = ", ".join(repr(file.display_name) for file in xml_files)
        findings.add("BP-FX-02", f"{len(xml_files)} XML files are embedded ({listed}); expected only factur-x.xml")
    for name in INVOICE_FILE_NAMES:
        chosen = next((file for file in xml_files if name in file.all_names), None)
        if chosen is not None:
            return chosen
    return xml_files[0]


def check_invoice_xml_name(chosen: EmbeddedFile, findings: Findings) -> None:
    """factur-x.xml everywhere (name-tree key, /F, /UF); ZUGFeRD's zugferd-invoice.xml and
    xrechnung.xml are accepted with a warning."""
    expected = next((name for name in INVOICE_FILE_NAMES if name in chosen.all_names), FACTURX_FILE_NAME)
    wrong = sorted(name for name in chosen.all_names if name != expected)
    if wrong:
        findings.add(
            "BP-FX-03",
            f"the invoice XML is embedded as {', '.join(repr(name) for name in wrong)}; "
            f"the name-tree key, /F and /UF must all be {expected!r}",
        )
    if expected == ZUGFERD_2_0_FILE_NAME:
        findings.add(
            "BP-FX-11",
            f"the invoice XML is embedded as {expected!r}, the ZUGFeRD 2.0 name; Factur-X and ZUGFeRD 2.1+ "
            f"use {FACTURX_FILE_NAME!r}",
        )
    elif expected == XRECHNUNG_FILE_NAME:
        findings.add(
            "BP-FX-11",
            f"the invoice XML is embedded as {expected!r} (ZUGFeRD's XRECHNUNG profile); Factur-X uses "
            f"{FACTURX_FILE_NAME!r}",
        )


def check_attachment(pdf: pikepdf.Pdf, xml_file: EmbeddedFile, profile: Profile | None, findings: Findings) -> None:
    filespec = xml_file.filespec
    if not any(_same_object(entry, filespec) for entry in _catalog_af(pdf)):
        findings.add("BP-AF-01", f"{xml_file.display_name!r} is not listed in the catalog /AF array")
    relationship = filespec.get("/AFRelationship")
    if relationship is None:
        findings.add("BP-AF-02", f"{xml_file.display_name!r} has no /AFRelationship")
    else:
        value = str(relationship).lstrip("/")
        if value not in ALLOWED_RELATIONSHIPS:
            findings.add("BP-AF-03", f"/AFRelationship is /{value}; expected /Data, /Source or /Alternative")
        elif profile is not None and profile.level in DATA_ONLY_LEVELS and value != "Data":
            findings.add("BP-AF-03", f"/AFRelationship is /{value}; profile {profile.name} requires /Data")
    try:
        stream = _embedded_stream(filespec)
    except ValueError:
        return  # reported as BP-FX-04 when the XML was read
    subtype = _embedded_stream_subtype(filespec)
    if subtype == "application/xml":
        findings.add("BP-AF-06", "the embedded file's /Subtype is application/xml; Factur-X uses text/xml")
    elif subtype != "text/xml":
        findings.add("BP-AF-04", f"the embedded file's /Subtype is {subtype or 'missing'}; expected text/xml")
    params = stream.get("/Params")
    if not isinstance(params, pikepdf.Dictionary) or "/ModDate" not in params:
        findings.add("BP-AF-05", "the embedded file has no /Params /ModDate")


def check_pdfa_basics(pdf: pikepdf.Pdf, findings: Findings) -> None:
    """The structural PDF/A-3 requirements (the XMP side is ``xmp.py``'s)."""
    if pdf.is_encrypted:
        findings.add("BP-PDF-02", "the PDF is encrypted")
    if not _has_pdfa_output_intent(pdf):
        findings.add("BP-PDFA-01", "no output intent /GTS_PDFA1 with a /DestOutputProfile ICC stream")
    for name in sorted(_unembedded_fonts(pdf)):
        findings.add("BP-PDFA-02", f"font {name} is not embedded")
    if "/ID" not in pdf.trailer:
        findings.add("BP-PDFA-03", "the trailer has no /ID")
    if _has_javascript(pdf):
        findings.add("BP-PDFA-04", "the PDF contains JavaScript")


def _file_names(filespec: pikepdf.Dictionary) -> tuple[str, ...]:
    return tuple(str(filespec[key]) for key in ("/UF", "/F") if key in filespec)


def _catalog_af(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
    af = pdf.Root.get("/AF")
    return list(af) if isinstance(af, pikepdf.Array) else []


def _same_object(left: pikepdf.Object, right: pikepdf.Object) -> bool:
    if left.objgen != (0, 0) or right.objgen != (0, 0):
        return left.objgen == right.objgen
    return left == right


def _embedded_stream(filespec: pikepdf.Dictionary) -> pikepdf.Stream:
    ef = filespec.get("/EF")
    if isinstance(ef, pikepdf.Dictionary):
        for key in ("/UF", "/F"):
            stream = ef.get(key)
            if isinstance(stream, pikepdf.Stream):
                return stream
    raise ValueError("the file specification has no embedded file stream (/EF /F)")


def _embedded_stream_subtype(filespec: pikepdf.Dictionary) -> str | None:
    try:
        subtype = _embedded_stream(filespec).get("/Subtype")
    except ValueError:
        return None
    return str(subtype).lstrip("/") if subtype is not None else None


def _has_pdfa_output_intent(pdf: pikepdf.Pdf) -> bool:
    intents = pdf.Root.get("/OutputIntents")
    if not isinstance(intents, pikepdf.Array):
        return False
    return any(
        isinstance(intent, pikepdf.Dictionary)
        and intent.get("/S") == pikepdf.Name.GTS_PDFA1
        and isinstance(intent.get("/DestOutputProfile"), pikepdf.Stream)
        for intent in intents
    )


def _unembedded_fonts(pdf: pikepdf.Pdf) -> set[str]:
    missing: set[str] = set()
    for page in pdf.pages:
        for font in _fonts(page.obj.get("/Resources"), depth=0):
            if not _font_is_embedded(font):
                missing.add(str(font.get("/BaseFont", "(unnamed)")).lstrip("/"))
    return missing


def _fonts(resources: pikepdf.Object | None, depth: int) -> Iterator[pikepdf.Dictionary]:
    if not isinstance(resources, pikepdf.Dictionary) or depth > _MAX_FORM_DEPTH:
        return
    fonts = resources.get("/Font")
    if isinstance(fonts, pikepdf.Dictionary):
        for font in fonts.values():
            if isinstance(font, pikepdf.Dictionary):
                yield font
    xobjects = resources.get("/XObject")
    if isinstance(xobjects, pikepdf.Dictionary):
        for xobject in xobjects.values():
            if isinstance(xobject, pikepdf.Stream) and xobject.get("/Subtype") == pikepdf.Name.Form:
                yield from _fonts(xobject.get("/Resources"), depth + 1)


def _font_is_embedded(font: pikepdf.Dictionary) -> bool:
    subtype = font.get("/Subtype")
    if subtype == pikepdf.Name.Type3:
        return True
    if subtype == pikepdf.Name.Type0:
        descendants = font.get("/DescendantFonts")
        if not isinstance(descendants, pikepdf.Array) or not len(descendants):
            return False
        font = descendants[0]
    descriptor = font.get("/FontDescriptor") if isinstance(font, pikepdf.Dictionary) else None
    return isinstance(descriptor, pikepdf.Dictionary) and any(key in descriptor for key in _EMBEDDED_FONT_KEYS)


def _has_javascript(pdf: pikepdf.Pdf) -> bool:
    names = pdf.Root.get("/Names")
    if isinstance(names, pikepdf.Dictionary) and "/JavaScript" in names:
        return True
    action = pdf.Root.get("/OpenAction")
    return isinstance(action, pikepdf.Dictionary) and action.get("/S") == pikepdf.Name.JavaScript
