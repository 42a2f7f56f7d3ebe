"""The QA status light, the display checks that need no meter, and the QA policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qa.displays import ScreenInfo, check_screen, display_changes
from qa.policy import PolicyError, QaPolicy, load_qa_policy
from qa.schedule import Light, QaRecord, qa_status

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
POLICY = load_qa_policy()
DIAGNOSTIC = ScreenInfo("DP-1", 2048, 1536, 433.2, 324.9, 10, 60.0, 1.0, "EIZO", "RX350",
                        "123")


def _run(days_ago: float, *, passed: bool = True, visual: bool = True,
         visual_days_ago: float | None = None) -> QaRecord:
    seen = NOW - timedelta(days=days_ago if visual_days_ago is None else visual_days_ago)
    return QaRecord(NOW - timedelta(days=days_ago), passed, seen if visual else None,
                    () if passed else ("GSDF error 14 % at 15→30",))


def test_never_run_is_red_and_not_for_diagnosis() -> None:
    status = qa_status(None, POLICY, NOW)
    assert status.light is Light.RED
    assert status.warning == "NOT FOR DIAGNOSTIC USE — display QA never run"


@pytest.mark.parametrize(("days_ago", "light"), [
    (1, Light.GREEN), (6.9, Light.GREEN), (7.0, Light.AMBER), (7.9, Light.AMBER),
    (8.0, Light.RED), (30, Light.RED)])
def test_weekly_interval_then_one_day_of_grace(days_ago: float, light: Light) -> None:
    assert qa_status(_run(days_ago), POLICY, NOW).light is light


def test_failed_run_is_red_with_its_reason() -> None:
    status = qa_status(_run(1, passed=False), POLICY, NOW)
    assert status.light is Light.RED and "GSDF error 14 %" in status.warning


def test_visual_part_still_to_do_is_amber() -> None:
    assert qa_status(_run(1, visual=False), POLICY, NOW).light is Light.AMBER


def test_a_visual_test_never_done_turns_red_like_an_overdue_run() -> None:
    status = qa_status(_run(8, visual=False), POLICY, NOW)
    assert status.light is Light.RED and status.reason.endswith("(visual test)")


def test_fresh_automated_runs_do_not_hide_a_stale_visual_test() -> None:
    stale = qa_status(_run(1, visual_days_ago=9), POLICY, NOW)
    assert stale.light is Light.RED and "(visual test)" in stale.reason


def test_a_3_mp_screen_passes_for_ct_and_fails_for_mammography() -> None:
    ct = {c.name: c.status for c in check_screen(DIAGNOSTIC, POLICY, ("CT", "MR"))}
    assert ct == {"matrix": "pass", "pixel pitch": "pass", "colour depth": "pass",
                  "refresh rate": "pass", "OS scaling": "pass"}
    mammo = {c.name: c.status for c in check_screen(DIAGNOSTIC, POLICY, ("MG",))}
    assert mammo["matrix"] == "fail"  # 3.1 MP < 4.2 MP
    assert mammo["pixel pitch"] == "fail"  # 0.212 mm > 0.2 mm


def test_what_the_os_does_not_report_is_unknown_never_pass() -> None:
    laptop = ScreenInfo("eDP-1", 1920, 1080, None, None, None, None, 1.5)
    checks = {c.name: c.status for c in check_screen(laptop, POLICY, ("CT",))}
    assert checks == {"matrix": "fail", "pixel pitch": "unknown", "colour depth": "unknown",
                      "refresh rate": "unknown", "OS scaling": "fail"}


def test_a_changed_or_swapped_display_is_noticed() -> None:
    rescaled = ScreenInfo("DP-1", 2048, 1536, 433.2, 324.9, 10, 60.0, 1.25, "EIZO", "RX350",
                          "123")
    other = ScreenInfo("DP-2", 1920, 1200, None, None, 8, 60.0, 1.0, "Dell", "U2415", "9")
    assert display_changes([DIAGNOSTIC], [DIAGNOSTIC]) == []
    assert display_changes([rescaled, other], [DIAGNOSTIC]) == [
        "EIZO RX350 123: 2048×1536@1 → 2048×1536@1.25", "new display: Dell U2415 9"]


def test_profile_policy_overrides_the_defaults_and_names_mistakes(tmp_path: Path) -> None:
    expected = QaPolicy(7, 1, True, "primary", 350.0, 8, 30.0, ["CT", "MR", "CR", "DX"],
                        POLICY.min_megapixels, {"MG": 0.2})
    assert expected == POLICY
    assert POLICY.min_megapixels["CT"] == 3.0
    profile = tmp_path / "policy.toml"
    profile.write_text("[qa]\ninterval_days = 3\nallow_override = false\n", encoding="utf-8")
    strict = load_qa_policy(profile)
    assert (strict.interval_days, strict.allow_override) == (3, False)
    profile.write_text("[qa]\ninterval_days = 'weekly'\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"qa\.interval_days must be int"):
        load_qa_policy(profile)
