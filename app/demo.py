"""`telerad demo`: a throw-away profile, the node on 127.0.0.1, synthetic studies sent to it.

Everything the README's first command needs to show the workstation working, with no
server to install: the studies travel over real DICOM associations, exactly as a
trust PACS would send them.
"""

from __future__ import annotations

import argparse
import itertools
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.config import Peer, save_settings
from app.crypto import PASSPHRASE_ENV, forget_master_key, usable_keyring
from app.demo_trust import DEMO_PACS_AE, DemoTrust
from app.errors import KeyStoreUnavailable, TeleradError
from app.node import StorageNode
from app.sender import send_study
from app.signals import stop_on_signal
from app.synthetic import StudyPlan, demo_plans, iter_instances, plan_instance_count
from app.users import UserDirectory
from app.workstation import Workstation, open_settings, open_workstation, profile_id

DEMO_SENDER_AE = "TELERAD_DEMO"
DEMO_REPORTER = "demo"
DEMO_QUIET_SECONDS = 5  # the demo's studies arrive in one burst
DEMO_GMC_NUMBER = "9999999"  # not a real registration: GMC numbers are issued by the GMC


@dataclass(frozen=True)
class Progress:
    """How far the demo feed has got; ``error`` is set if sending failed."""

    sent: int
    total: int
    message: str
    finished: bool = False
    error: str = ""


class DemoFeed(threading.Thread):
    """Sends the synthetic studies to the node, one association per study, in a worker."""

    def __init__(self, plans: list[StudyPlan], host: str, port: int, called_ae: str) -> None:
        super().__init__(name="demo-feed", daemon=True)
        self._plans, self.host, self.port, self.called_ae = plans, host, port, called_ae
        self._on_progress: Callable[[Progress], None] = lambda _progress: None
        self._cancelled = threading.Event()
        self.total = plan_instance_count(plans)
        self.sent = 0

    def start_reporting(self, on_progress: Callable[[Progress], None]) -> None:
        self._on_progress = on_progress
        self.start()

    def cancel(self, wait_seconds: float = 10.0) -> None:
        """Stop after the instance in flight, releasing its association: the demo ends
        its sender before its node, which would abort the association."""
        self._cancelled.set()
        if self.is_alive():
            self.join(wait_seconds)

    def run(self) -> None:
        try:
            for plan in self._plans:
                if self._cancelled.is_set():
                    return
                self._send(plan)
        except TeleradError as exc:
            self._on_progress(Progress(self.sent, self.total, str(exc), True, str(exc)))
            return
        self._on_progress(Progress(self.sent, self.total,
                                   f"{self.sent} synthetic images received", True))

    def _send(self, plan: StudyPlan) -> None:
        def count(_dataset: object) -> None:
            self.sent += 1
            if self.sent % 10 == 0 or self.sent == self.total:
                self._on_progress(Progress(self.sent, self.total, f"sending {plan.describe()}"))

        self._on_progress(Progress(self.sent, self.total, f"sending {plan.describe()}"))
        instances = itertools.takewhile(lambda _instance: not self._cancelled.is_set(),
                                        iter_instances(plan))
        send_study(instances, [plan.sop_class_uid], host=self.host, port=self.port,
                   called_ae=self.called_ae, calling_ae=DEMO_SENDER_AE, on_sent=count)


def has_display() -> bool:
    """Whether Qt can open a window here (X11, Wayland, or a non-X desktop platform)."""
    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def prepare_demo_profile(root: Path) -> Workstation:
    """Profile with the demo sender as a peer and every study assigned to the demo reporter.

    Keys come from the OS keyring when there is one; otherwise the throw-away profile uses
    passphrase mode with a one-off passphrase (the data is synthetic).
    """
    paths, settings = open_settings(root)
    if not paths.database.exists():
        try:
            usable_keyring()
        except KeyStoreUnavailable:
            os.environ.setdefault(PASSPHRASE_ENV, secrets.token_urlsafe(18))
            settings = settings.with_value("security.key_source", "passphrase")
            print("No OS keyring here: the demo profile uses passphrase mode "
                  f"({PASSPHRASE_ENV}={os.environ[PASSPHRASE_ENV]}).")
    others = tuple(p for p in settings.peers if p.ae_title != DEMO_SENDER_AE)
    settings = settings.with_peers((*others, Peer(DEMO_SENDER_AE, "127.0.0.1")))
    settings = settings.with_value("assignment.default_reporter", DEMO_REPORTER)
    settings = settings.with_value("profile.demo", True)  # allows `telerad users code`
    save_settings(settings.with_value("node.study_quiet_seconds", DEMO_QUIET_SECONDS),
                  paths.settings)
    return open_workstation(root)


def enrol_demo_reporter(workstation: Workstation) -> str:
    """The demo reporter's sign-in, as a note for the newcomer (password and code)."""
    directory = UserDirectory(workstation.database, workstation.audit, operator="telerad demo")
    code_command = f"telerad --profile {workstation.paths.root} users code {DEMO_REPORTER}"
    if workstation.settings["security.key_source"] == "passphrase":
        code_command = f"{PASSPHRASE_ENV}={os.environ.get(PASSPHRASE_ENV, '...')} {code_command}"
    if any(user.username == DEMO_REPORTER for user in directory.list_users()):
        return (f"Sign in as {DEMO_REPORTER!r} with the password printed when this demo "
                f"profile was made; current code: `{code_command}`")
    password = secrets.token_urlsafe(12)
    _user, uri = directory.add_user(DEMO_REPORTER, "Dr Demo Reporter", "reporter", password,
                                    gmc_number=DEMO_GMC_NUMBER)
    workstation.grant_reading_key(DEMO_REPORTER, password)  # patient data opens at sign-in
    return (f"Demo reporter: user {DEMO_REPORTER!r}, password {password}\n"
            f"One-time code: `{code_command}` in another terminal, or add this to an "
            f"authenticator app: {uri}")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def run_demo(args: argparse.Namespace) -> int:
    stop = stop_on_signal()  # from here on a signal ends the demo through its clean-up
    temporary = args.profile is None
    root = Path(args.profile or tempfile.mkdtemp(prefix="telerad-demo-"))
    workstation = prepare_demo_profile(root)
    trust = DemoTrust().start()
    workstation.save_settings(trust.configure(workstation.settings))
    sign_in_note = enrol_demo_reporter(workstation)
    print(sign_in_note)
    print("Signed reports go to a simulated trust PACS and RIS on loopback "
          f"({DEMO_PACS_AE}, ris port {workstation.settings['ris.port']}).")
    node = StorageNode(workstation.store, workstation.audit, workstation.settings,
                       settings_file=workstation.paths.settings)
    port = args.port if _free(args.port) else 0
    host, port = node.start(host="127.0.0.1", port=port)
    fate = " (deleted on exit)" if temporary and not args.keep else ""
    print(f"telerad demo: profile {root}{fate}")
    print(f"DICOM node {node.ae_title} on {host}:{port}; peers may send with "
          f"`storescu -aet {DEMO_SENDER_AE} -aec {node.ae_title} {host} {port} FILES`")
    feed = DemoFeed(demo_plans(large_ct_slices=args.ct_slices), host, port, node.ae_title)
    try:
        if args.headless or not has_display():
            if not args.headless:
                print("No display found (DISPLAY/WAYLAND_DISPLAY unset): running headless.")
            return _run_headless(feed, args.exit_after_send, stop)
        from app.ui.launch import run_gui

        return run_gui(workstation, node, demo_feed=feed, sign_in_note=sign_in_note, stop=stop)
    finally:
        feed.cancel()
        node.stop()
        trust.stop()
        workstation.close()
        if temporary and not args.keep:
            _discard(workstation)


def _run_headless(feed: DemoFeed, exit_after_send: bool, stop: threading.Event) -> int:
    done = threading.Event()
    failed: list[str] = []

    def report(progress: Progress) -> None:
        print(f"[{progress.sent:>4}/{progress.total}] {progress.message}", flush=True)
        if progress.finished:
            failed.extend([progress.error] if progress.error else [])
            done.set()

    feed.start_reporting(report)
    while not stop.wait(0.2):
        if exit_after_send and done.is_set():
            break
    if failed:
        print(f"telerad demo: sending failed: {failed[0]}", file=sys.stderr)
        return 1
    return 0


def _discard(workstation: Workstation) -> None:
    """Delete the throw-away profile and its keyring entry."""
    if workstation.settings["security.key_source"] == "keyring":
        forget_master_key(profile_id(workstation.paths))
    shutil.rmtree(workstation.paths.root, ignore_errors=True)
