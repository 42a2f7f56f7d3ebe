"""The demo's simulated trust takes a signed report: SR stored, ORU acknowledged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.delivery import DeliveryWorker
from app.demo_trust import DemoTrust
from app.workstation import Workstation
from reporting.model import PartKind
from reporting.outbox import DeliveryStatus
from tests.helpers import eventually
from tests.report_desk import later, open_desk


@pytest.fixture
def trust() -> Iterator[DemoTrust]:
    started = DemoTrust().start()
    yield started
    started.stop()


def test_demo_report_is_stored_and_acknowledged(workstation: Workstation,
                                                trust: DemoTrust) -> None:
    workstation.save_settings(trust.configure(workstation.settings))
    desk = open_desk(workstation)
    draft = desk.desk.open_draft(desk.study_uid, PartKind.REPORT, now=later(1))
    draft = draft.edited(sections=dict(draft.sections, findings="Clear lungs.",
                                       impression="Normal study."))
    report = desk.desk.sign(draft, desk.code(later(2)), now=later(2))
    worker = DeliveryWorker(workstation)
    eventually(lambda: worker.deliver_due() is not None and not desk.desk.outbox.pending(),
               within=20, what="delivery to the demo trust")
    assert trust.stored_reports == [report.original.sr_sop_instance_uid]
    assert len(trust.ris_messages) == 1 and "Clear lungs." in trust.ris_messages[0]
    assert {e.status for e in desk.desk.outbox.entries()} == {DeliveryStatus.ACKNOWLEDGED}
