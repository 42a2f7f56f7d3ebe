"""The right-scan/right-patient reading window: current on the policy side, prior opposite.

Which study sits in which pane is decided by ComparisonLayout (viewer.comparison), the
only way a prior can reach the prior pane; this window shows that decision with a
coloured banner naming the patient over each pane, and never offers to swap the panes.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from viewer.comparison import (
    ComparisonLayout,
    ComparisonRefused,
    PatientIdentity,
    ReasonRequired,
    StudyInfo,
)
from viewer.linking import SliceLink
from viewer.overlay_text import dicom_date, person_name
from viewer.series import SeriesChoice, SeriesVolume, StudyReader, main_series
from viewer.ui.series_browser import SeriesBrowser
from viewer.ui.viewport import Viewport

CURRENT_COLOUR, PRIOR_COLOUR, REFUSED_COLOUR = "#1f5f9e", "#8a5a00", "#9e1f1f"


def identity_line(identity: PatientIdentity) -> str:
    """Full identity for a banner: name, ID with issuer, NHS number, birth date, sex."""
    parts = [person_name(identity.name),
             f"ID {identity.patient_id}" + (f" ({identity.issuer})" if identity.issuer else "")]
    if identity.nhs_number:
        number = identity.nhs_number
        parts.append(f"NHS {number[:3]} {number[3:6]} {number[6:]}")
    parts += [f"DOB {dicom_date(identity.birth_date)}", identity.sex or "sex unknown"]
    return "  ·  ".join(parts)


class Banner(QLabel):
    """The coloured strip over a pane: CURRENT / PRIOR <date> and who it is."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("banner")
        self.setWordWrap(True)

    def show_study(self, title: str, study: StudyInfo, colour: str) -> None:
        what = f"{dicom_date(study.study_date)}  {study.description}".strip()
        self.setText(f"<b>{title}</b>  ·  {identity_line(study.identity)}  ·  {what}")
        self._colour(colour)

    def show_message(self, text: str, colour: str) -> None:
        self.setText(text)
        self._colour(colour)

    def _colour(self, colour: str) -> None:
        self.setStyleSheet(f"background: {colour}; color: white; padding: 6px 10px; "
                           "font-size: 11pt;")


class Pane(QWidget):
    """Banner over a series browser and a viewport (or over why nothing is shown)."""

    def __init__(self, side: str) -> None:
        super().__init__()
        self.setObjectName(f"pane-{side}")
        self.side = side
        self.banner = Banner()
        self.viewport: Viewport | None = None
        self.browser: SeriesBrowser | None = None
        self.placeholder = QLabel("No prior shown")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #7d8791; background: black;")
        self._body = QHBoxLayout()
        self._body.setSpacing(0)
        self._body.addWidget(self.placeholder, 1)
        self.display_warning = QLabel("")
        self.display_warning.setObjectName("display-warning")
        self.display_warning.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.display_warning.setStyleSheet(
            "color: white; background: #b3261e; font-size: 13pt; font-weight: 700; padding: 4px;")
        self.display_warning.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.display_warning)
        layout.addWidget(self.banner)
        layout.addLayout(self._body, 1)

    def warn_display(self, text: str) -> None:
        """Show (or with "" clear) why this screen is not fit for diagnosis right now."""
        self.display_warning.setText(text)
        self.display_warning.setVisible(bool(text))

    def show_series(self, browser: SeriesBrowser | None, volume: SeriesVolume | None) -> None:
        """Replace the browser (None keeps it) and the viewport (None shows the placeholder)."""
        if browser is not None or volume is None:
            self._replace_browser(browser)
        self.show_volume(volume)

    def _replace_browser(self, browser: SeriesBrowser | None) -> None:
        if self.browser is not None:
            self._body.removeWidget(self.browser)
            self.browser.deleteLater()
        self.browser = browser
        if browser is not None:
            self._body.insertWidget(0, browser)

    def show_volume(self, volume: SeriesVolume | None) -> None:
        if self.viewport is not None:
            self._body.removeWidget(self.viewport)
            self.viewport.volume.close()
            self.viewport.deleteLater()
            self.viewport = None
        self.placeholder.setVisible(volume is None)
        if volume is not None:
            self.viewport = Viewport(volume)
            self._body.addWidget(self.viewport, 1)


class ComparisonWindow(QWidget):
    """Current and prior side by side, linked scrolling and optional linked window."""

    def __init__(self, layout: ComparisonLayout, reader: StudyReader,
                 priors: list[StudyInfo], others: list[StudyInfo] = ()) -> None:
        """``priors``: proposed (same patient, most relevant first); ``others``: any other
        study the reporter may choose — the identity check decides whether it is shown."""
        super().__init__()
        self.setObjectName("comparison")
        self.comparison, self.reader = layout, reader
        self.panes = {side: Pane(side) for side in ("left", "right")}
        self.link: SliceLink | None = None
        self.prior_choice = QComboBox()
        self.prior_choice.setObjectName("prior-choice")
        self.prior_choice.addItem("No prior", None)
        for study in priors:
            self.prior_choice.addItem(_choice_label(study), study)
        if others:
            self.prior_choice.insertSeparator(self.prior_choice.count())
            for study in others:
                name = person_name(study.identity.name)
                self.prior_choice.addItem(f"other: {name} — {_choice_label(study)}", study)
        self.prior_choice.activated.connect(self._prior_chosen)
        self.link_scroll = QCheckBox("Link scrolling")
        self.link_scroll.toggled.connect(self._link_toggled)
        self.link_window = QCheckBox("Link window")
        self._balanced = False
        self._build(priors)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._balanced:  # equal panes on one screen, whatever each pane holds
            self._balanced = True
            half = self.splitter.width() // 2
            self.splitter.setSizes([half, self.splitter.width() - half])

    def warn_display(self, text: str) -> None:
        """Display QA overdue or failed: every pane says NOT FOR DIAGNOSTIC USE and why."""
        for pane in self.panes.values():
            pane.warn_display(text)

    def span_screens(self, left: QRect, right: QRect) -> None:
        """With two screens the window covers both and each pane fills one: the current
        study on the left screen, the prior on the right (per the site policy)."""
        self.setGeometry(left.united(right))
        self._balanced = True
        self.splitter.setSizes([left.width(), right.width()])

    @property
    def current_pane(self) -> Pane:
        return self.panes[self.comparison.policy.current_side]

    @property
    def prior_pane(self) -> Pane:
        return self.panes[self.comparison.policy.prior_side]

    def _build(self, priors: list[StudyInfo]) -> None:
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Prior:"))
        bar.addWidget(self.prior_choice, 1)
        bar.addWidget(self.link_scroll)
        bar.addWidget(self.link_window)
        self.splitter = splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.panes["left"])
        splitter.addWidget(self.panes["right"])
        splitter.setChildrenCollapsible(False)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        current = self.comparison.current
        self.current_pane.banner.show_study("CURRENT", current, CURRENT_COLOUR)
        self._open_study(self.current_pane, current)
        if self.comparison.prior is not None:  # placed (and checked) before the window opened
            self.show_placed_prior()
        elif priors:  # the most relevant prior of the same patient, checked again on placing
            self.show_prior(priors[0])
        else:
            self._show_no_prior("No prior of this patient")

    def _open_study(self, pane: Pane, study: StudyInfo) -> None:
        """Browser of the study's series in ``pane``, and its main series in the viewport."""
        choices: list[SeriesChoice] = self.reader.series_of(study.study_uid)
        if not choices:
            pane.show_series(None, None)
            pane.placeholder.setText("This study holds no images")
            return
        modality = study.modalities[0] if study.modalities else ""
        first = main_series(choices, modality)
        browser = SeriesBrowser(self.reader, choices)
        browser.select(first.series_uid)
        browser.series_chosen.connect(lambda choice: self._show_choice(pane, choice))
        pane.show_series(browser, self._open_volume(first))

    def _show_choice(self, pane: Pane, choice: SeriesChoice) -> None:
        pane.show_volume(self._open_volume(choice))
        if pane is self.prior_pane or self.prior_pane.viewport is not None:
            self._relink()

    def _open_volume(self, choice: SeriesChoice) -> SeriesVolume:
        volume = SeriesVolume(self.reader, choice.instances)
        volume.load(0)  # the shown slice first, the rest in the background
        volume.load_rest(0)
        return volume

    # ---- the prior ---------------------------------------------------------------------

    def _prior_chosen(self, row: int) -> None:
        study = self.prior_choice.itemData(row)
        if study is None:
            self.comparison.clear_prior()
            self._show_no_prior("No prior shown")
            return
        self.show_prior(study)

    def show_prior(self, study: StudyInfo, reason: str = "") -> bool:
        """Place ``study`` in the prior pane if the identity check allows it."""
        try:
            self.comparison.place_prior(study, reason=reason)
        except ComparisonRefused as refused:
            self._refuse(refused.result.message())
            return False
        except ReasonRequired as required:
            reason = self._ask_reason(required.result.message())
            if not reason:  # cancelled: the choice goes back to what is shown
                shown = self.prior_choice.findData(self.comparison.prior)
                self.prior_choice.setCurrentIndex(max(shown, 0))
                return False
            return self.show_prior(study, reason)
        self.show_placed_prior()
        return True

    def show_placed_prior(self) -> None:
        """Display the prior the layout holds (placed, so already identity-checked)."""
        study = self.comparison.prior
        if study is None:
            self._show_no_prior("No prior shown")
            return
        self.prior_pane.banner.show_study(self.comparison.banner(self.prior_pane.side), study,
                                          PRIOR_COLOUR)
        row = self.prior_choice.findData(study)
        if row >= 0:
            self.prior_choice.setCurrentIndex(row)
        self._open_study(self.prior_pane, study)
        self._relink()

    def _relink(self) -> None:
        """A new series in either pane: linking starts again from the new positions."""
        self.link = None
        self.link_scroll.setChecked(False)
        self._wire_prior()

    def _refuse(self, message: str) -> None:
        self.comparison.clear_prior()  # the pane is emptied: the layout must agree
        self.prior_pane.show_series(None, None)
        self.prior_pane.placeholder.setText("Nothing shown: " + message)
        self.prior_pane.banner.show_message("PRIOR REFUSED — different patient", REFUSED_COLOUR)
        self.prior_choice.setCurrentIndex(0)
        QMessageBox.critical(self, "Prior refused", message)

    def _ask_reason(self, message: str) -> str:
        reason, accepted = QInputDialog.getText(
            self, "Identity differs", f"{message}\n\nWhy is this the same patient? "
            "(recorded in the audit trail)")
        return reason.strip() if accepted else ""

    def _show_no_prior(self, text: str) -> None:
        self.prior_pane.show_series(None, None)
        self.prior_pane.placeholder.setText(text)
        self.prior_pane.banner.show_message(f"PRIOR — {text.lower()}", "#3a4048")

    # ---- linking -----------------------------------------------------------------------

    def _wire_prior(self) -> None:
        current = self.current_pane.viewport
        if current is None:
            return
        unique = Qt.ConnectionType.UniqueConnection
        current.index_changed.connect(self._follow, unique)
        current.window_changed.connect(self._follow_window, unique)

    def _follow_window(self, window: object) -> None:
        prior = self.prior_pane.viewport
        if prior is not None and self.link_window.isChecked():
            prior.set_window(window)

    def _link_toggled(self, on: bool) -> None:
        current, prior = self.current_pane.viewport, self.prior_pane.viewport
        self.link = None
        if on and current is not None and prior is not None:
            self.link = SliceLink.engage(
                current.volume.locations, prior.volume.locations, current.state.index,
                prior.state.index, _same_frame_of_reference(current, prior))
            if self.link is None:
                self.link_scroll.setChecked(False)
                self.link_scroll.setToolTip("These series have no slice locations to link")

    def _follow(self, index: int) -> None:
        prior = self.prior_pane.viewport
        if self.link is None or prior is None:
            return
        target = self.link.prior_index(index)
        if target is not None:
            prior.go_to(target)


def _choice_label(study: StudyInfo) -> str:
    return f"{dicom_date(study.study_date)}  {'/'.join(study.modalities)}  {study.description}"


def _same_frame_of_reference(current: Viewport, prior: Viewport) -> bool:
    first, second = current.volume.info(current.state.index), prior.volume.info(0)
    if first is None or second is None:
        return False
    uid = first.header.get("FrameOfReferenceUID")
    return bool(uid) and uid == second.header.get("FrameOfReferenceUID")
