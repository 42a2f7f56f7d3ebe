"""Each study belongs to the reporter whose AE title the PACS sent it to (one AE per reporter)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.assignment import POLICY_FILE
from app.config import Peer
from app.errors import ConfigError
from app.node import StorageNode
from app.synthetic import write_study
from app.workstation import Workstation
from tests.conftest import RunningNode
from tests.helpers import run_dcmtk, small_plan


def test_study_sent_to_a_reporters_ae_title_is_assigned_to_that_reporter(
    running_node: RunningNode, tmp_path: Path
) -> None:
    workstation = running_node.workstation
    settings = workstation.settings.with_value("assignment.by_called_ae",
                                               {"RAD_PATEL": "dr.patel"})
    workstation.save_settings(settings.with_value("assignment.default_reporter", "duty"))
    running_node.node.settings = workstation.settings
    to_patel = write_study(small_plan("CT_HEAD", 3), tmp_path / "patel")
    to_node = write_study(small_plan("MR_BRAIN", 2), tmp_path / "default")

    sent = run_dcmtk("storescu", "-aet", "STORESCU", "-aec", "RAD_PATEL", running_node.host,
                     str(running_node.port), *to_patel)
    assert sent.returncode == 0, sent.stderr
    sent = run_dcmtk("storescu", "-aet", "STORESCU", "-aec", running_node.ae_title,
                     running_node.host, str(running_node.port), *to_node)
    assert sent.returncode == 0, sent.stderr

    by_description = {s.description: s for s in workstation.store.list_studies()}
    assert len(by_description) == 2
    assert {s.assigned_reporter for s in by_description.values()} == {"dr.patel", "duty"}
    patel = next(s for s in by_description.values() if s.modalities == ("CT",))
    assert patel.assigned_reporter == "dr.patel"
    assert [s.study_uid for s in workstation.store.list_studies(reporter="dr.patel")] == [
        patel.study_uid]


def test_called_ae_title_of_nobody_is_rejected(running_node: RunningNode, tmp_path: Path) -> None:
    files = write_study(small_plan("CR_CHEST", 1), tmp_path / "cr")
    sent = run_dcmtk("storescu", "-aet", "STORESCU", "-aec", "RAD_NOBODY", running_node.host,
                     str(running_node.port), *files)
    assert sent.returncode != 0
    assert "Called AE Title Not Recognized" in sent.stderr + sent.stdout
    assert running_node.workstation.store.list_studies() == []


POLICY = """
[[assignment.rules]]
specialty = "NEURO"
modalities = ["CT", "MR"]
body_parts = ["HEAD", "BRAIN"]

[[assignment.rules]]
specialty = "CHEST"
body_parts = ["CHEST"]

[assignment.specialists]
NEURO = ["dr.neuro"]
CHEST = ["dr.chest"]
"""


def test_specialty_rules_of_the_policy_file_assign_by_modality_and_body_part(
    workstation: Workstation, tmp_path: Path
) -> None:
    settings = workstation.settings.with_peers((Peer("STORESCU", "127.0.0.1"),))
    workstation.save_settings(settings.with_value("assignment.default_reporter", "duty"))
    (workstation.paths.root / POLICY_FILE).write_text(POLICY, encoding="utf-8")
    node = StorageNode(workstation.store, workstation.audit, workstation.settings,
                       settings_file=workstation.paths.settings)
    host, port = node.start(host="127.0.0.1", port=0)
    try:
        for kind in ("CT_HEAD", "CR_CHEST", "MR_BRAIN"):
            files = write_study(small_plan(kind, 2), tmp_path / kind)
            sent = run_dcmtk("storescu", "-aet", "STORESCU", "-aec", node.ae_title, host,
                             str(port), *files)
            assert sent.returncode == 0, sent.stderr
    finally:
        node.stop()
    by_modality = {s.modalities: s.assigned_reporter for s in workstation.store.list_studies()}
    assert by_modality == {("CT",): "dr.neuro", ("MR",): "dr.neuro", ("CR",): "dr.chest"}


def test_broken_policy_file_stops_the_node_with_a_clear_error(workstation: Workstation) -> None:
    (workstation.paths.root / POLICY_FILE).write_text(
        "[[assignment.rules]]\nmodalities = ['CT']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"assignment.rules\[0\] needs a specialty code"):
        StorageNode(workstation.store, workstation.audit, workstation.settings,
                    settings_file=workstation.paths.settings)
