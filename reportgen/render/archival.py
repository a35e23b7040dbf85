"""Archival PDF writing: PDF/A-3b, tagged for accessibility, with embedded files.

``write_archival_pdf`` turns a laid-out WeasyPrint document into a PDF/A-3b file
(ISO 19005-3, level B) that is also tagged (a structure tree, ``/MarkInfo``, ``/Lang`` from
``<html lang>``): WeasyPrint's ``pdf_variant="pdf/a-3b"`` adds the sRGB output intent with
its embedded ICC profile and the XMP ``pdfaid:part=3``/``conformance=B``; ``pdf_tags=True``
the tags. Each attachment is an embedded file with its MIME subtype, description,
creation and modification dates, and an ``/AFRelationship`` (``Data``, ``Supplement``,
...), listed in the catalogue's ``/AF`` as PDF/A-3 requires.

Reproducible by construction: the XMP and Info dates come from the HTML's
``dcterms.created``/``dcterms.modified`` (the caller's as-of time), the attachments'
dates are ``created`` (never the file system clock), and the file identifier is the
caller's ``identifier``. The same document and inputs give the same bytes.

Any Output that lays out HTML with WeasyPrint (evidence-pack.pdf, an executive summary)
writes its file with this one function.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

PDF_VARIANT = "pdf/a-3b"
RELATIONSHIPS = ("Source", "Data", "Alternative", "Supplement", "EncryptedPayload", "FormData", "Schema",
                 "Unspecified")   # ISO 32000-2:2020, 7.11.3 and ISO 19005-3 Annex A


@dataclass(frozen=True)
class Embedded:
    """One file embedded in the PDF."""
    name: str            # file name shown by the reader (e.g. "summary.json")
    data: bytes
    mime: str            # e.g. "application/json"
    description: str     # one line for the reader's attachment pane
    relationship: str = "Supplement"

    def __post_init__(self) -> None:
        if self.relationship not in RELATIONSHIPS:
            raise ValueError(f"AFRelationship {self.relationship!r} is not one of {', '.join(RELATIONSHIPS)}")


def render_options() -> dict:
    """Options for ``HTML.render`` so that layout already knows the variant (its output intent)."""
    return {"pdf_variant": PDF_VARIANT, "pdf_tags": True}


def archival_pdf_bytes(document, *, attachments: Sequence[Embedded], identifier: bytes, created: datetime,
                       url_fetcher=None) -> bytes:
    """The PDF/A-3b bytes of a rendered WeasyPrint ``document`` with ``attachments`` embedded."""
    from weasyprint import Attachment

    when = created.astimezone(timezone.utc).replace(tzinfo=None) if created.tzinfo else created
    files = []
    for item in attachments:
        # a data: URL carries the MIME type to the embedded file's /Subtype (a name alone would be guessed)
        url = f"data:{item.mime};base64,{base64.b64encode(item.data).decode('ascii')}"
        kwargs = {"url_fetcher": url_fetcher} if url_fetcher is not None else {}
        files.append(Attachment(url=url, name=item.name, description=item.description, created=when,
                                modified=when, relationship=item.relationship, **kwargs))
    return document.write_pdf(attachments=files, pdf_identifier=identifier, pdf_variant=PDF_VARIANT,
                              pdf_tags=True, uncompressed_pdf=False, finisher=_dedupe_af)


def _dedupe_af(document, pdf) -> None:
    """WeasyPrint 70 lists each embedded file twice in the catalogue's /AF; keep each once, in order."""
    af = pdf.catalog.get("AF")
    if af:
        seen: list = []
        for ref in af:
            if ref not in seen:
                seen.append(ref)
        af[:] = seen


def write_archival_pdf(document, path: Path, *, attachments: Sequence[Embedded], identifier: bytes,
                       created: datetime, url_fetcher=None) -> Path:
    """Write ``document`` as PDF/A-3b (tagged, ``attachments`` embedded) to ``path``, atomically."""
    data = archival_pdf_bytes(document, attachments=attachments, identifier=identifier, created=created,
                              url_fetcher=url_fetcher)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
