"""Start the Qt application around an opened workstation and a running node."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox, QPushButton

from app.access import StudyAccess
from app.auth import Authenticator, LoginPolicy, Session, record_idle_lock
from app.compliance_forward import compliance_forwarder_from_settings
from app.delivery import DeliveryWorker
from app.display_qa import DisplayQa
from app.errors import TeleradError
from app.node import StorageNode
from app.reports import ReportDesk
from app.retention import RETENTION_INTERVAL_SECONDS, apply_retention_rule
from app.signals import stop_on_signal
from app.syslog_forward import forwarder_from_settings
from app.ui.dashboard import Dashboard, HoursWarnings
from app.ui.idle_lock import IdleLock, IdleWatcher
from app.ui.login import LoginDialog
from app.ui.main_window import MainWindow
from app.ui.qa_dialog import DisplayQaDialog, connected_screens
from app.ui.self_assessment_dialog import SelfAssessmentDialog
from app.ui.worklist import WorklistModel
from app.users import UserDirectory
from app.viewing import StoreStudyReader, open_study
from app.workstation import Workstation
from qa.schedule import Light
from reporting.ui.editor import ReportEditor
from resources import read_text
from viewer.overlay_text import dicom_date
from viewer.ui.background import BackgroundRunner
from viewer.ui.comparison_window import ComparisonWindow

if TYPE_CHECKING:
    from app.demo import DemoFeed


class _ProgressRelay(QObject):
    progress = Signal(int, int, str, bool, str)


def run_gui(workstation: Workstation, node: StorageNode | None = None,
            demo_feed: DemoFeed | None = None, sign_in_note: str = "",
            stop: threading.Event | None = None) -> int:
    """Sign in, then show the worklist; the node keeps receiving, locked or not. SIGINT or
    SIGTERM (or ``stop``, set by the caller's own handler) ends it as quitting does."""
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("telerad")
    app.setStyleSheet(read_text("style.qss"))
    quit_when_set(app, stop or stop_on_signal())  # the timer is the application's child
    relay = _start_demo_feed(demo_feed)  # studies arrive while the newcomer signs in
    authenticator = _authenticator(workstation)
    dialog = LoginDialog(_login_with(authenticator, workstation), explanation=sign_in_note)
    if dialog.exec() != LoginDialog.DialogCode.Accepted:
        return 1
    session = dialog.session
    access = StudyAccess(workstation.store, workstation.audit, session.username, session.role)
    feed = forwarder_from_settings(workstation.settings, workstation.database, workstation.audit)
    if feed is not None:  # the audit feed runs whenever the workstation does
        feed.start()
    display_qa = DisplayQa(workstation)
    compliance_feed = compliance_forwarder_from_settings(
        workstation.settings, workstation.database, display_qa.log)
    if compliance_feed is not None:
        compliance_feed.start()
    screens = connected_screens()  # the posture check of this sign-in, off the GUI thread
    QThreadPool.globalInstance().start(
        lambda: display_qa.record_posture(screens, now=datetime.now(UTC)))
    own_node = node is None
    node, node_text = _start_node(workstation) if node is None else (node, "")
    desk = ReportDesk(workstation, access, lambda user, code, now: authenticator.verify_code(
        user, code, now), display_qa)
    editor = ReportEditor(desk)
    window = MainWindow(access, node_text=node_text or _describe_node(node, demo_feed),
                        report_panel=editor, statuses=desk.statuses,
                        qa_status=lambda: display_qa.status(datetime.now(UTC)))
    relay.progress.connect(window.show_progress)
    readers = ComparisonOpener(workstation, access, window)
    window.display_warning_changed.connect(readers.warn_display)
    window.open_requested.connect(lambda uid: _open_for_reporting(uid, readers, editor,
                                                                    window.model))
    outbox = _start_outbox(workstation, window, editor)
    _offer_display_qa(workstation, display_qa, session.username, window)
    _service_oversight(workstation, session.username, window)
    _offer_self_assessment(display_qa, session.username, window)
    lock = _idle_lock(workstation, authenticator, session, window, readers)
    _schedule_retention(workstation, window)
    window.resize(window.screen().availableSize() * 0.92)
    window.show()
    try:
        return app.exec()
    finally:
        lock.deleteLater()
        editor.save_now()
        authenticator.logout(session, now=datetime.now(UTC))
        outbox.stop()
        if own_node and node is not None:
            node.stop()
        if feed is not None:
            feed.stop()
        if compliance_feed is not None:
            compliance_feed.stop()


SIGNAL_CHECK_MS = 200


def quit_when_set(app: QApplication, stop: threading.Event) -> QTimer:
    """Once ``stop`` is set (app/signals.py: SIGINT, Ctrl-C in the terminal, or SIGTERM)
    the workstation ends as quitting does: drafts saved, sign-out audited, node stopped.
    Qt's event loop never hands control to Python's signal handling, so a timer looks at
    the flag; open dialogs (the sign-in, a question) are rejected, then the loops quit."""
    timer = QTimer(app, interval=SIGNAL_CHECK_MS)

    def check() -> None:
        if not stop.is_set():
            return
        timer.stop()
        for widget in app.topLevelWidgets():
            if isinstance(widget, QDialog) and widget.isVisible():
                widget.reject()
        app.quit()
    timer.timeout.connect(check)
    timer.start()
    return timer


def _service_oversight(workstation: Workstation, user: str, window: MainWindow) -> None:
    """A "Service dashboard…" button, and a gentle hourly check of working hours."""
    dashboard = QPushButton("Service dashboard…")
    opened: list[Dashboard] = []

    def show_dashboard() -> None:
        opened[:] = [Dashboard(workstation)]
        opened[0].show()
    dashboard.clicked.connect(show_dashboard)
    window.statusBar().addPermanentWidget(dashboard)
    warnings, runner = HoursWarnings(workstation, user), BackgroundRunner(window)

    def check_hours() -> None:
        runner.run(lambda: warnings.new_warnings(datetime.now(UTC)), lambda fresh: [
            window.statusBar().showMessage(f"Working hours: {w.message}", 60_000)
            for w in fresh], lambda _exc: None)
    timer = QTimer(window, interval=3600 * 1000)
    timer.timeout.connect(check_hours)
    timer.start()
    QTimer.singleShot(5000, check_hours)


def _schedule_display_qa(display_qa: DisplayQa, window: MainWindow) -> None:
    """The weekly automated part on its own (checked hourly): meterless checks of every
    screen; the reporter is asked for the visual part."""
    def run_automated_if_due() -> None:
        last, policy = display_qa.last_record(), display_qa.policy()
        now = datetime.now(UTC)
        if last is not None and now - last.finished_at < timedelta(days=policy.interval_days):
            return
        screens = connected_screens()  # read on the GUI thread; the run goes to a worker
        QThreadPool.globalInstance().start(lambda: display_qa.run(
            screens, None, now=now, actor="display QA schedule"))

    schedule = QTimer(window, interval=3600 * 1000)
    schedule.timeout.connect(run_automated_if_due)
    schedule.start()
    run_automated_if_due()


def _offer_display_qa(workstation: Workstation, display_qa: DisplayQa, user: str,
                      window: MainWindow) -> None:
    """A "Display QA…" button beside the light; when QA is due, the reporter is asked."""
    def open_dialog() -> None:
        dialog = DisplayQaDialog(display_qa, user, simulated=workstation.settings[
            "profile.demo"], parent=window)
        dialog.finished.connect(lambda _code: window.refresh())
        dialog.open()

    button = QPushButton("Display QA…")
    button.clicked.connect(open_dialog)
    window.statusBar().addPermanentWidget(button)

    _schedule_display_qa(display_qa, window)

    def ask_if_due() -> None:
        status = display_qa.status(datetime.now(UTC))
        if status.light is Light.GREEN:
            return
        question = QMessageBox(QMessageBox.Icon.Question, "Display QA",
                               f"Display QA: {status.reason}. Run it now?",
                               QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                               window)
        question.accepted.connect(open_dialog)
        question.open()
    QTimer.singleShot(1000, ask_if_due)


def _offer_self_assessment(display_qa: DisplayQa, user: str, window: MainWindow) -> None:
    """On first use and yearly, ask the reporter for the DSE self-assessment."""
    if not display_qa.self_assessment_due(user, datetime.now(UTC)):
        return

    def open_dialog() -> None:
        SelfAssessmentDialog(display_qa, user, parent=window).open()

    def ask() -> None:
        question = QMessageBox(QMessageBox.Icon.Question, "Workstation self-assessment",
                               "Your yearly display screen equipment self-assessment is due "
                               "(a short checklist). Complete it now?",
                               QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                               window)
        question.accepted.connect(open_dialog)
        question.open()
    QTimer.singleShot(1500, ask)  # after the display QA question, if that is asked too


class _DeliveryRelay(QObject):
    delivered = Signal()


def _start_outbox(workstation: Workstation, window: MainWindow,
                  editor: ReportEditor) -> DeliveryWorker:
    """Deliver signed reports in the background; the worklist and editor show progress."""
    relay = _DeliveryRelay(window)
    relay.delivered.connect(window.refresh)
    relay.delivered.connect(editor.refresh_status)
    worker = DeliveryWorker(workstation, on_delivery=lambda _d: relay.delivered.emit())
    editor.signed.connect(lambda _uid: (worker.wake(), window.refresh()))
    return worker.start()


def _open_for_reporting(study_uid: str, readers: ComparisonOpener, editor: ReportEditor,
                        worklist: WorklistModel) -> None:
    """Open the reading window and, beside the worklist, the study's report; the
    comparison section starts from the prior the reading window shows. The studies come
    from the worklist already on screen: nothing is read again on the GUI thread."""
    reading = readers.open(study_uid)
    if reading is None:
        return
    shown = reading.comparison.prior
    current = worklist.summary(study_uid)
    if current is None:  # left the worklist meanwhile
        return
    name = current.patient_name.replace("^", ", ", 1).replace("^", " ")
    title = f"{name} · {current.description} · {dicom_date(current.study_date)}"
    editor.open_study(study_uid, title,
                      prior=worklist.summary(shown.study_uid) if shown else None)


def _authenticator(workstation: Workstation) -> Authenticator:
    directory = UserDirectory(workstation.database, workstation.audit)
    if not directory.list_users():
        raise TeleradError("no user accounts in this profile: an administrator creates one "
                           "with `telerad users add NAME --name ... --role reporter`")
    return Authenticator(directory, workstation.audit,
                         LoginPolicy.from_settings(workstation.settings))


def _start_demo_feed(demo_feed: DemoFeed | None) -> _ProgressRelay:
    relay = _ProgressRelay()
    if demo_feed is not None:
        demo_feed.start_reporting(lambda p: relay.progress.emit(
            p.sent, p.total, p.message, p.finished, p.error))
    return relay


def _describe_node(node: StorageNode | None, demo_feed: DemoFeed | None) -> str:
    if demo_feed is not None:
        return f"DICOM node {demo_feed.called_ae} · {demo_feed.host}:{demo_feed.port}"
    if node is None:
        return ""
    return f"DICOM node {node.ae_title} · {node.settings['node.host']}:{node.settings['node.port']}"


def _schedule_retention(workstation: Workstation, window: MainWindow) -> None:
    """The retention rule every hour, off the GUI thread."""
    retention = QTimer(window, interval=RETENTION_INTERVAL_SECONDS * 1000)
    retention.timeout.connect(lambda: QThreadPool.globalInstance().start(
        lambda: apply_retention_rule(workstation, actor="retention rule")))
    retention.start()


def _login_with(authenticator: Authenticator, workstation: Workstation
                ) -> Callable[[str, str, str, datetime], Session]:
    """Sign in, then open patient data with the reader's key slot (app/reading_keys.py)."""
    def login(user: str, password: str, code: str, now: datetime) -> Session:
        session = authenticator.login(user, password, code, now=now)
        workstation.open_for(session.username, session.role, password)
        return session
    return login


def _idle_lock(workstation: Workstation, authenticator: Authenticator, session: Session,
               window: MainWindow, readers: ComparisonOpener) -> IdleLock:
    """Lock after ``auth.idle_lock_minutes`` without input; only the same user unlocks."""
    def sign_in_again() -> bool:
        dialog = LoginDialog(_login_with(authenticator, workstation), title="Unlock telerad",
                             username=session.username)
        dialog.username.setReadOnly(True)
        return dialog.exec() == LoginDialog.DialogCode.Accepted

    lock = IdleLock(window, lambda: list(readers.windows), sign_in_again)
    watcher = IdleWatcher(workstation.settings["auth.idle_lock_minutes"], lock)
    watcher.idle.connect(lock.lock)
    lock.locked_changed.connect(lambda locked: locked and record_idle_lock(
        workstation.audit, session.username, datetime.now(UTC)))
    return lock


class ComparisonOpener:
    """Opens the reading window for a worklist row; errors are shown, never raised."""

    def __init__(self, workstation: Workstation, access: StudyAccess, main: MainWindow) -> None:
        self._workstation, self._access, self._main = workstation, access, main
        self.windows: list[ComparisonWindow] = []

    def open(self, study_uid: str) -> ComparisonWindow | None:
        settings, access = self._workstation.settings, self._access
        try:
            opened = open_study(access, study_uid, current_side=settings["viewer.current_side"])
        except (KeyError, TeleradError) as exc:
            QMessageBox.warning(self._main, "Study cannot be opened", str(exc))
            return None
        window = ComparisonWindow(opened.layout, StoreStudyReader(access), opened.priors,
                                  opened.others)
        window.setWindowTitle(f"telerad — {opened.layout.current.description}")
        screens = sorted(QGuiApplication.screens(), key=lambda screen: screen.geometry().x())
        if len(screens) >= 2:  # left screen: current, right screen: prior
            window.span_screens(screens[0].availableGeometry(), screens[1].availableGeometry())
        else:
            window.resize(self._main.size())
        window.warn_display(self._main.qa_warning)
        window.show()
        self.windows.append(window)
        return window

    def warn_display(self, text: str) -> None:
        for window in self.windows:
            window.warn_display(text)


def _start_node(workstation: Workstation) -> tuple[StorageNode | None, str]:
    """The node inside the GUI; if `telerad serve` already receives for this profile, the
    window shows its studies (the worklist refreshes periodically) without a second node."""
    node = StorageNode(workstation.store, workstation.audit, workstation.settings,
                       settings_file=workstation.paths.settings)
    try:
        node.start()
    except TeleradError as exc:
        return None, f"Not receiving here: {exc}"
    return node, ""
