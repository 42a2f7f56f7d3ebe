"""Reading Alice's chest CT beside her prior: right scan, right patient, on the right side.

The window is opened as the worklist opens it (app.viewing.open_study) over a real
encrypted store; alerts and the reason prompt are answered by the test instead of a person.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import numpy as np
import pyqtgraph as pg
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QTextDocumentFragment
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox

from app.access import StudyAccess
from app.audit import EventId, Outcome
from app.synthetic import iter_instances
from app.viewing import StoreStudyReader, open_study
from app.workstation import Workstation
from tests.helpers import small_plan
from tests.reading_room import (
    CURRENT_SLICES,
    PRIOR_SLICES,
    ReadingRoom,
    fill_reading_room,
    store_dataset,
)
from tests.study_windows import close_windows
from viewer.ui.comparison_window import ComparisonWindow, Pane
from viewer.ui.viewport import Viewport

REASON = "Name corrected after marriage, same NHS number"
BONE, LUNG, STORED = "W 1800 / L 400", "W 1500 / L -600", "W 350 / L 50"

OpenWindow = Callable[..., ComparisonWindow]


@pytest.fixture
def room(workstation: Workstation) -> ReadingRoom:
    return fill_reading_room(workstation.store)


@pytest.fixture
def open_window(qtbot, workstation: Workstation, room: ReadingRoom) -> Iterator[OpenWindow]:
    """Open a study from the worklist in the comparison window; volumes closed afterwards."""
    opened: list[ComparisonWindow] = []

    def open_(study_uid: str = room.alice_current.study_uid, *,
              current_side: str = "left") -> ComparisonWindow:
        access = StudyAccess(workstation.store, workstation.audit, "demo", "reporter")
        study = open_study(access, study_uid, current_side=current_side)
        window = ComparisonWindow(study.layout, StoreStudyReader(access), study.priors,
                                  study.others)
        qtbot.addWidget(window)
        window.resize(1400, 800)
        window.show()
        qtbot.waitExposed(window)
        opened.append(window)
        return window

    yield open_
    close_windows(opened)


@pytest.fixture
def alerts(monkeypatch) -> list[tuple[str, str]]:
    """Critical message boxes shown (title, text), recorded instead of waiting for a click."""
    shown: list[tuple[str, str]] = []

    def critical(parent, title, text, *args, **kwargs):
        shown.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "critical", critical)
    return shown


class ReasonPrompt:
    """Answers the "why is this the same patient?" question with queued replies."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, bool]] = []
        self.questions: list[str] = []

    def get_text(self, parent, title, label, *args, **kwargs) -> tuple[str, bool]:
        self.questions.append(label)
        return self.answers.pop(0)


@pytest.fixture
def reason_prompt(monkeypatch) -> ReasonPrompt:
    prompt = ReasonPrompt()
    monkeypatch.setattr(QInputDialog, "getText", prompt.get_text)
    return prompt


# ---- what the reader sees ------------------------------------------------------------------


def banner(pane: Pane) -> str:
    return QTextDocumentFragment.fromHtml(pane.banner.text()).toPlainText()


def study_shown(pane: Pane) -> str | None:
    if pane.viewport is None:
        return None
    info = pane.viewport.volume.info(pane.viewport.state.index)
    return str(info.header.StudyInstanceUID)


def choose_prior(window: ComparisonWindow, study_uid: str) -> None:
    """Pick a study in the "Prior:" list, as a click on its row does."""
    chooser = window.prior_choice
    rows = [row for row in range(chooser.count())
            if getattr(chooser.itemData(row), "study_uid", None) == study_uid]
    assert rows, f"study {study_uid} is not offered as a prior"
    chooser.setCurrentIndex(rows[0])
    chooser.activated.emit(rows[0])


def location(viewport: Viewport) -> float:
    return viewport.volume.locations[viewport.state.index]


def overlay(viewport: Viewport) -> str:
    return viewport.overlay.text()


def security_alerts(workstation: Workstation) -> list[dict]:
    return [e for e in workstation.audit.events() if e["event_id"] == EventId.SECURITY_ALERT]


def studies_named(event: dict) -> list[str]:
    return [uid for kind, uid in json.loads(event["objects"]) if kind == "study"]


def iso(study_date: str) -> str:
    return f"{study_date[:4]}-{study_date[4:6]}-{study_date[6:]}"


# ---- layout --------------------------------------------------------------------------------


def test_current_study_is_in_the_left_pane_under_a_current_banner(open_window, room) -> None:
    window = open_window()

    left, right = window.panes["left"], window.panes["right"]
    assert banner(left).startswith("CURRENT")
    assert "TESTPATIENT, Alice" in banner(left)
    assert "ID RX1000001" in banner(left)
    assert study_shown(left) == room.alice_current.study_uid
    assert not banner(right).startswith("CURRENT")


def test_most_relevant_prior_of_the_same_patient_is_shown_on_opening(open_window, room,
                                                                      workstation) -> None:
    window = open_window()
    right = window.panes["right"]
    assert study_shown(right) == room.alice_prior.study_uid
    assert banner(right).startswith(f"PRIOR {iso(room.alice_prior.study_date)}")
    assert window.prior_choice.currentData().study_uid == room.alice_prior.study_uid
    assert security_alerts(workstation) == []


def test_no_prior_is_shown_when_the_patient_has_none(open_window, room) -> None:
    window = open_window(room.bob.study_uid)
    assert window.panes["right"].viewport is None
    assert "no prior of this patient" in banner(window.panes["right"])


def test_site_policy_can_put_the_current_study_on_the_right(open_window, room) -> None:
    window = open_window(current_side="right")

    assert banner(window.panes["right"]).startswith("CURRENT")
    assert study_shown(window.panes["right"]) == room.alice_current.study_uid

    choose_prior(window, room.alice_prior.study_uid)

    assert banner(window.panes["left"]).startswith("PRIOR ")
    assert study_shown(window.panes["left"]) == room.alice_prior.study_uid
    assert study_shown(window.panes["right"]) == room.alice_current.study_uid


def test_alices_prior_is_shown_opposite_the_current_with_its_date(open_window, room) -> None:
    window = open_window()

    choose_prior(window, room.alice_prior.study_uid)

    prior = window.panes["right"]
    assert banner(prior).startswith(f"PRIOR {iso(room.alice_prior.study_date)}")
    assert "TESTPATIENT, Alice" in banner(prior)
    assert study_shown(prior) == room.alice_prior.study_uid
    assert study_shown(window.panes["left"]) == room.alice_current.study_uid
    assert window.comparison.prior.study_uid == room.alice_prior.study_uid


# ---- identity check ------------------------------------------------------------------------


def test_prior_of_another_patient_is_refused_and_audited(open_window, room, alerts,
                                                         workstation) -> None:
    window = open_window()

    choose_prior(window, room.bob.study_uid)

    prior = window.panes["right"]
    assert prior.viewport is None
    assert "REFUSED" in banner(prior)
    assert "TESTPATIENT, Bob" not in banner(prior)
    assert "different patient" in prior.placeholder.text()
    ((title, text),) = alerts
    assert title == "Prior refused"
    assert text.startswith("Prior belongs to a different patient")
    (alert,) = security_alerts(workstation)
    assert studies_named(alert) == [room.alice_current.study_uid, room.bob.study_uid]
    assert alert["outcome"] == Outcome.SERIOUS_FAILURE
    assert "Bob" not in alert["detail"]  # the trail names studies, never patients
    assert window.prior_choice.currentData() is None


def test_refusal_leaves_no_earlier_prior_placed_behind_the_empty_pane(open_window, room,
                                                                      alerts) -> None:
    window = open_window()
    choose_prior(window, room.alice_prior.study_uid)

    choose_prior(window, room.bob.study_uid)

    assert window.panes["right"].viewport is None
    assert window.prior_choice.currentData() is None
    # the layout decides what the prior pane shows; it must agree with the empty pane
    assert window.comparison.prior is None


def test_partial_mismatch_is_shown_only_with_a_reason_which_is_audited(
        open_window, room, reason_prompt, workstation) -> None:
    window = open_window()
    prior = window.panes["right"]

    reason_prompt.answers.append(("", False))
    choose_prior(window, room.alicia_uid)

    assert study_shown(prior) == room.alice_prior.study_uid  # the one shown on opening
    assert security_alerts(workstation) == []
    assert "name" in reason_prompt.questions[0]
    assert window.comparison.prior.study_uid == room.alice_prior.study_uid

    reason_prompt.answers.append((REASON, True))
    choose_prior(window, room.alicia_uid)

    assert study_shown(prior) == room.alicia_uid
    assert banner(prior).startswith(f"PRIOR {iso(room.alice_prior.study_date)}")
    assert "TESTPATIENT, Alicia" in banner(prior)
    (alert,) = security_alerts(workstation)
    assert studies_named(alert) == [room.alice_current.study_uid, room.alicia_uid]
    assert alert["outcome"] == Outcome.MINOR_FAILURE
    assert REASON in alert["detail"]


def test_cancelled_reason_does_not_leave_the_mismatched_study_selected(
        open_window, room, reason_prompt) -> None:
    window = open_window()

    window.prior_choice.setCurrentIndex(0)  # "No prior"
    window.prior_choice.activated.emit(0)
    reason_prompt.answers.append(("", False))
    choose_prior(window, room.alicia_uid)

    assert window.panes["right"].viewport is None
    assert window.prior_choice.currentData() is None


def test_cancelled_reason_keeps_the_prior_already_shown(open_window, room,
                                                        reason_prompt) -> None:
    window = open_window()
    choose_prior(window, room.alice_prior.study_uid)

    reason_prompt.answers.append(("", False))
    choose_prior(window, room.alicia_uid)

    assert study_shown(window.panes["right"]) == room.alice_prior.study_uid
    assert window.prior_choice.currentData().study_uid == room.alice_prior.study_uid
    assert window.comparison.prior.study_uid == room.alice_prior.study_uid


# ---- linked scrolling ----------------------------------------------------------------------


def test_linked_scrolling_keeps_the_prior_at_the_same_anatomy(qtbot, open_window,
                                                              room) -> None:
    window = open_window()
    choose_prior(window, room.alice_prior.study_uid)
    current, prior = window.current_pane.viewport, window.prior_pane.viewport
    current.go_to(0)
    prior.go_to(0)  # both panes at the lung apices
    qtbot.mouseClick(window.link_scroll, Qt.MouseButton.LeftButton)
    assert window.link_scroll.isChecked() and window.link is not None

    offset = location(prior) - location(current)  # same anatomy, different table position
    known = sorted(prior.volume.locations)
    half_slice = (known[1] - known[0]) / 2
    covered, visited = 0, set()

    def check() -> None:
        nonlocal covered
        target = location(current) + offset
        if known[0] - half_slice <= target <= known[-1] + half_slice:
            covered += 1
            assert abs(location(prior) - target) <= half_slice + 1e-6, (
                f"current at {location(current)} mm, prior at {location(prior)} mm")
        visited.add(prior.state.index)

    for _ in range(CURRENT_SLICES - 1):
        qtbot.keyClick(current, Qt.Key.Key_Down)
        check()
    assert current.state.index == CURRENT_SLICES - 1
    for _ in range(CURRENT_SLICES - 1):
        current.scroll(-1)
        check()

    assert covered >= 2 * (PRIOR_SLICES - 1)  # the prior really covered part of the way
    assert visited == set(range(PRIOR_SLICES))
    assert prior.state.index == 0


def test_without_the_link_the_prior_stays_where_it_is(qtbot, open_window, room) -> None:
    window = open_window()
    choose_prior(window, room.alice_prior.study_uid)
    current, prior = window.current_pane.viewport, window.prior_pane.viewport

    for _ in range(5):
        qtbot.keyClick(current, Qt.Key.Key_Down)

    assert current.state.index == 5
    assert prior.state.index == 0


# ---- keys, window and overlay --------------------------------------------------------------


def test_keys_move_through_the_series(qtbot, open_window) -> None:
    viewport = open_window().current_pane.viewport
    last = CURRENT_SLICES - 1

    for key, expected in ((Qt.Key.Key_Down, 1), (Qt.Key.Key_PageDown, 11),
                          (Qt.Key.Key_Up, 10), (Qt.Key.Key_End, last),
                          (Qt.Key.Key_PageUp, last - 10), (Qt.Key.Key_Home, 0),
                          (Qt.Key.Key_Up, 0)):
        qtbot.keyClick(viewport, key)
        assert viewport.state.index == expected, Qt.Key(key).name
        assert f"Im {expected + 1}/{CURRENT_SLICES}" in overlay(viewport)


def test_number_keys_choose_presets_and_nine_returns_to_the_stored_window(qtbot,
                                                                          open_window) -> None:
    viewport = open_window().current_pane.viewport
    stored_pixels = viewport.image.image.copy()
    assert STORED in overlay(viewport)

    qtbot.keyClick(viewport, Qt.Key.Key_4)
    assert BONE in overlay(viewport)
    assert not np.array_equal(viewport.image.image, stored_pixels)

    qtbot.keyClick(viewport, Qt.Key.Key_5)
    assert LUNG in overlay(viewport)

    qtbot.keyClick(viewport, Qt.Key.Key_9)
    assert STORED in overlay(viewport)
    assert viewport.state.window is None
    assert np.array_equal(viewport.image.image, stored_pixels)


def test_i_inverts_the_image_and_says_so(qtbot, open_window) -> None:
    viewport = open_window().current_pane.viewport
    upright = viewport.image.image.copy()

    qtbot.keyClick(viewport, Qt.Key.Key_I)

    assert np.array_equal(viewport.image.image, 255 - upright)
    assert "inverted" in overlay(viewport)
    qtbot.keyClick(viewport, Qt.Key.Key_I)
    assert np.array_equal(viewport.image.image, upright)
    assert "inverted" not in overlay(viewport)


def _mouse(viewport: Viewport, kind: QEvent.Type, at: QPointF, button: Qt.MouseButton,
           buttons: Qt.MouseButton) -> None:
    target = viewport.graphics.viewport()
    QApplication.sendEvent(target, QMouseEvent(kind, at, target.mapToGlobal(at), button,
                                               buttons, Qt.KeyboardModifier.NoModifier))


def test_right_drag_changes_the_window_with_live_values(open_window, monkeypatch) -> None:
    # pyqtgraph drops moves within 10 ms of the last one; these events arrive all at once
    monkeypatch.setitem(pg.CONFIG_OPTIONS, "mouseRateLimit", 0)
    viewport = open_window().current_pane.viewport
    target = viewport.graphics.viewport()
    start = QPointF(target.width() / 2, target.height() / 2)
    right, none = Qt.MouseButton.RightButton, Qt.MouseButton.NoButton

    _mouse(viewport, QEvent.Type.MouseButtonPress, start, right, right)
    for step in range(1, 11):  # 5 px right (wider) and 2 px up (higher level) each
        _mouse(viewport, QEvent.Type.MouseMove, start + QPointF(5 * step, -2 * step), none,
               right)
        if step == 5:
            assert "W 400 / L 70" in overlay(viewport)  # while the button is still down
    _mouse(viewport, QEvent.Type.MouseButtonRelease, start + QPointF(50, -20), right, none)

    assert "W 450 / L 90" in overlay(viewport)
    assert (viewport.state.window.center, viewport.state.window.width) == (90, 450)


def test_overlay_names_patient_study_slice_and_orientation(qtbot, open_window, room) -> None:
    viewport = open_window().current_pane.viewport
    alice = room.alice_current.patient

    text = overlay(viewport)
    for expected in ("TESTPATIENT, Alice", f"ID {alice.patient_id}", "DOB 1958-03-14",
                     "Sex F", iso(room.alice_current.study_date), "CT Chest without contrast",
                     f"Im 1/{CURRENT_SLICES}"):
        assert expected in text
    edges = {edge: viewport.overlay.labels[edge].text()
             for edge in ("left", "right", "top", "bottom")}
    assert edges == {"left": "R", "right": "L", "top": "A", "bottom": "P"}

    qtbot.keyClick(viewport, Qt.Key.Key_End)
    assert f"Im {CURRENT_SLICES}/{CURRENT_SLICES}" in overlay(viewport)


def test_overlay_zoom_is_the_zoom_on_screen(qtbot, open_window) -> None:
    window = open_window()
    window.resize(1000, 600)
    QApplication.processEvents()
    viewport = window.current_pane.viewport

    assert f"Zoom {viewport.zoom_factor():.2f}" in overlay(viewport)


# ---- a damaged image -----------------------------------------------------------------------


def test_damaged_slice_shows_an_error_in_its_pane_and_reading_goes_on(
        open_window, room, workstation) -> None:
    """Bob's prior head CT has one slice whose JPEG 2000 stream is garbage."""
    prior_plan = small_plan("CT_HEAD", 3, prior=True)
    damaged_uid = ""
    for dataset in iter_instances(prior_plan):
        if dataset.InstanceNumber == 2:
            dataset.file_meta.TransferSyntaxUID = JPEG2000Lossless
            dataset.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(range(256)) * 4])
            dataset["PixelData"].VR = "OB"
            dataset["PixelData"].is_undefined_length = True
            damaged_uid = dataset.SOPInstanceUID
        store_dataset(workstation.store, dataset)
    window = open_window(room.bob.study_uid)
    choose_prior(window, prior_plan.study_uid)
    viewport = window.prior_pane.viewport
    damaged = next(i for i, frame in enumerate(viewport.volume.frames)
                   if frame.sop_instance_uid == damaged_uid)

    viewport.go_to(damaged)

    assert viewport.message.text().startswith(f"Image {damaged + 1} cannot be shown")
    assert "JPEG 2000" in viewport.message.text()
    assert viewport.image.image is None
    assert "TESTPATIENT, Bob" in overlay(viewport)  # still says whose image is missing
    assert f"Im {damaged + 1}/3" in overlay(viewport)

    viewport.go_to(0 if damaged else 2)
    assert viewport.message.text() == ""
    assert viewport.image.image is not None
    assert study_shown(window.current_pane) == room.bob.study_uid


def test_two_screens_put_the_current_on_the_left_screen_and_the_prior_on_the_right(
    open_window: OpenWindow,
) -> None:
    from PySide6.QtCore import QRect

    window = open_window()
    window.span_screens(QRect(0, 0, 1000, 700), QRect(1000, 0, 1200, 700))
    assert window.geometry().width() == 2200
    assert window.splitter.sizes()[0] == pytest.approx(1000, abs=8)
    assert window.current_pane is window.panes["left"]
