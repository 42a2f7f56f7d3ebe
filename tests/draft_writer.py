"""A reporter typing a report in the real editor, as its own process (for the kill test).

Usage: python -m tests.draft_writer PROFILE STUDY_UID TEXT — opens the editor on the study
as "alice", types TEXT into Findings and keeps running until it is killed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.access import StudyAccess
from app.reports import ReportDesk
from app.workstation import open_workstation
from reporting.ui.editor import ReportEditor


def main(profile: str, study_uid: str, text: str) -> int:
    app = QApplication(sys.argv)
    workstation = open_workstation(Path(profile))
    access = StudyAccess(workstation.store, workstation.audit, "alice", "reporter")
    editor = ReportEditor(ReportDesk(workstation, access, lambda *_: None))
    editor.show()
    editor.open_study(study_uid, "kill test")

    def type_when_loaded() -> None:
        if editor.current_draft() is None:
            return
        timer.stop()
        findings = editor.sections["findings"]
        findings.setPlainText(findings.toPlainText() + "\n" + text)
        print("typed", flush=True)
    timer = QTimer(interval=50)
    timer.timeout.connect(type_when_loaded)
    timer.start()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
