"""Tenant text made safe to lay out: bounded, visible, breakable, unable to reorder its neighbours.

Names, tags and descriptions come from tenants and can be anything: a 100 KB unbroken tag
value, a lone surrogate, a bell character, a right-to-left override. ``shown`` turns any
value into text the PDF (and a chart) can show cheaply and honestly:

- At most ``LIMITS[kind]`` characters, the rest replaced by ``CUT_MARK``. The workbook and
  the CSV files hold every value in full; the PDF says so once (``cut_note``).
- A lone surrogate becomes U+FFFD; a surrogate pair becomes the character it encodes.
- Control characters and invisible format characters (bidi overrides, embeddings, isolates
  and marks, zero-width characters, line and paragraph separators, tag characters) are
  shown as escapes (``\\x07``, ``\\u202e``): nothing invisible reaches the page, and no
  bidi control can reorder the text around it. Only the joiners U+200C and U+200D stay,
  as some scripts and emoji need them.
- A run of more than ``BREAK_RUN`` characters with no break opportunity (space, ``/``,
  ``-``) gets a zero-width space every ``BREAK_EVERY`` characters. WeasyPrint's
  ``overflow-wrap`` alone costs time quadratic in the run's length (about 0.3 s per 1,000
  characters per cell); given break opportunities it lays out in linear time. Text
  extraction drops the zero-width spaces, so a copied value reads as it was.

Short printable text, the usual case, is returned unchanged after two cheap checks.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from typing import Any

from reportgen.surrogates import fix_surrogates

# Characters shown per kind of value. A name is at most 200 (Azure resource names are at most
# 90, tag values 256); a resource id, a nested ARM path, at most 400 (the longest cluster id is
# about 280); a description or message 2,000; a query text, which the appendix prints whole,
# 20,000 (a few pages).
LIMITS = {"name": 200, "id": 400, "text": 2_000, "query": 20_000}
CUT_MARK = "\u2026 [cut]"
BREAK_RUN = 64       # longer unbroken runs get break opportunities (a sha256 in hex is 64 characters)
BREAK_EVERY = 16
ZWSP = "\u200b"
KEPT_FORMAT = frozenset("\u200c\u200d")   # joiners: part of how some scripts and emoji are written

_BREAKABLE = re.compile(rf"[^\s/\-{ZWSP}]{{{BREAK_RUN + 1},}}")
_CHUNK = re.compile(rf"(.{{{BREAK_EVERY}}})(?=.)", re.DOTALL)
_PARTIAL_ESCAPE = re.compile(r"\\(?:x[0-9a-f]?|u[0-9a-f]{0,3}|U[0-9a-f]{0,7})?$")
_SPACES = {"\t": " ", "\n": " ", "\r": " "}
_SURROGATE = re.compile("[\ud800-\udfff]")


@functools.cache
def _unsafe() -> re.Pattern[str]:
    """Every character that is escaped or replaced: controls (Cc), format characters (Cf) but the
    joiners, line and paragraph separators (Zl, Zp) and surrogates (Cs), from this Python's
    Unicode database (one pass over the code points, about 0.2 s, once per process)."""
    ranges: list[list[int]] = []
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") and ch not in KEPT_FORMAT:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    parts = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return re.compile(f"[{parts}]")


def _escape(ch: str) -> str:
    cp = ord(ch)
    if 0xD800 <= cp <= 0xDFFF:
        return "\ufffd"
    if cp <= 0xFF:
        return f"\\x{cp:02x}"
    return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"


def _visible(text: str, multiline: bool, spaces: bool) -> str:
    if _SURROGATE.search(text):
        text = fix_surrogates(text)
    if multiline:
        text = text.replace("\r\n", "\n")

    def repl(m: re.Match[str]) -> str:
        ch = m.group()
        if multiline and ch in "\n\t":
            return ch
        if spaces and ch in _SPACES:
            return _SPACES[ch]
        return _escape(ch)

    return _unsafe().sub(repl, text)


def _breakable(text: str) -> str:
    return _BREAKABLE.sub(lambda m: _CHUNK.sub(lambda c: c.group(1) + ZWSP, m.group()), text)


def shown(value: Any, kind: str = "name") -> tuple[str, bool]:
    """``value`` as text to lay out, and whether it was cut. ``kind`` is a key of ``LIMITS``:
    names and ids on one line (a tab or newline is shown as an escape), texts with tabs and
    newlines as spaces, query texts with their lines kept."""
    limit = LIMITS[kind]
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit and text.isprintable() and (len(text) <= BREAK_RUN or not _BREAKABLE.search(text)):
        return str(text), False
    cut = len(text) > limit
    text = _visible(text[:limit], multiline=kind == "query", spaces=kind == "text")
    if len(text) > limit:  # escapes made it longer
        cut = True
        text = _PARTIAL_ESCAPE.sub("", text[:limit])
    text = _breakable(text)
    return (text.rstrip() + CUT_MARK, True) if cut else (text, False)


def label(value: Any, limit: int) -> str:
    """A chart label: one line of at most ``limit`` characters (``…`` where cut), controls and
    format characters as escapes, no break opportunity added (labels do not wrap). A lone
    surrogate becomes ``?``: the chart font (Inter) has no U+FFFD."""
    text = value if isinstance(value, str) else str(value)
    head = text[:limit + 1]
    if not head.isprintable() or "\ufffd" in head:  # U+FFFD also comes from aggregation (lone surrogates)
        head = _visible(head, multiline=False, spaces=True).replace("\ufffd", "?")
    return head if len(head) <= limit and len(text) <= limit else head[:limit - 1] + "\u2026"


def cut_note(count: int) -> str:
    """The sentence that explains ``CUT_MARK``, for a pack where ``count`` values were cut."""
    return (f"In {count:,} place{'s' if count != 1 else ''} this PDF shows a text cut short, ending in "
            f"\u201c{CUT_MARK}\u201d: names after {LIMITS['name']:,} characters, resource ids after "
            f"{LIMITS['id']:,}, descriptions and messages after "
            f"{LIMITS['text']:,}. The CSV files in data/ hold every value in full, and the workbook up to "
            f"Excel's 32,767 characters per cell.")
