"""`telerad outbox` and `telerad macros` as IT and reporters type them."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from app.config import Peer
from app.workstation import Workstation
from reporting.model import PartKind
from tests.report_desk import later, open_desk


def _profile(workstation: Workstation) -> list[str]:
    return ["--profile", str(workstation.paths.root)]


def _signed_with_unreachable_pacs(workstation: Workstation) -> str:
    """A signed report queued for a PACS that is not listening (port 9 on loopback)."""
    workstation.save_settings(workstation.settings.with_peers(
        (Peer("TRUSTPACS", "127.0.0.1", 9, "pacs"),)))
    desk = open_desk(workstation)
    draft = desk.desk.open_draft(desk.study_uid, PartKind.REPORT, now=later(1))
    draft = draft.edited(sections=dict(draft.sections, findings="Clear.", impression="Normal."))
    desk.desk.sign(draft, desk.code(later(2)), now=later(2))
    return desk.study_uid


def test_outbox_lists_what_waits_and_why(workstation: Workstation,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    study_uid = _signed_with_unreachable_pacs(workstation)
    assert main([*_profile(workstation), "outbox", "send"]) == 1  # still pending
    capsys.readouterr()
    assert main([*_profile(workstation), "outbox", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["study_uid"], e["destination"]) for e in entries] == [
        (study_uid, "pacs:TRUSTPACS")]
    assert entries[0]["shown_status"].startswith("retrying (attempt 1)")
    assert main([*_profile(workstation), "outbox"]) == 0
    assert "1 pending, 0 failed" in capsys.readouterr().out


def test_only_a_refused_entry_is_retried_by_hand(
        workstation: Workstation, capsys: pytest.CaptureFixture[str]) -> None:
    _signed_with_unreachable_pacs(workstation)
    assert main([*_profile(workstation), "outbox", "retry", "1"]) == 1
    assert "only a refused entry" in capsys.readouterr().err
    assert main([*_profile(workstation), "outbox", "retry", "99"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_reporter_macros_can_be_set_listed_and_removed(
        workstation: Workstation, capsys: pytest.CaptureFixture[str]) -> None:
    profile = _profile(workstation)
    assert main([*profile, "macros", "set", "alice", ".pe", "No pulmonary embolus."]) == 0
    assert main([*profile, "macros", "list", "alice"]) == 0
    listed = capsys.readouterr().out
    assert ".pe" in listed and "No pulmonary embolus." in listed and ".nad" in listed
    assert main([*profile, "macros", "set", "alice", "pe", "x"]) == 1
    assert "must be a dot" in capsys.readouterr().err
    assert main([*profile, "macros", "remove", "alice", ".pe"]) == 0
    assert main([*profile, "macros", "remove", "alice", ".pe"]) == 1
