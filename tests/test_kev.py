"""Known exploited vulnerabilities (issue 11 item 5): the CISA KEV feed, its config and its snapshot entry."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from reportgen.collect import kev
from reportgen.config import parse_config
from reportgen.errors import ConfigError, SourceError
from reportgen.snapshot import DATASETS, empty_frame, read_snapshot, write_snapshot

FEED = {
    "title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2026.11.30",
    "dateReleased": "2026-11-30T17:00:00.0000Z", "count": 2,
    "vulnerabilities": [
        {"cveID": "CVE-2024-3094", "vendorProject": "XZ", "product": "xz-utils", "vulnerabilityName": "backdoor",
         "dateAdded": "2026-11-01", "shortDescription": "d", "requiredAction": "Apply updates",
         "dueDate": "2026-11-22", "knownRansomwareCampaignUse": "Unknown", "notes": "", "cwes": ["CWE-506"]},
        {"cveID": "cve-2023-44487", "vendorProject": "IETF", "product": "HTTP/2", "vulnerabilityName": "reset",
         "dateAdded": "2023-10-10", "shortDescription": "d", "requiredAction": "Apply updates",
         "dueDate": "2023-10-31", "knownRansomwareCampaignUse": "Known", "notes": "n", "cwes": []},
    ],
}


def feed_bytes(**changes) -> bytes:
    return json.dumps({**FEED, **changes}).encode()


def test_parse_feed():
    cat = kev.parse(feed_bytes(), "feed.json")
    assert cat.catalog_version == "2026.11.30" and cat.count == 2
    assert list(cat.frame["cveID"]) == ["CVE-2023-44487", "CVE-2024-3094"]
    assert str(cat.frame["dueDate"].iloc[1].date()) == "2026-11-22"


def test_bad_json_and_missing_key_name_source_and_key():
    with pytest.raises(SourceError, match="feed.json: not valid JSON"):
        kev.parse(b"{nope", "feed.json")
    data = dict(FEED)
    del data["catalogVersion"]
    with pytest.raises(SourceError, match="feed.json: missing key 'catalogVersion'"):
        kev.parse(json.dumps(data).encode(), "feed.json")
    bad = json.loads(feed_bytes())
    del bad["vulnerabilities"][0]["dueDate"]
    with pytest.raises(SourceError, match=r"vulnerabilities\[0\]: key 'dueDate' missing"):
        kev.parse(json.dumps(bad).encode(), "feed.json")


def test_config_source(tmp_path: Path):
    cfg = parse_config({"known_exploited": {"source": "kev.json"}}, base=tmp_path)
    assert cfg.known_exploited.source == str(tmp_path / "kev.json")
    with pytest.raises(ConfigError, match=r"\[known_exploited\] source"):
        parse_config({"known_exploited": {"source": "http://example.com/kev.json"}}, base=tmp_path)
    with pytest.raises(ConfigError, match="unknown key 'url'"):
        parse_config({"known_exploited": {"url": "x"}}, base=tmp_path)
    assert parse_config({}, base=tmp_path).known_exploited.source is None


def test_collect_from_file_and_loopback_http(tmp_path: Path):
    path = tmp_path / "kev.json"
    path.write_bytes(feed_bytes())
    frame, info = kev.collect_dataset(str(path))
    assert info.status == "complete" and len(frame) == 2 and not info.warnings
    assert info.extra["catalog"]["catalog_version"] == "2026.11.30"
    assert info.extra["catalog"]["source"] == str(path)
    assert info.extra["catalog"]["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    _, labelled = kev.collect_dataset(str(path), "the sample catalogue")
    assert labelled.extra["catalog"]["source"] == "the sample catalogue"
    path.write_bytes(feed_bytes(count=5))
    assert "count is 5 but it lists 2" in kev.collect_dataset(str(path))[1].warnings[0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = feed_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        cat = kev.load(f"http://127.0.0.1:{server.server_port}/kev.json")
        assert len(cat.frame) == 2
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(SourceError, match="loopback"):
        kev.read_bytes("http://example.com/kev.json")


def test_absent_is_not_collected_at_all():
    # no source configured: no dataset and no gap (its absence from the snapshot means "not checked")
    assert kev.collect_dataset(None) is None
    assert kev.collect_dataset("") is None


def test_schema_required_keys_only(tmp_path: Path):
    # the CISA schema requires catalogVersion, dateReleased, count, vulnerabilities; title is optional
    data = json.loads(feed_bytes())
    del data["title"]
    for item in data["vulnerabilities"]:
        for key in ("knownRansomwareCampaignUse", "notes", "cwes"):
            item.pop(key)
    cat = kev.parse(json.dumps(data).encode(), "feed.json")
    assert cat.title == "" and set(cat.frame["knownRansomwareCampaignUse"]) == {""}
    bad = json.loads(feed_bytes())
    bad["vulnerabilities"][0]["cwes"] = ["506"]
    with pytest.raises(SourceError, match=r"vulnerabilities\[0\] \(CVE-2024-3094\): key 'cwes'"):
        kev.parse(json.dumps(bad).encode(), "feed.json")
    for key, value in (("count", "2"), ("vulnerabilities", {})):
        with pytest.raises(SourceError, match=f"key '{key}' has the wrong type"):
            kev.parse(feed_bytes(**{key: value}), "feed.json")


def test_snapshot_round_trip(tmp_path: Path):
    from datetime import date, datetime, timezone
    path = tmp_path / "kev.json"
    path.write_bytes(feed_bytes())
    frame, info = kev.collect_dataset(str(path))
    frames = {d: empty_frame(d) for d in DATASETS}
    frames[kev.DATASET] = frame
    out = write_snapshot(tmp_path / "snap", frames, collected_at=datetime(2026, 12, 1, tzinfo=timezone.utc),
                         period=(date(2026, 11, 1), date(2026, 11, 30)), source="test", run_id="r1",
                         provenance={kev.DATASET: info})
    snap = read_snapshot(out)
    assert snap.datasets[kev.DATASET].status == "complete"
    assert snap.meta["datasets"][kev.DATASET]["file"] == "data/known_exploited.parquet"
    assert snap.meta["datasets"][kev.DATASET]["catalog"]["catalog_version"] == "2026.11.30"
    assert list(snap.frames[kev.DATASET]["cveID"]) == ["CVE-2023-44487", "CVE-2024-3094"]
    # a snapshot written without the dataset still reads (not checked)
    del frames[kev.DATASET]
    old = read_snapshot(write_snapshot(tmp_path / "old", frames, collected_at=datetime(2026, 12, 1, tzinfo=timezone.utc),
                                       period=(date(2026, 11, 1), date(2026, 11, 30)), source="test", run_id="r2"))
    assert kev.DATASET not in old.frames


def test_due_date_rule_kev_stricter_and_sla_stricter():
    import pandas as pd
    from reportgen.aggregate.findings import apply_known_exploited
    cat = kev.parse(feed_bytes(), "feed.json").frame
    utc = lambda s: pd.Timestamp(s, tz="UTC")  # noqa: E731
    findings = pd.DataFrame({
        "cveId": ["CVE-2024-3094", "CVE-2023-44487", "CVE-2099-0001"], "state": ["Open", "Open", "Open"],
        "dueDate": pd.Series([utc("2026-12-10"), utc("2023-10-20"), utc("2026-12-10")]).astype("datetime64[us, UTC]"),
        "dueSource": ["sla", "governance", "sla"]})
    out = apply_known_exploited(findings, cat, utc("2026-12-01"))
    assert list(out["knownExploited"]) == [True, True, False]
    assert list(out["dueSource"]) == ["kev", "governance", "sla"]       # KEV stricter / SLA stricter / not in KEV
    assert str(out["dueDate"].iloc[0].date()) == "2026-11-22" and bool(out["overdue"].iloc[0])
    assert str(out["dueDate"].iloc[1].date()) == "2023-10-20"
    assert not bool(out["overdue"].iloc[2])
    unchecked = apply_known_exploited(findings, None, utc("2026-12-01"))
    assert unchecked["knownExploited"].isna().all()      # not checked: empty, not False
    assert list(unchecked["dueSource"]) == ["sla", "governance", "sla"]
    assert (unchecked["dueDate"] == findings["dueDate"]).all() and unchecked["kevDueDate"].isna().all()
    # a later KEV due date keeps the SLA date, an earlier one wins; the SLA date is kept beside it
    assert str(out["slaDueDate"].iloc[0].date()) == "2026-12-10" and str(out["kevDueDate"].iloc[1].date()) == "2023-10-31"


# ---------------------------------------------------------------- the build, the pack and the sample tenant

import dataclasses  # noqa: E402

import pandas as pd  # noqa: E402

from reportgen import pipeline  # noqa: E402
from reportgen.aggregate.build import build_model  # noqa: E402
from reportgen.config import RunConfig, ReportConfig  # noqa: E402
from reportgen.frameworks import load_controls  # noqa: E402
from reportgen.render.summary import summary_dict  # noqa: E402


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader
    return " ".join((page.extract_text() or "") for page in PdfReader(str(path)).pages)


def _without_catalogue(snap):
    """The same snapshot as if no [known_exploited] source had been configured."""
    return dataclasses.replace(snap, frames={k: v for k, v in snap.frames.items() if k != kev.DATASET},
                               datasets={k: v for k, v in snap.datasets.items() if k != kev.DATASET})


@pytest.fixture(scope="module")
def sample_pack(tmp_path_factory):
    """The small sample tenant (which ships a KEV-format catalogue) with one month of history, rendered as a pack."""
    root = tmp_path_factory.mktemp("kev-sample")
    pipeline.make_sample(root / "current", history_dir=root / "history", months=1)
    config = RunConfig(report=ReportConfig(pdf_detail_rows=20))
    result = pipeline.render(root / "current", root / "pack", config, history_dir=root / "history")
    return root, config, result


def test_sample_snapshot_freezes_the_catalogue(sample_pack):
    root, _, _ = sample_pack
    snap = read_snapshot(root / "current")
    shipped = json.loads((Path(kev.__file__).parent / "sample" / "data" / "known_exploited.json").read_text())
    assert snap.datasets[kev.DATASET].status == "complete"
    assert snap.datasets[kev.DATASET].rows == len(shipped["vulnerabilities"]) == shipped["count"]
    catalog = snap.meta["datasets"][kev.DATASET]["catalog"]
    assert catalog["catalog_version"] == shipped["catalogVersion"]
    assert "/work/" not in catalog["source"] and "sample" in catalog["source"]   # a label, not this machine's path
    # the catalogue lists CVEs the sample's findings really have, and others
    cves = set(snap.frames["findings"]["cveId"].str.upper())
    listed = set(snap.frames[kev.DATASET]["cveID"])
    assert listed & cves and listed - cves


def test_flagged_findings_take_the_earlier_due_date(sample_pack):
    _, _, result = sample_pack
    f = result.model.tables.findings
    flagged = f[f["knownExploited"].eq(True)]
    assert len(flagged) and not f[f["knownExploited"].ne(True)]["dueSource"].eq("kev").any()
    kev_wins = flagged[flagged["dueSource"].eq("kev")]
    sla_wins = flagged[flagged["dueSource"].isin(["sla", "governance"])]
    assert len(kev_wins) and len(sla_wins)          # the sample shows both outcomes
    assert (kev_wins["dueDate"] == kev_wins["kevDueDate"]).all()
    assert (kev_wins["kevDueDate"] < kev_wins["slaDueDate"]).all()
    assert (sla_wins["dueDate"] == sla_wins["slaDueDate"]).all()
    assert (sla_wins["slaDueDate"] <= sla_wins["kevDueDate"]).all()
    as_of = result.model.meta.as_of
    is_open = flagged["state"].eq("Open")
    assert (flagged.loc[is_open, "overdue"] == (flagged.loc[is_open, "dueDate"] < as_of)).all()
    # the period population follows the same rule for the same lineages
    pop = result.model.tables.period_population
    assert pop["dueSource"].eq("kev").any()
    by_lineage = kev_wins.drop_duplicates("lineageId").set_index("lineageId")["kevDueDate"]
    pop_kev = pop[pop["dueSource"].eq("kev")].set_index("lineageId")["dueDate"]
    common = by_lineage.index.intersection(pop_kev.index)
    assert len(common) and (pd.to_datetime(pop_kev[common], utc=True) == by_lineage[common]).all()


def test_summary_counts_match_the_findings_table(sample_pack):
    root, _, result = sample_pack
    summary = json.loads((result.pack_dir / "summary.json").read_text())
    k = summary["known_exploited"]
    f = result.model.tables.findings
    open_flagged = f[f["state"].eq("Open") & f["knownExploited"].eq(True)]
    assert k["checked"] is True and k["statement"] is None
    assert k["open_flagged"] == len(open_flagged) > 0
    assert k["distinct_cves"] == open_flagged["cveId"].str.upper().nunique()
    assert k["kev_due_applies"] == int(open_flagged["dueSource"].eq("kev").sum())
    assert k["overdue"] == int(open_flagged["overdue"].sum())
    assert k["catalog"]["dataset_sha256"] == read_snapshot(root / "current").datasets[kev.DATASET].sha256
    assert k["catalog"]["source_sha256"] == hashlib.sha256(
        (Path(kev.__file__).parent / "sample" / "data" / "known_exploited.json").read_bytes()).hexdigest()
    assert len(result.model.tables.known_exploited) == len(open_flagged)


def test_pack_shows_flagged_findings_in_pdf_workbook_and_csv(sample_pack):
    import csv
    import openpyxl
    _, _, result = sample_pack
    k = result.model.findings.known_exploited
    text = re.sub(r"\s+", " ", _pdf_text(result.pack_dir / "evidence-pack.pdf"))
    assert "Known exploited vulnerabilities (CISA KEV)" in text and k.catalog_version in text
    first = result.model.tables.known_exploited["cveId"].iloc[0]
    assert first in text
    with open(result.pack_dir / "data" / "findings.csv", encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(line for line in fh if not line.startswith("#"))]
    flagged = [r for r in rows if r["Known exploited (CISA KEV)"] == "true"]
    assert len(flagged) == int(result.model.tables.findings["knownExploited"].eq(True).sum())
    assert all(r["KEV due date"] for r in flagged)
    assert any(r["Due date source"] == "kev" for r in flagged)
    wb = openpyxl.load_workbook(result.pack_dir / "evidence-pack.xlsx", read_only=True)
    readme = [tuple(c for c in row if c is not None) for row in wb["README"].iter_rows(values_only=True)]
    assert ("Open findings flagged", f"{k.open_flagged:,}") in readme


def test_no_catalogue_says_not_checked_everywhere(sample_pack, tmp_path):
    from reportgen.render.charts import write_charts
    from reportgen.render.pdf import write_pdf
    from reportgen.render.excel import write_workbook
    import openpyxl
    root, config, _ = sample_pack
    snap = _without_catalogue(read_snapshot(root / "current"))
    history = [_without_catalogue(read_snapshot(p)) for p in sorted((root / "history").iterdir())]
    model = build_model(snap, config, load_controls(config.controls_file), history)
    k = summary_dict(model)["known_exploited"]
    assert k["checked"] is False and "not checked" in k["statement"]
    assert k["open_flagged"] is None and k["distinct_cves"] is None and k["catalog"] is None   # never 0
    f = model.tables.findings
    assert f["knownExploited"].isna().all() and not f["dueSource"].eq("kev").any()
    assert model.tables.known_exploited.empty
    write_charts(model, tmp_path / "charts")
    write_pdf(model, tmp_path / "evidence-pack.pdf", charts_dir=tmp_path / "charts")
    text = re.sub(r"\s+", " ", _pdf_text(tmp_path / "evidence-pack.pdf"))
    assert "Known exploited vulnerabilities (CISA KEV)" in text and "Not checked." in text
    assert "were not checked" in text
    write_workbook(model, tmp_path / "evidence-pack.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "evidence-pack.xlsx", read_only=True)
    status = [row[1] for row in wb["README"].iter_rows(values_only=True) if row and row[0] == "Status"]
    assert status and "not checked" in status[0]


def test_owner_packs_keep_the_catalogue_whole(sample_pack):
    from reportgen.pack.split import filter_frames
    root, _, _ = sample_pack
    snap = read_snapshot(root / "current")
    one = {str(snap.frames["clusters"]["id"].iloc[0]).lower()}
    kept = filter_frames(snap.frames, one)
    assert len(kept["clusters"]) == 1
    assert kept[kev.DATASET].equals(snap.frames[kev.DATASET])


def test_collect_reads_the_configured_catalogue_first(tmp_path: Path):
    from datetime import date
    from reportgen.collect import live
    from reportgen.collect.sample import month_period, world
    from reportgen.config import KnownExploitedConfig
    w = world(3, 1, date(2026, 10, 20))
    start, end, at = month_period(w, 0)
    options = {"world": w, "month": 0, "label": {}}

    def run(source: str, out: str):
        config = RunConfig(known_exploited=KnownExploitedConfig(source=source))
        return live.collect(config, (start, end), tmp_path / out, source="sample", now=at, run_id="r", options=options)

    broken = tmp_path / "broken.json"
    broken.write_bytes(feed_bytes(count="many"))
    with pytest.raises(SourceError, match=r"broken\.json: key 'count' has the wrong type"):
        run(str(broken), "bad")
    assert not (tmp_path / "bad").exists()          # stopped before anything was collected or written
    good = tmp_path / "kev.json"
    good.write_bytes(feed_bytes())
    snap = read_snapshot(run(str(good), "good"))
    assert list(snap.frames[kev.DATASET]["cveID"]) == ["CVE-2023-44487", "CVE-2024-3094"]
    assert snap.meta["datasets"][kev.DATASET]["catalog"]["source"] == str(good)
    assert snap.meta["gaps"] == [] and kev.DATASET not in snap.meta["collection"]["skipped_datasets"]


def test_poam_bod_22_01_columns_follow_the_catalogue(sample_pack, tmp_path):
    """POA&M: BOD 22-01 tracking Yes with the catalogue's due date for a known-exploited weakness, No for
    the others; both empty when no catalogue was checked."""
    root, config, result = sample_pack
    f = result.model.tables.findings
    open_ = f[f["state"].isin(["Open", "Exempt"])]
    kev_cves = set(open_.loc[open_["knownExploited"].eq(True), "cveId"].str.upper())
    items = result.model.tables.poam
    yes = items[items["bod2201Tracking"].eq("Yes")]
    assert len(yes) and set(yes["cve"]) == kev_cves
    assert set(items["bod2201Tracking"]) == {"Yes", "No"}
    for row in yes.itertuples():
        due = open_.loc[open_["cveId"].str.upper().eq(row.cve), "kevDueDate"].min()
        assert row.bod2201DueDate == due.tz_convert(None).normalize()
    assert items.loc[items["bod2201Tracking"].eq("No"), "bod2201DueDate"].isna().all()
    snap = _without_catalogue(read_snapshot(root / "current"))
    history = [_without_catalogue(read_snapshot(p)) for p in sorted((root / "history").iterdir())]
    unchecked = build_model(snap, config, load_controls(config.controls_file), history).tables.poam
    assert unchecked["bod2201Tracking"].eq("").all() and unchecked["bod2201DueDate"].isna().all()
