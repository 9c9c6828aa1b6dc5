"""A dry run: every export read and checked, a report written, nothing sent anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import exports

from tollgate.importer.cli import main

NOWHERE = "http://127.0.0.1:9"  # nothing listens: a dry run must not need the services


def test_a_dry_run_reports_what_would_go_and_every_bad_row(tmp_path: Path) -> None:
    built = [exports.user_management(tmp_path, usage_rows=40), exports.translation(tmp_path)]
    report = tmp_path / "report.json"

    status = main(
        [*(str(b.mapping) for b in built), "--dry-run", "--report", str(report),
         "--billing-url", NOWHERE]
    )  # fmt: skip

    body = json.loads(report.read_text())
    assert status == 1  # rows were refused
    assert body["dry_run"] is True
    assert body["counts"]["usage"]["imported"] == 40 + built[1].facts["jobs"]
    assert body["counts"]["organizations"]["imported"] == 2
    refused = {f"{r['source']}/{r['collection']}/{r['source_id']}" for r in body["refused"]}
    assert refused == {**built[0].bad, **built[1].bad}.keys()


def test_a_mapping_that_cannot_be_read_stops_the_run_before_anything(tmp_path: Path) -> None:
    mapping = tmp_path / "broken.yaml"
    mapping.write_text("source: x\nshape: nosuch\nformat: csv\n")

    assert main([str(mapping), "--dry-run", "--report", str(tmp_path / "r.json")]) == 2
    assert not (tmp_path / "r.json").exists()
