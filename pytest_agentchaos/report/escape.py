"""Strings from agents and tests are data: made inert for each report format.

Agent names, test ids, exception messages and agent output reach the reports unchanged, and any
of them may come from a model or a user. In a terminal an ESC or BEL sequence can retitle the
window or rewrite what was printed; in Markdown a pipe breaks the table and ``<script>`` is
markup; in a spreadsheet a cell starting with ``=`` is a formula. Each renderer passes every
string through the function for its format here.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Control (Cc: C0, DEL, C1), format (Cf: bidi overrides, zero-width characters), lone surrogates
# (Cs: unencodable) and line / paragraph separators (Zl, Zp: they break lines like \n does).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

# CommonMark lets a backslash escape any ASCII punctuation; these are the characters that can
# start emphasis, code, links, images, raw HTML, headings, strike-through or a table cell.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#!|~])")

# OWASP's CSV injection rule: a cell starting with one of these is a formula to a spreadsheet.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _escape_char(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str) -> str:
    """``text`` with every control, format and separator character written as an escape
    (``\\x1b``, ``\\n``, ``\\u202e``): safe to print to a terminal, and still readable."""
    if text.isprintable():  # the common case: nothing to do (isprintable is also False for Z*)
        return text
    return "".join(
        _escape_char(char) if unicodedata.category(char) in _INVISIBLE_CATEGORIES else char
        for char in text
    )


def markdown_text(text: str) -> str:
    """For a Markdown table cell or list item: no raw HTML, no markup, one line, no pipe."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", visible(text))


def html_text(text: str) -> str:
    """For HTML text or an attribute value: escaped markup and no raw control characters."""
    return html.escape(visible(text))


def csv_text(text: str) -> str:
    """For a CSV cell: one line, and never a formula (a leading ``'`` makes it text)."""
    shown = visible(text)
    if shown.lstrip(" ").startswith(_FORMULA_STARTS) or text.startswith(_FORMULA_STARTS):
        return "'" + shown
    return shown
