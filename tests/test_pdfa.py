"""evidence-pack.pdf as archival, accessible PDF: PDF/A-3b, tagged, summary.json and OSCAL embedded.

veraPDF could not be installed here (no Debian, pip or npm package), so conformance is checked
structurally with pikepdf (skipped when pikepdf is absent). The checks that run:
- no encryption; PDF header 1.7;
- OutputIntent /GTS_PDFA1 with an embedded ICC profile (DestOutputProfile stream, N = 3);
- XMP metadata pdfaid:part = 3 and pdfaid:conformance = B, dc:title set, xmp:CreateDate and
  ModifyDate equal to the snapshot's as-of time;
- every font has an embedded font file (FontFile, FontFile2 or FontFile3 on its descriptor);
- EmbeddedFiles holds summary.json (AFRelationship /Data) and assessment-results.json
  (/Supplement), each /application/json with a description, dates and size, byte-equal to the
  pack's files, each listed once in the catalogue's /AF;
- MarkInfo /Marked true, StructTreeRoot present, /Lang "en", document title in Info and XMP;
- OSCAL cites the PDF by path without a hash (it is written first), the manifest hashes it.
Byte-identical re-rendering is tests/test_reproducible.py's job (it covers the PDF).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_evidence import make_sample, render_pack

pikepdf = pytest.importorskip("pikepdf")


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pdfa")
    snapshot, history = make_sample(root / "in", months=1)
    return render_pack(snapshot, root / "pack", history=history)


@pytest.fixture(scope="module")
def pdf(pack):
    with pikepdf.open(pack / "evidence-pack.pdf") as doc:
        yield doc


def test_pdfa_identification_and_output_intent(pdf, pack):
    assert not pdf.is_encrypted
    assert pdf.pdf_version == "1.7"
    meta = pdf.open_metadata()
    assert meta.get("pdfaid:part") == "3" and meta.get("pdfaid:conformance") == "B"
    assert meta.get("dc:title")
    summary = json.loads((pack / "summary.json").read_text())
    as_of = str(summary.get("asOf") or summary.get("as_of") or "")
    assert meta.get("xmp:CreateDate") == meta.get("xmp:ModifyDate")
    if as_of:
        assert meta.get("xmp:CreateDate")[:16] == as_of[:16]
    (intent,) = pdf.Root.OutputIntents
    assert intent.S == "/GTS_PDFA1"
    profile = intent.DestOutputProfile
    assert int(profile.N) == 3 and len(profile.read_bytes()) > 1000


def test_fonts_are_embedded(pdf):
    fonts = 0
    for page in pdf.pages:
        for font in page.Resources.get("/Font", {}).values():
            fonts += 1
            descendants = font.get("/DescendantFonts")
            descriptor = (descendants[0] if descendants else font).FontDescriptor
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), font.get("/BaseFont")
    assert fonts


def test_summary_and_oscal_are_embedded_as_associated_files(pdf, pack):
    files = pdf.attachments
    expected = {"summary.json": ("/Data", pack / "summary.json"),
                "assessment-results.json": ("/Supplement", pack / "oscal" / "assessment-results.json")}
    assert set(files) == set(expected)
    for name, (relationship, source) in expected.items():
        spec = files[name]
        assert spec.obj.AFRelationship == relationship
        assert spec.description
        embedded = spec.get_file()
        assert embedded.mime_type == "application/json"
        assert embedded.read_bytes() == source.read_bytes()
        params = embedded.obj.Params
        assert str(params.CreationDate).startswith("D:") and str(params.ModDate) == str(params.CreationDate)
    af = [item.objgen for item in pdf.Root.AF]
    assert len(af) == len(set(af)) == 2
    assert {str(pdf.get_object(og).UF) for og in af} == set(expected)


def test_tagged_with_language_and_title(pdf):
    assert bool(pdf.Root.MarkInfo.Marked) is True
    assert "/StructTreeRoot" in pdf.Root
    assert str(pdf.Root.Lang) == "en"
    assert str(pdf.docinfo.Title)


def test_oscal_cites_the_pdf_without_a_hash_and_the_manifest_hashes_it(pack):
    oscal = json.loads((pack / "oscal" / "assessment-results.json").read_text())
    resources = oscal["assessment-results"]["back-matter"]["resources"]
    pdf_links = [r for res in resources for r in res.get("rlinks", []) if r["href"].endswith("evidence-pack.pdf")]
    assert pdf_links and all("hashes" not in r for r in pdf_links)
    manifest = json.loads((pack / "manifest.json").read_text())
    assert "evidence-pack.pdf" in json.dumps(manifest)


def test_a_missing_attachment_fails_the_pdf_naming_the_file(pack, tmp_path):
    """A pack PDF never silently lacks its data: the PDF output refuses when a file to embed is absent."""
    import shutil

    from reportgen.errors import RenderError
    from reportgen.render import interface

    partial = tmp_path / "pack"
    shutil.copytree(pack, partial)
    (partial / "oscal" / "assessment-results.json").unlink()
    (partial / "evidence-pack.pdf").unlink()
    with pytest.raises(RenderError, match=r"oscal/assessment-results\.json is to be embedded"):
        interface.output("pdf").write(None, partial)
    assert not (partial / "evidence-pack.pdf").exists()
