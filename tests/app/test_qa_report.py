"""The compliance log as a PDF for IT: `telerad compliance export --format pdf`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.cli import main
from app.display_qa import DisplayQa
from app.qa_report import (
    compliance_pdf,
    criteria_rows,
    latest_measured_run,
    summary,
    verification_line,
)
from app.workstation import Workstation
from qa.compliance import EntryKind, public_key_pem
from qa.displays import ScreenInfo
from qa.luminance import SimulatedDisplay, measure

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SCREEN = ScreenInfo("DP-1", 2048, 1536, 433.2, 324.9, 10, 60.0, 1.0, "EIZO", "RX350", "1")
SEEN = {"passed": True, "rounds": 3, "found": 3, "detail": "all targets found"}
CALIBRATED = SimulatedDisplay(1.0, 420.0, 0.2, seed=1)
GAMMA = SimulatedDisplay(1.0, 420.0, 0.2, response="gamma", gamma=2.2)


def _record_runs(workstation: Workstation) -> DisplayQa:
    """A passed week, then a failed gamma display, then a run without a meter."""
    qa = DisplayQa(workstation)
    qa.run([SCREEN], measure(CALIBRATED), now=NOW, actor="alice", visual=SEEN)
    qa.run([SCREEN], measure(GAMMA), now=NOW + timedelta(days=7), actor="alice", visual=SEEN)
    qa.run([SCREEN], None, now=NOW + timedelta(days=8), actor="alice", visual=SEEN)
    return qa


def test_it_exports_the_log_as_a_pdf_with_the_gsdf_plot(
        workstation: Workstation, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _record_runs(workstation)
    out = tmp_path / "compliance.pdf"
    assert main(["--profile", str(workstation.paths.root), "compliance", "export",
                 "--format", "pdf", "--out", str(out)]) == 0
    assert "exported as pdf" in capsys.readouterr().out
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert b"/Subtype /Image" in data and b"/XObject" in data  # the GSDF plot


def test_pdf_export_needs_an_output_file(workstation: Workstation,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--profile", str(workstation.paths.root), "compliance", "export",
                 "--format", "pdf"]) == 1
    assert "--format pdf needs --out" in capsys.readouterr().err


def test_the_plot_is_of_the_newest_run_with_meter_readings(workstation: Workstation) -> None:
    qa = _record_runs(workstation)
    entries = qa.log.entries()
    latest = latest_measured_run(entries)
    assert latest is not None
    entry, evaluation = latest
    assert entry.recorded_at.startswith("2026-12-04")  # the gamma run, not the meterless one
    assert not evaluation.passed and evaluation.failed_steps
    recorded = {c["name"]: c["status"] for c in entry.payload["luminance"]["criteria"]}
    assert {c.name: str(c.status) for c in evaluation.criteria}.items() <= recorded.items()
    rows = criteria_rows(entry.payload, evaluation)
    assert [row[0] for row in rows] == list(recorded)
    contrast = next(row for row in rows if row[0] == "GSDF contrast response")
    assert contrast[3] == "fail" and "deviate from the GSDF" in contrast[4]


def test_the_report_lists_every_entry_and_says_why_a_run_failed(
        workstation: Workstation, qapp, tmp_path: Path) -> None:
    qa = _record_runs(workstation)
    entries = qa.log.entries()
    key = public_key_pem(qa.log.public_key)
    assert verification_line(entries, key) == f"compliance log intact: {len(entries)} entries"
    failed_run = next(e for e in entries if e.kind == EntryKind.QA_RUN
                      and not e.payload["passed"])
    assert "GSDF contrast response" in summary(failed_run)
    out = compliance_pdf(entries, key, tmp_path / "report.pdf", title="Device log",
                         verification="checked against the registered key: intact")
    assert out.read_bytes().startswith(b"%PDF")


def test_a_log_without_meter_readings_has_no_plot(workstation: Workstation, qapp,
                                                  tmp_path: Path) -> None:
    qa = DisplayQa(workstation)
    qa.run([SCREEN], None, now=NOW, actor="alice", visual=SEEN)
    entries = qa.log.entries()
    assert latest_measured_run(entries) is None
    out = compliance_pdf(entries, public_key_pem(qa.log.public_key), tmp_path / "plain.pdf",
                         title="Device log")
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and b"/Subtype /Image" not in data
