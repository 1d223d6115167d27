"""XSD (lxml) and Schematron (saxonche) validation, compiled once per process and thread-safe.

saxonche is a GraalVM native image: creating several ``PySaxonProcessor`` objects concurrently in
different threads kills the whole process. So there is exactly one processor per process, created
lazily, and every call into Saxon (compile, parse, transform) holds one lock.

The Factur-X stylesheets look their code lists up with ``document('…_codedb.xml')`` (118 calls for
EN16931), and XSLT re-reads that 180 KB file on every transformation: half of the run time. So the
code-list file is parsed once and handed to the stylesheet as a parameter: the ``document(…)``
calls are replaced, textually, by that parameter before compiling (the SVRL ``test`` attributes show
it). Stylesheets without exactly one code-list file are compiled unchanged from their file path.
"""

from __future__ import annotations

import importlib.resources
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

_SVRL = "{http://purl.oclc.org/dsdl/svrl}"
_MAX_XSD_ERRORS = 20
_LOCATION_STEP = re.compile(r"\*:([\w.-]+)\[namespace-uri\(\)='[^']*'\]")
_CODE_LIST_CALL = re.compile(r"document\('([\w.-]+_codedb\.xml)'\)")
_STYLESHEET_START = re.compile(r"<xsl:stylesheet\b[^>]*>")
_CODE_LISTS_PARAMETER = "billingPipelineCodeLists"


def resource_path(relative: str) -> Path:
    """A file bundled with the factur-x package, under ``xsd_and_schematron/``."""
    return Path(str(importlib.resources.files("facturx").joinpath("xsd_and_schematron", relative)))


@dataclass(frozen=True)
class SchematronResult:
    rule: str | None  # the assertion's id; some Factur-X assertions have none
    flag: str | None  # "warning", "fatal", "error" or None (= error)
    message: str
    location: str | None

    @property
    def is_warning(self) -> bool:
        return (self.flag or "").lower() in {"warning", "info", "information"}


class SchematronError(RuntimeError):
    """Saxon could not compile or run a stylesheet."""


class _XsdValidator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._schemas: dict[str, etree.XMLSchema] = {}

    def validate(self, document: etree._ElementTree, xsd: str) -> list[str]:
        """Messages of the XSD violations (at most 20), empty when valid."""
        with self._lock:  # an XMLSchema keeps its error log on itself: one validation at a time
            schema = self._schemas.get(xsd)
            if schema is None:
                schema = etree.XMLSchema(etree.parse(str(resource_path(xsd))))
                self._schemas[xsd] = schema
            if schema.validate(document):
                return []
            return [f"line {error.line}: {error.message}" for error in schema.error_log][:_MAX_XSD_ERRORS]


class _SaxonEngine:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processor: Any = None  # saxonche.PySaxonProcessor, imported lazily (≈100 MB of native code)
        self._executables: dict[str, Any] = {}

    def _saxon(self) -> Any:
        # caller holds the lock
        if self._processor is None:
            from saxonche import PySaxonProcessor

            self._processor = PySaxonProcessor(license=False)
        return self._processor

    def _executable(self, stylesheet: str) -> Any:
        # caller holds the lock
        executable = self._executables.get(stylesheet)
        if executable is None:
            executable = self._compile(resource_path(stylesheet))
            self._executables[stylesheet] = executable
        return executable

    def _compile(self, path: Path) -> Any:
        compiler = self._saxon().new_xslt30_processor()
        text = path.read_text(encoding="utf-8")
        code_lists = set(_CODE_LIST_CALL.findall(text))
        if len(code_lists) != 1 or not _STYLESHEET_START.search(text):
            return compiler.compile_stylesheet(stylesheet_file=str(path))
        text = _CODE_LIST_CALL.sub(f"${_CODE_LISTS_PARAMETER}", text)
        if "document(" in text:  # another external document: keep the file's own base URI
            return compiler.compile_stylesheet(stylesheet_file=str(path))
        text = _STYLESHEET_START.sub(
            lambda start: f'{start.group(0)}<xsl:param name="{_CODE_LISTS_PARAMETER}" required="yes"/>',
            text,
            count=1,
        )
        executable = compiler.compile_stylesheet(stylesheet_text=text)
        code_list_file = path.parent / code_lists.pop()
        executable.set_parameter(_CODE_LISTS_PARAMETER, self._saxon().parse_xml(xml_file_name=str(code_list_file)))
        return executable

    def compile(self, stylesheets: Iterable[str]) -> None:
        with self._lock:
            for stylesheet in stylesheets:
                self._executable(stylesheet)

    def run(self, xml: bytes, stylesheets: Sequence[str]) -> dict[str, list[SchematronResult]]:
        """Run each stylesheet on ``xml`` (parsed once); raise ``SchematronError`` on engine failure."""
        results: dict[str, list[SchematronResult]] = {}
        try:
            with self._lock:
                executables = [self._executable(stylesheet) for stylesheet in stylesheets]
                node = self._saxon().parse_xml(xml_text=xml.decode("utf-8"))
                outputs = [executable.transform_to_string(xdm_node=node) for executable in executables]
        except Exception as exc:  # PySaxonApiError and friends: report, never crash the caller
            raise SchematronError(f"{type(exc).__name__}: {exc}") from exc
        for stylesheet, output in zip(stylesheets, outputs, strict=True):
            results[stylesheet] = _parse_svrl(output)
        return results


def _parse_svrl(output: str | None) -> list[SchematronResult]:
    if not output:
        raise SchematronError("the stylesheet produced no SVRL report")
    report = etree.fromstring(output.encode("utf-8"))
    results = []
    for element in report.iter(f"{_SVRL}failed-assert", f"{_SVRL}successful-report"):
        text = element.find(f"{_SVRL}text")
        message = " ".join((text.text or "").split()) if text is not None else ""
        results.append(
            SchematronResult(
                rule=element.get("id"),
                flag=element.get("flag"),
                message=message,
                location=_short_location(element.get("location")),
            )
        )
    return results


def _short_location(location: str | None) -> str | None:
    """``/*:Foo[namespace-uri()='…'][1]/*:Bar[…][2]`` -> ``/Foo/Bar[2]``."""
    if not location:
        return None
    return _LOCATION_STEP.sub(r"\1", location).replace("[1]", "")


XSD = _XsdValidator()
SCHEMATRON = _SaxonEngine()
