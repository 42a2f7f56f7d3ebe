"""The window opens even when `telerad serve` already receives for the same profile."""

from __future__ import annotations

from pathlib import Path

from app.ui.launch import _start_node
from app.workstation import open_workstation
from tests.helpers import free_port


def test_gui_beside_a_running_serve_shows_why_it_does_not_receive(tmp_path: Path) -> None:
    serving = open_workstation(tmp_path / "profile")
    serving.save_settings(serving.settings.with_value("node.port", free_port()))
    node, text = _start_node(serving)
    assert node is not None and text == ""
    try:
        gui = open_workstation(tmp_path / "profile")
        second, why = _start_node(gui)
        assert second is None
        assert "already receiving into this profile" in why
        assert gui.store.list_studies() == []  # the worklist still reads the store
        gui.close()
    finally:
        node.stop()
        serving.close()
