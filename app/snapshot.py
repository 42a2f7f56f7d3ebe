"""`telerad snapshot`: render offscreen exactly what the comparison window shows.

For support and scripts. The same IdentityCheck applies: a prior of another patient is
refused with the same message as in the window, and no image is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from app.access import StudyAccess, access_without_login
from app.errors import TeleradError
from app.viewing import StoreStudyReader, open_study
from app.workstation import Workstation
from resources import read_text
from viewer.comparison import ComparisonRefused, ReasonRequired
from viewer.linking import SliceLink
from viewer.presets import preset

DEFAULT_SIZE = (1600, 900)


class SnapshotRefused(TeleradError):
    """The identity check did not allow the prior; nothing was rendered."""


def render_snapshot(workstation: Workstation, study_uid: str, out: Path, *,
                    access: StudyAccess | None = None, prior_uid: str | None = None,
                    reason: str = "", preset_name: str = "", slice_number: int | None = None,
                    size: tuple[int, int] = DEFAULT_SIZE) -> Path:
    """Write a PNG of the comparison window as ``access``'s user sees it (without accounts
    in the profile: the default reporter's worklist); SnapshotRefused for a refused prior."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from viewer.ui.comparison_window import ComparisonWindow

    app = QApplication.instance() or QApplication([])
    app.setStyleSheet(read_text("style.qss"))
    window_preset = preset(preset_name) if preset_name else None
    settings = workstation.settings
    access = access or access_without_login(workstation.store, workstation.audit,
                                            settings["assignment.default_reporter"])
    opened = open_study(access, study_uid, current_side=settings["viewer.current_side"])
    if prior_uid:
        candidates = {s.study_uid: s for s in opened.priors + opened.others}
        if prior_uid not in candidates:
            raise TeleradError(f"prior {prior_uid} is not a study in this worklist")
        try:
            opened.layout.place_prior(candidates[prior_uid], reason=reason)
        except (ComparisonRefused, ReasonRequired) as refused:
            hint = "" if isinstance(refused, ComparisonRefused) else " (give --reason)"
            raise SnapshotRefused(refused.result.message() + hint) from refused
    window = ComparisonWindow(opened.layout, StoreStudyReader(access), opened.priors,
                              opened.others)
    try:
        window.resize(*size)
        window.show()
        _arrange(window, window_preset, slice_number)
        app.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out), "PNG"):
            raise TeleradError(f"could not write {out}")
    finally:
        for pane in window.panes.values():
            if pane.viewport is not None:
                pane.viewport.volume.close()
        window.close()
    return out


def _prior_slice(current, prior) -> int:
    """The prior slice at the current slice's location (patient coordinates, as linked
    scrolling with no offset); the same fraction of the stack when there is no geometry."""
    link = SliceLink(tuple(current.volume.locations), tuple(prior.volume.locations), 0.0,
                     same_frame_of_reference=True)
    index = link.prior_index(current.state.index)
    if index is not None:
        return index
    fraction = current.state.index / max(len(current.volume) - 1, 1)
    return round(fraction * (len(prior.volume) - 1))


def _arrange(window, window_preset, slice_number: int | None) -> None:
    current, prior = window.current_pane.viewport, window.prior_pane.viewport
    for viewport in (current, prior):
        if viewport is not None and window_preset is not None:
            viewport.set_window(window_preset)
    if current is None or slice_number is None:
        return
    current.go_to(slice_number - 1)
    if prior is not None:
        prior.go_to(_prior_slice(current, prior))
    for viewport in (current, prior):
        if viewport is not None:
            viewport.fit()
