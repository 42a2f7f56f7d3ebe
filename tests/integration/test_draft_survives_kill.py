"""kill -9 the app while a report is being written: the draft is there on restart."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from app.delivery import outbox_of
from app.workstation import open_workstation
from reporting.model import PartKind
from reporting.records import ReportBook
from tests.helpers import eventually
from tests.integration.test_cli import PASSPHRASE, environment
from tests.report_desk import REPORTER, open_desk

TEXT = "Small left pleural effusion, new since the prior."


def _draft_text(root: Path, study_uid: str) -> str:
    """What a restarted app finds: the profile opened afresh, the draft read back."""
    workstation = open_workstation(root)
    try:
        book = ReportBook(workstation.database, workstation.store, outbox_of(workstation))
        draft = book.load_draft(study_uid, REPORTER, PartKind.REPORT)
        return draft.sections["findings"] if draft else ""
    finally:
        workstation.close()


def test_draft_survives_kill_9(tmp_path: Path, passphrase_profile: Path) -> None:
    root = passphrase_profile
    workstation = open_workstation(root)
    try:
        study_uid = open_desk(workstation).study_uid
    finally:
        workstation.close()
    env = {**environment(tmp_path), "TELERAD_PASSPHRASE": PASSPHRASE,
           "QT_QPA_PLATFORM": "offscreen"}
    writer = subprocess.Popen([sys.executable, "-m", "tests.draft_writer", str(root),
                               study_uid, TEXT], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: TEXT in _draft_text(root, study_uid), within=30,
                   what="the autosave to write the typed text")
        assert writer.poll() is None, writer.stderr.read() if writer.stderr else ""
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate()
    assert writer.returncode == -signal.SIGKILL
    draft_text = _draft_text(root, study_uid)
    assert TEXT in draft_text
    assert "Lungs and airways:" in draft_text  # the template text around it survives too
