"""`telerad qa` and `telerad compliance` as IT and the scheduler run them."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from app.workstation import Workstation

CSV = "ddl,luminance\n" + "".join(
    f"{ddl},{value}\n" for ddl, value in zip(range(0, 256, 15), (
        1.0, 1.6, 2.4, 3.5, 5.0, 7.0, 9.6, 13.0, 17.5, 23.3, 30.8, 40.5, 52.9, 68.9,
        89.3, 115.4, 148.6, 190.6), strict=True)) + "ambient,0.2\n"


def _profile(workstation: Workstation) -> list[str]:
    return ["--profile", str(workstation.paths.root)]


def test_headless_qa_run_without_a_display_fails_and_is_logged(
        workstation: Workstation, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main([*_profile(workstation), "qa", "run"]) == 1
    assert "no display connected" in capsys.readouterr().out
    assert main([*_profile(workstation), "qa", "status"]) == 1
    assert capsys.readouterr().out.startswith("red: failed")
    assert main([*_profile(workstation), "compliance", "verify"]) == 0
    assert "intact: 1 entries" in capsys.readouterr().out


def test_meter_readings_from_csv_are_evaluated(workstation: Workstation, tmp_path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    readings = tmp_path / "meter.csv"
    readings.write_text(CSV, encoding="utf-8")
    main([*_profile(workstation), "qa", "run", "--readings", str(readings), "--json"])
    recorded = json.loads(capsys.readouterr().out.split("\ndisplay QA")[0])
    assert recorded["luminance"]["measured"] and recorded["luminance"]["ambient"] == 0.2
    bad = tmp_path / "bad.csv"
    bad.write_text("ddl,luminance\n0,abc\n", encoding="utf-8")
    assert main([*_profile(workstation), "qa", "run", "--readings", str(bad)]) == 1
    assert "line 2" in capsys.readouterr().err


def test_simulated_meter_is_for_demo_profiles_only(workstation: Workstation,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*_profile(workstation), "qa", "run", "--simulated"]) == 1
    assert "demo profiles only" in capsys.readouterr().err


def test_compliance_export_as_csv(workstation: Workstation, tmp_path,
                                  capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    main([*_profile(workstation), "qa", "run"])
    out = tmp_path / "log.csv"
    assert main([*_profile(workstation), "compliance", "export", "--format", "csv",
                 "--out", str(out)]) == 0
    assert "qa-run" in out.read_text(encoding="utf-8")
