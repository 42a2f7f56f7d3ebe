"""Through the GUI too, a reporter cannot open a study assigned to someone else."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QMessageBox

from app.access import StudyAccess
from app.audit import EventId
from app.synthetic import iter_instances
from app.ui.launch import ComparisonOpener
from app.ui.main_window import MainWindow
from tests.helpers import encode, small_plan


def test_opening_another_reporters_study_is_refused_and_audited(qtbot, workstation,
                                                                 monkeypatch) -> None:
    theirs = small_plan("CR_CHEST", 1)
    dataset = next(iter_instances(theirs))
    workstation.store.put(encode(dataset), dataset, reporter="dr.b")
    access = StudyAccess(workstation.store, workstation.audit, "dr.a", "reporter")
    main = MainWindow(access)
    qtbot.addWidget(main)
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning",
                        lambda _parent, _title, text, *a, **k: warnings.append(text))

    opened = ComparisonOpener(workstation, access, main).open(theirs.study_uid)

    assert opened is None
    assert "may not" in warnings[0]
    alerts = [json.loads(e["objects"]) for e in workstation.audit.events()
              if e["event_id"] == EventId.SECURITY_ALERT]
    assert alerts == [[["study", theirs.study_uid]]]
    assert not any(e["event_id"] == EventId.INSTANCES_ACCESSED
                   for e in workstation.audit.events())
