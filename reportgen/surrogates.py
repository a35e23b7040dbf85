"""Lone surrogates: invalid Unicode that JSON can still carry (``"\\ud800"``).

No UTF-8 file, Arrow string or PDF can hold one, so wherever text from a source enters
(collection, a snapshot write, a parsed JSON tag, a rendered document) it goes through
``fix_surrogates``: a surrogate pair becomes the character it encodes, a lone surrogate the
visible U+FFFD replacement character.
"""

from __future__ import annotations


def fix_surrogates(text: str) -> str:
    """``text`` with surrogate pairs joined and lone surrogates replaced by U+FFFD (unchanged,
    the same object, when it holds none)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
