"""Invoice documents: one PDF (a clean one-page layout) and one CSV per customer and month,
under ``ONEVAULT_HOME/invoices/<yyyy-mm>/``.

fpdf2 draws the PDF: pure Python, maintained, no system libraries, and small next to
reportlab. Its core fonts (Helvetica) are Latin-1, so text is folded to Latin-1 first. The
PDF's creation date is the invoice's issue time, so re-rendering a finalised invoice gives the
same bytes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF

from warehouse.billing.finalise import LINE_COLUMNS
from warehouse.billing.invoices import InvoiceDoc, money, quantity, rate_label

# The invoice header's keys, then each line exactly as the snapshot stores it.
CSV_COLUMNS = ("invoice_number", "invoice_id", "customer", "period_start", "period_end", *LINE_COLUMNS)
_FOLD = str.maketrans({"–": "-", "—": "-", "×": "x", "’": "'", "“": '"', "”": '"', "…": "..."})
INK, MUTED, RULE, ACCENT = (33, 37, 41), (108, 117, 125), (222, 226, 230), (13, 71, 161)


@dataclass(frozen=True, slots=True)
class Rendered:
    invoice_id: str
    customer: str
    pdf: Path
    csv: Path


def invoice_dir(home: Path, month: str) -> Path:
    return home / "invoices" / month


def _t(text: object) -> str:
    return str(text).translate(_FOLD).encode("latin-1", "replace").decode("latin-1")


def write_csv(doc: InvoiceDoc, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(CSV_COLUMNS)
        for line in doc.lines:
            row = {
                **line,
                "invoice_number": doc.invoice_number or "",
                "invoice_id": doc.invoice_id,
                "customer": doc.customer,
                "period_start": doc.period.start.isoformat(),
                "period_end": doc.period.end.isoformat(),
            }
            out.writerow(["" if row.get(c) is None else row[c] for c in CSV_COLUMNS])
    return path


def write_pdf(doc: InvoiceDoc, path: Path) -> Path:
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_creation_date(doc.issued_ts or datetime(2000, 1, 1, tzinfo=UTC))
    pdf.set_title(_t(f"Invoice {doc.invoice_number or 'draft'} - {doc.customer} {doc.period.key}"))
    pdf.set_author(_t(doc.issuer or "OneVault"))
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(True, margin=22)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    # Issuer (left) and invoice identity (right).
    pdf.set_text_color(*ACCENT)
    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(width / 2, 10, _t(doc.issuer or "OneVault"))
    pdf.set_text_color(*INK)
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(
        width / 2,
        10,
        "INVOICE" if doc.status == "finalised" else "DRAFT INVOICE",
        align="R",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", "", 9)
    pdf.set_text_color(*MUTED)
    pdf.cell(width / 2, 5, "AI gateway usage and services")
    number = doc.invoice_number or "not finalised"
    pdf.cell(width / 2, 5, _t(f"No. {number}"), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(width / 2, 5, "")
    issued = f"Issued {doc.issued_ts:%Y-%m-%d %H:%M} UTC" if doc.issued_ts else "Draft - figures may change"
    pdf.cell(width / 2, 5, _t(issued), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    # Bill to and period.
    pdf.set_draw_color(*RULE)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 8)
    pdf.cell(width / 2, 5, "BILL TO")
    pdf.cell(width / 2, 5, "BILLING PERIOD", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*INK)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(width / 2, 6, _t(doc.customer_name))
    last_day = doc.period.end.toordinal() - 1
    period = f"{doc.period.start:%d %b %Y} - {datetime.fromordinal(last_day):%d %b %Y}"
    pdf.cell(width / 2, 6, _t(period), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.set_text_color(*MUTED)
    pdf.cell(width / 2, 5, _t(f"Customer ID {doc.customer}"))
    pdf.cell(width / 2, 5, _t(f"Currency {doc.currency}"), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    # Lines.
    cols = (
        ("#", 8, "L"),
        ("Description", width - 8 - 32 - 18 - 30, "L"),
        ("Quantity", 32, "R"),
        ("Unit", 18, "L"),
        (f"Amount ({doc.currency})", 30, "R"),
    )
    pdf.set_fill_color(241, 243, 245)
    pdf.set_text_color(*INK)
    pdf.set_font("Helvetica", "B", 8.5)
    for title, w, align in cols:
        pdf.cell(w, 7, _t(title), align=align, fill=True)
    pdf.ln(7)
    pdf.set_font("Helvetica", "", 8.5)
    for line in doc.lines:
        desc = str(line.get("description") or line.get("line_type"))
        if line.get("charge_class") == "correction":
            desc = f"Correction for {str(line.get('correction_of_period') or '')[:7]}: {desc}"
        values = (str(line["line_no"]), desc, quantity(line), line.get("unit") or "", money(line["amount"]))
        for (_, w, align), value in zip(cols, values, strict=True):
            text = _t(value)
            while pdf.get_string_width(text) > w - 2 and len(text) > 4:
                text = text[:-4] + "..."
            pdf.cell(w, 6.5, text, align=align)
        pdf.ln(6.5)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    if not doc.lines:
        pdf.cell(width, 6.5, "No charges in this period.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    # Totals.
    label_w, value_w = 45, 30
    for label, value, bold in (
        ("Subtotal", doc.subtotal, False),
        (rate_label(doc), doc.tax, False),
        (f"Total {doc.currency}", doc.total, True),
    ):
        pdf.set_font("Helvetica", "B" if bold else "", 11 if bold else 9)
        pdf.cell(width - label_w - value_w, 6.5, "")
        pdf.cell(label_w, 6.5, _t(label), align="R")
        pdf.cell(value_w, 6.5, money(value), align="R", new_x="LMARGIN", new_y="NEXT")

    # What makes it trustworthy.
    pdf.set_y(-36)
    pdf.set_font("Helvetica", "", 7.5)
    pdf.set_text_color(*MUTED)
    if doc.status == "finalised":
        note = (
            "Finalised from the OneVault ledger (an insert-only Data Vault); this invoice never changes. "
            "Usage that arrives late is billed as a correction on a later invoice."
        )
    else:
        note = "Draft: the billing period is open or not yet finalised; amounts may still change."
    pdf.multi_cell(width, 4, _t(note), new_x="LMARGIN", new_y="NEXT")
    if doc.content_hash:
        pdf.set_font("Courier", "", 7)
        pdf.multi_cell(width, 4, f"content sha256 {doc.content_hash}", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def render(doc: InvoiceDoc, directory: Path) -> Rendered:
    directory.mkdir(parents=True, exist_ok=True)
    pdf = write_pdf(doc, directory / f"{doc.file_stem}.pdf")
    table = write_csv(doc, directory / f"{doc.file_stem}.csv")
    return Rendered(doc.invoice_id, doc.customer, pdf, table)
