"""The human-readable invoice page, drawn with fpdf2 from an ``InvoiceDocument``.

The same layout serves the draft (plain PDF, "DRAFT" watermark) and the Factur-X visual part
(PDF/A-3B: embedded subset fonts, sRGB output intent added by fpdf2, XMP metadata).
"""

from __future__ import annotations

import functools
import importlib.resources
from decimal import Decimal

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, XPos, YPos

from billing_pipeline.emulator._documents.document_model import (
    EMULATOR_NOTICE,
    InvoiceDocument,
    InvoiceLine,
    Party,
)

FONT_FAMILY = "DejaVuSansLatin"
_FONT_FILES = {"": "DejaVuSans-Latin.ttf", "B": "DejaVuSans-Bold-Latin.ttf"}
_NOTICE_RED = (176, 0, 32)
_GREY = (90, 90, 90)
_WATERMARK_GREY = (225, 225, 225)
_HEADING_FILL = (235, 235, 235)
_RULE_GREY = (160, 160, 160)
_REPLACEMENT = "?"
_COLUMNS: tuple[tuple[str, float, Align], ...] = (
    ("Désignation", 70, Align.L),
    ("Quantité", 24, Align.R),
    ("Unité", 16, Align.L),
    ("Prix unit. HT", 26, Align.R),
    ("TVA", 14, Align.R),
    ("Montant HT", 30, Align.R),
)
_HEADING_HEIGHT = 6.0
_ROW_LINE_HEIGHT = 4.0
_ROW_PADDING = 1.0

_COUNTRY_NAMES = {"FR": "France", "BE": "Belgique", "DE": "Allemagne", "ES": "Espagne", "IT": "Italie"}
_CATEGORY_LABELS = {"S": "Taux normal", "AE": "Autoliquidation", "E": "Exonéré"}


@functools.cache
def _font_path(style: str) -> str:
    resource = importlib.resources.files("billing_pipeline.emulator._documents").joinpath("fonts", _FONT_FILES[style])
    return str(resource)


@functools.cache
def _supported_characters() -> frozenset[str]:
    # the bundled fonts are Latin subsets: anything else is printed as "?" rather than a blank box
    cmap = TTFont(_font_path(""), lazy=True).getBestCmap()
    return frozenset(chr(codepoint) for codepoint in cmap) | {"\n"}


def printable(text: str) -> str:
    supported = _supported_characters()
    return "".join(char if char in supported else _REPLACEMENT for char in text)


class _InvoicePage(FPDF):
    def __init__(self, *, draft: bool, seller_line: str, compliance: str | None) -> None:
        super().__init__(orientation="P", unit="mm", format="A4", enforce_compliance=compliance)
        self._draft = draft
        self._seller_line = seller_line
        self.set_margins(15, 22, 15)
        self.set_auto_page_break(auto=True, margin=24)
        for style in _FONT_FILES:
            self.add_font(FONT_FAMILY, style, _font_path(style))
        self.alias_nb_pages()

    def header(self) -> None:
        if self._draft:
            self._watermark()
        self.set_xy(15, 8)
        self.set_font(FONT_FAMILY, "B", 10)
        self.set_text_color(*_NOTICE_RED)
        self.cell(0, 6, EMULATOR_NOTICE, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)
        self.set_y(22)

    def footer(self) -> None:
        self.set_y(-20)
        self.set_font(FONT_FAMILY, "B", 8)
        self.set_text_color(*_NOTICE_RED)
        self.cell(0, 4, EMULATOR_NOTICE, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT_FAMILY, "", 7)
        self.set_text_color(*_GREY)
        self.cell(0, 4, self._seller_line, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(0, 4, f"Page {self.page_no()}/{{nb}}", align=Align.C)
        self.set_text_color(0, 0, 0)

    def _watermark(self) -> None:
        self.set_font(FONT_FAMILY, "B", 110)
        self.set_text_color(*_WATERMARK_GREY)
        with self.rotation(angle=45, x=self.w / 2, y=self.h / 2):
            self.text(self.w / 2 - 62, self.h / 2 + 18, "DRAFT")
        self.set_text_color(0, 0, 0)


def render_invoice_pdf(document: InvoiceDocument, *, draft: bool, pdfa: bool) -> bytes:
    pdf = _InvoicePage(
        draft=draft,
        seller_line=printable(_seller_legal_line(document.seller)),
        compliance="PDF/A-3B" if pdfa else None,
    )
    title = document.title
    pdf.set_title(printable(f"{title} (emulated, not a real invoice)"))
    pdf.set_author(printable(document.seller.name))
    pdf.set_subject(printable(f"{title} pour {document.buyer.name}. {EMULATOR_NOTICE}."))
    pdf.set_creator("billing_pipeline local Qonto emulator")
    pdf.set_lang("fr-FR")
    pdf.add_page()
    _title_block(pdf, document, title)
    _parties(pdf, document)
    _references(pdf, document)
    if document.header:
        _paragraph(pdf, document.header, size=9)
    _lines_table(pdf, document)
    _vat_and_totals(pdf, document)
    _payment(pdf, document)
    _legal_notes(pdf, document)
    if document.footer:
        _paragraph(pdf, document.footer, size=8)
    return bytes(pdf.output())


def _title_block(pdf: FPDF, document: InvoiceDocument, title: str) -> None:
    pdf.set_font(FONT_FAMILY, "B", 16)
    pdf.cell(0, 9, printable(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if document.number is None:
        pdf.set_font(FONT_FAMILY, "", 9)
        pdf.set_text_color(*_NOTICE_RED)
        pdf.cell(0, 5, "DRAFT — not numbered, not payable", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
    pdf.ln(2)


def _parties(pdf: FPDF, document: InvoiceDocument) -> None:
    top = pdf.get_y()
    column = (pdf.w - pdf.l_margin - pdf.r_margin - 10) / 2
    bottoms = []
    for index, (label, party) in enumerate((("Émetteur", document.seller), ("Client", document.buyer))):
        pdf.set_xy(pdf.l_margin + index * (column + 10), top)
        pdf.set_font(FONT_FAMILY, "B", 8)
        pdf.set_text_color(*_GREY)
        pdf.cell(column, 4, label.upper(), new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
        pdf.set_font(FONT_FAMILY, "B", 10)
        pdf.multi_cell(column, 5, printable(party.name), align=Align.L, new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font(FONT_FAMILY, "", 9)
        pdf.multi_cell(
            column,
            4.5,
            printable("\n".join(_party_lines(party))),
            align=Align.L,
            new_x=XPos.LEFT,
            new_y=YPos.NEXT,
        )
        bottoms.append(pdf.get_y())
    pdf.set_xy(pdf.l_margin, max(bottoms) + 4)


def _party_lines(party: Party) -> list[str]:
    lines = []
    if party.address.street:
        lines.append(party.address.street)
    if party.address.street_more:
        lines.append(party.address.street_more)
    city = " ".join(part for part in (party.address.zip_code, party.address.city) if part)
    if city:
        lines.append(city)
    lines.append(_COUNTRY_NAMES.get(party.address.country_code, party.address.country_code))
    if party.siret:
        lines.append(f"SIRET : {party.siret}")
    elif party.siren:
        lines.append(f"SIREN : {party.siren}")
    if party.vat_number:
        lines.append(f"N° TVA : {party.vat_number}")
    if party.email:
        lines.append(party.email)
    return lines


def _references(pdf: FPDF, document: InvoiceDocument) -> None:
    rows = [
        ("Date d'émission", f"{document.issue_date:%d/%m/%Y}"),
        ("Date d'échéance", f"{document.due_date:%d/%m/%Y}"),
    ]
    if document.period_start and document.period_end:
        rows.append(
            (
                "Période de prestation",
                f"du {document.period_start:%d/%m/%Y} au {document.period_end:%d/%m/%Y}",
            )
        )
    if document.purchase_order:
        rows.append(("Bon de commande", document.purchase_order))
    rows += document.correction_rows()
    rows.append(("Nature des opérations", "Prestations de services"))
    for label, value in rows:
        pdf.set_font(FONT_FAMILY, "B", 9)
        pdf.cell(48, 5, label)
        pdf.set_font(FONT_FAMILY, "", 9)
        pdf.multi_cell(0, 5, printable(value), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)


def _paragraph(pdf: FPDF, text: str, *, size: float) -> None:
    pdf.set_font(FONT_FAMILY, "", size)
    pdf.multi_cell(0, size * 0.5, printable(text), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)


def _lines_table(pdf: FPDF, document: InvoiceDocument) -> None:
    # drawn by hand rather than with FPDF.table(): that one line-breaks every cell twice, which made
    # a 70-line invoice take 0.6 s; here only the designation is wrapped, once
    _table_heading(pdf)
    for line in document.lines:
        _table_row(pdf, line, document.currency)
    pdf.ln(3)


def _table_heading(pdf: FPDF) -> None:
    pdf.set_font(FONT_FAMILY, "B", 8)
    pdf.set_fill_color(*_HEADING_FILL)
    for label, width, align in _COLUMNS:
        pdf.cell(width, _HEADING_HEIGHT, label, align=align, fill=True)
    pdf.ln(_HEADING_HEIGHT)


def _table_row(pdf: FPDF, line: InvoiceLine, currency: str) -> None:
    label_width = _COLUMNS[0][1]
    pdf.set_font(FONT_FAMILY, "", 8)
    title = _wrapped(pdf, label_width, line.title)
    pdf.set_font(FONT_FAMILY, "", 7)
    description = _wrapped(pdf, label_width, line.description) if line.description else []
    if line.allowance is not None:
        # the discount shows on its line, as the XML's line allowance: the amount column is net of it
        description.append(_discount_text(line, currency))
    height = (len(title) + len(description)) * _ROW_LINE_HEIGHT + 2 * _ROW_PADDING
    if pdf.will_page_break(height):
        pdf.add_page()
        _table_heading(pdf)
    top = pdf.get_y()
    y = top + _ROW_PADDING
    for text, size, color in [(text, 8, (0, 0, 0)) for text in title] + [(text, 7, _GREY) for text in description]:
        pdf.set_font(FONT_FAMILY, "", size)
        pdf.set_text_color(*color)
        pdf.set_xy(pdf.l_margin, y)
        pdf.cell(label_width, _ROW_LINE_HEIGHT, text)
        y += _ROW_LINE_HEIGHT
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(FONT_FAMILY, "", 8)
    vat = f"{_number(line.vat.percent)} %" if line.vat.category == "S" else line.vat.category
    values = (
        _number(line.quantity),
        line.unit_label or "",
        _money(line.unit_price, currency, minimum_decimals=2),
        vat,
        _money(line.net_amount, currency),
    )
    x = pdf.l_margin + label_width
    for value, (_, width, align) in zip(values, _COLUMNS[1:], strict=True):
        pdf.set_xy(x, top + _ROW_PADDING)
        pdf.cell(width, _ROW_LINE_HEIGHT, printable(value), align=align)
        x += width
    bottom = top + height
    pdf.set_draw_color(*_RULE_GREY)
    pdf.line(pdf.l_margin, bottom, pdf.w - pdf.r_margin, bottom)
    pdf.set_xy(pdf.l_margin, bottom)


def _discount_text(line: InvoiceLine, currency: str) -> str:
    assert line.allowance is not None
    text = f"Remise : -{_money(line.allowance.amount, currency)}"
    if line.allowance.percent is not None:
        text += f" ({_number(line.allowance.percent)} %)"
    gross = line.net_amount + line.allowance.amount
    return f"{text} sur {_money(gross, currency)}"


def _wrapped(pdf: FPDF, width: float, text: str) -> list[str]:
    text = printable(text)
    # fpdf2's line breaking re-measures the line at every character: skip it when the text fits
    if "\n" not in text and pdf.get_string_width(text) <= width - 2 * pdf.c_margin:
        return [text]
    lines: list[str] = pdf.multi_cell(width, _ROW_LINE_HEIGHT, text, dry_run=True, output=MethodReturnValue.LINES)
    return lines


def _vat_and_totals(pdf: FPDF, document: InvoiceDocument) -> None:
    pdf.set_font(FONT_FAMILY, "B", 9)
    pdf.cell(0, 5, "Récapitulatif TVA", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT_FAMILY, "", 8)
    for group in document.vat_breakdown:
        label = _CATEGORY_LABELS.get(group.vat.category, group.vat.category)
        text = (
            f"{label} {_number(group.vat.percent)} % — base {_money(group.basis, document.currency)}"
            f" — TVA {_money(group.amount, document.currency)}"
        )
        if group.vat.exemption_text:
            text += f" — {group.vat.exemption_text}"
        pdf.multi_cell(0, 4.5, printable(text), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    totals = (
        ("Total HT", document.line_total),
        ("Total TVA", document.vat_total),
        ("Total TTC", document.grand_total),
        ("Montant de l'avoir" if document.is_credit_note else "Net à payer", document.grand_total),
    )
    for index, (label, amount) in enumerate(totals):
        pdf.set_font(FONT_FAMILY, "B" if index >= 2 else "", 10)
        pdf.set_x(pdf.w - pdf.r_margin - 90)
        pdf.cell(50, 6, label)
        pdf.cell(
            40,
            6,
            printable(_money(amount, document.currency)),
            align=Align.R,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.ln(3)


def _payment(pdf: FPDF, document: InvoiceDocument) -> None:
    pdf.set_font(FONT_FAMILY, "B", 9)
    pdf.cell(0, 5, "Paiement", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT_FAMILY, "", 8)
    lines = [document.payment_terms]
    if document.payment:
        lines.append(f"IBAN : {_grouped_iban(document.payment.iban)}")
        if document.payment.bic:
            lines.append(f"BIC : {document.payment.bic}")
        if document.payment.beneficiary:
            lines.append(f"Bénéficiaire : {document.payment.beneficiary}")
    if document.number:
        lines.append(f"Référence à rappeler : {document.number}")
    pdf.multi_cell(0, 4.5, printable("\n".join(lines)), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)


def _legal_notes(pdf: FPDF, document: InvoiceDocument) -> None:
    pdf.set_font(FONT_FAMILY, "", 7)
    pdf.set_text_color(*_GREY)
    notes = [
        note
        for note in (
            document.notes.nature_of_operations,
            document.notes.vat_payment,
            document.notes.late_penalties,
            document.notes.recovery_indemnity,
            document.notes.early_payment_discount,
        )
        if note
    ]
    pdf.multi_cell(0, 3.5, printable("\n".join(notes)), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(2)


def _seller_legal_line(seller: Party) -> str:
    parts = [seller.name]
    if seller.siren:
        parts.append(f"SIREN {seller.siren}")
    if seller.vat_number:
        parts.append(f"TVA {seller.vat_number}")
    return " — ".join(parts)


def _number(value: Decimal, minimum_decimals: int = 0) -> str:
    """French-style figure: thin groups of three, decimal comma, no exponent."""
    text = f"{value.normalize():f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.ljust(minimum_decimals, "0")
    sign = "-" if whole.startswith("-") else ""
    whole = whole.lstrip("-")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    grouped = sign + "\u00a0".join(groups or ["0"])
    return f"{grouped},{fraction}" if fraction else grouped


def _money(value: Decimal, currency: str, *, minimum_decimals: int = 2) -> str:
    symbol = "€" if currency == "EUR" else currency
    return f"{_number(value, minimum_decimals)}\u00a0{symbol}"


def _grouped_iban(iban: str) -> str:
    return " ".join(iban[index : index + 4] for index in range(0, len(iban), 4))
