"""Known exploited vulnerabilities (issue 11 item 5): the CISA KEV feed, its config and its snapshot entry."""

from __future__ import annotations

import hashlib
import json
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
    assert not unchecked["knownExploited"].any() and list(unchecked["dueSource"]) == ["sla", "governance", "sla"]
