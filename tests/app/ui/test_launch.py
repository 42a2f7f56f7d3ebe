"""The window opens even when `telerad serve` already receives for the same profile; a
signal ends the application as quitting does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtWidgets import QDialog

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



# Run in a process of its own: quitting sets Qt's thread-wide "quit now" flag, which would
# end every later test's event loop at once.
SIGNALLED_WINDOW = """
import json, os, signal, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog
from app.signals import stop_on_signal
from app.ui.launch import quit_when_set

app = QApplication(sys.argv)
quit_when_set(app, stop_on_signal())
asked = {}
def ask():  # a question open over the main window when the signal comes
    asked["result"] = QDialog().exec()
QTimer.singleShot(0, ask)
QTimer.singleShot(100, lambda: os.kill(os.getpid(), signal.SIGTERM))
QTimer.singleShot(10_000, lambda: app.exit(3))  # the signal was ignored: end another way
code = app.exec()
print(json.dumps({"exec": code, "question": asked.get("result")}))
"""


def test_a_signal_rejects_the_open_question_and_quits_the_main_loop() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", SIGNALLED_WINDOW], capture_output=True,
                            text=True, env=env, timeout=120, check=False,
                            cwd=Path(__file__).resolve().parents[3])
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"exec": 0, "question": QDialog.DialogCode.Rejected.value}
