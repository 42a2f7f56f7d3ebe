"""`telerad`: the command line that IT, scripts and the OS scheduler rely on.

Every command works on one profile (``--profile DIR`` or ``TELERAD_PROFILE``), creates it
on first use without asking, prints one clear line and exits non-zero on error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from app import __version__
from app.atna import render_audit_messages
from app.audit import AuditEvent, EventId
from app.cli_common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    cell,
    chain_verdict,
    opened,
    operator,
    profile_root,
    table,
)
from app.cli_discrepancies import register_discrepancy_commands
from app.cli_kpi import register_kpi_commands
from app.cli_qa import register_qa_commands
from app.cli_reports import register_report_commands
from app.cli_users import SIGN_IN_HELP, register_user_commands, signed_in_access
from app.config import DEFAULTS, Peer, save_settings, validate_ae_title
from app.errors import ConfigError, TeleradError
from app.profile import PROFILE_ENV
from app.retention import RETENTION_INTERVAL_SECONDS, apply_retention_rule
from app.signals import stop_on_signal
from app.syslog_forward import audit_source_id, forwarder_from_settings
from app.workstation import open_settings, open_workstation
from reporting.errors import DeliveryError
from reporting.model import ReportError

STUDY_COLUMNS = (
    ("patient_name", "PATIENT", 24), ("patient_id", "PATIENT ID", 12),
    ("study_date", "DATE", 8), ("modalities", "MOD", 5), ("description", "DESCRIPTION", 24),
    ("instances", "IMAGES", 6), ("received_at", "RECEIVED (UTC)", 19),
    ("assigned_reporter", "REPORTER", 10), ("study_uid", "STUDY UID", 64),
)


# ---- commands --------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the node and the outbox in the foreground until SIGINT/SIGTERM."""
    from app.compliance_forward import compliance_forwarder_from_settings
    from app.delivery import DeliveryWorker
    from app.display_qa import DisplayQa
    from app.node import StorageNode

    workstation = open_workstation(profile_root(args))
    node = StorageNode(workstation.store, workstation.audit, workstation.settings,
                       settings_file=workstation.paths.settings)
    logging.getLogger("app").setLevel(logging.INFO)  # one line per association for IT
    stop = stop_on_signal()
    # the audit feed's settings are checked before the node starts listening
    feed = forwarder_from_settings(workstation.settings, workstation.database, workstation.audit)
    host, port = node.start(args.host, args.port, args.ae_title)
    print(f"telerad node {node.ae_title} listening on {host}:{port} "
          f"(profile {workstation.paths.root}); stop with Ctrl-C", flush=True)
    if feed is not None:
        feed.start()
    compliance_feed = compliance_forwarder_from_settings(
        workstation.settings, workstation.database, DisplayQa(workstation).log)
    if compliance_feed is not None:
        compliance_feed.start()
    outbox = DeliveryWorker(workstation).start()  # idle while the reading key is sealed
    next_retention = 0.0
    while not stop.wait(0.5):
        if time.monotonic() >= next_retention:  # the retention rule, hourly
            apply_retention_rule(workstation, actor="retention rule (serve)")
            next_retention = time.monotonic() + RETENTION_INTERVAL_SECONDS
    node.stop()
    outbox.stop()
    for running in (feed, compliance_feed):
        if running is not None:
            running.stop()
    workstation.close()
    print("telerad node stopped", flush=True)
    return EXIT_OK


def cmd_studies(args: argparse.Namespace) -> int:
    """Every study; once the profile has readers, sign in first (--user): patient details
    are sealed to the reading key, and a reporter sees only their own studies."""
    with opened(args) as workstation:
        access = signed_in_access(workstation, args.user) if args.user else None
        studies = access.list_studies() if access else workstation.store.list_studies()
    if args.json:
        print(json.dumps([asdict(study) for study in studies], indent=2))
        return EXIT_OK
    rows = [[cell(getattr(study, key)) for key, _, _ in STUDY_COLUMNS] for study in studies]
    print(table([title for _, title, _ in STUDY_COLUMNS], rows,
                 [width for _, _, width in STUDY_COLUMNS]))
    print(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'}")
    return EXIT_OK


def cmd_peers_add(args: argparse.Namespace) -> int:
    paths, settings = open_settings(profile_root(args))
    peer = Peer(validate_ae_title(args.ae_title), args.host or "", args.port or 0, args.role)
    others = tuple(p for p in settings.peers if p.ae_title != peer.ae_title)

    save_settings(settings.with_peers((*others, peer)), paths.settings)
    print(f"peer {peer.ae_title} saved ({peer.role})")
    return EXIT_OK


def cmd_peers_list(args: argparse.Namespace) -> int:
    _, settings = open_settings(profile_root(args))
    rows = [[p.ae_title, p.host or "any", str(p.port or ""), p.role] for p in settings.peers]
    print(table(["AE TITLE", "HOST", "PORT", "ROLE"], rows, [16, 40, 5, 6]))
    return EXIT_OK


def cmd_peers_remove(args: argparse.Namespace) -> int:
    paths, settings = open_settings(profile_root(args))
    if settings.peer(args.ae_title) is None:
        raise ConfigError(f"no peer with AE title {args.ae_title!r}")

    remaining = tuple(p for p in settings.peers if p.ae_title != args.ae_title.strip())
    save_settings(settings.with_peers(remaining), paths.settings)
    print(f"peer {args.ae_title} removed")
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace) -> int:
    workstation = open_workstation(profile_root(args))
    count = len(workstation.audit.events())
    broken = workstation.audit.verify()
    workstation.close()
    return chain_verdict("audit trail", broken, f"{count} entries")


def cmd_audit_show(args: argparse.Namespace) -> int:
    workstation = open_workstation(profile_root(args))
    events = workstation.audit.events()[-args.limit:] if args.limit else workstation.audit.events()
    workstation.close()
    if args.json:
        print(json.dumps(events, indent=2))
        return EXIT_OK
    for event in events:
        print(f"{event['seq']:>6}  {event['recorded_at'][:19]}  {event['event_id']}  "
              f"outcome={event['outcome']:<2}  {event['actor']:<16}  {event['detail']}")
    return EXIT_OK


def cmd_audit_export(args: argparse.Namespace) -> int:
    """The whole trail as JSON or PS3.15 A.5 XML; the export itself is audited (110101)."""
    with opened(args) as workstation:
        events = workstation.audit.events()
        if args.format == "xml":
            data = render_audit_messages(
                events, source_id=audit_source_id(workstation.settings),
                enterprise_site=workstation.settings["audit.enterprise_site"])
        else:
            data = (json.dumps(events, indent=2) + "\n").encode("utf-8")
        if args.out:
            Path(args.out).write_bytes(data)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        workstation.audit.record(AuditEvent(
            EventId.AUDIT_LOG_USED, "R", operator(),
            detail=f"audit trail exported as {args.format}: {len(events)} event(s)"))
    if args.out:
        print(f"{len(events)} audit event(s) exported as {args.format} to {args.out}")
    return EXIT_OK


def cmd_audit_forward(args: argparse.Namespace) -> int:
    """One pass of the syslog feed; the events stay queued if the collector is down."""
    with opened(args) as workstation:
        feed = forwarder_from_settings(workstation.settings, workstation.database,
                                       workstation.audit)
        if feed is None:
            raise ConfigError("no audit collector configured: "
                              "`telerad config set audit.syslog.host HOST` first")
        sent = feed.forward_pending()
    print(f"{sent} audit event(s) forwarded to {feed.collector.name}")
    return EXIT_OK


def cmd_retention_run(args: argparse.Namespace) -> int:
    """Apply the retention rule now (the app and `serve` also apply it every hour)."""
    from app.retention import apply_retention, due_for_purge

    workstation = open_workstation(profile_root(args))
    days = workstation.settings["retention.days_after_delivery"]
    now = datetime.now(UTC)
    try:
        if args.dry_run:
            due = due_for_purge(workstation.store, days, now)
            print("\n".join(due) or "nothing is due for purging")
            return EXIT_OK
        purged = apply_retention(workstation.store, workstation.audit, days, now,
                                 actor=operator())
    finally:
        workstation.close()
    for item in purged:
        print(f"purged study {item.study_uid} ({item.instances} instance(s))")
    print(f"{len(purged)} stud{'y' if len(purged) == 1 else 'ies'} purged "
          f"(rule: {days} day(s) after the report was delivered)")
    return EXIT_OK


def cmd_config_show(args: argparse.Namespace) -> int:
    paths, settings = open_settings(profile_root(args))
    print(f"# profile {paths.root}")
    for key, value, source, doc in settings.describe():
        print(f"{key} = {json.dumps(value)}    # {source}: {doc}")
    return EXIT_OK


def cmd_config_set(args: argparse.Namespace) -> int:

    paths, settings = open_settings(profile_root(args))
    if args.key not in DEFAULTS:
        raise ConfigError(f"unknown setting {args.key!r}; see `telerad config show`")
    default = DEFAULTS[args.key][0]
    try:
        value = args.value if isinstance(default, str) else json.loads(args.value)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{args.key} needs a {type(default).__name__} value") from exc
    save_settings(settings.with_value(args.key, value), paths.settings)
    print(f"{args.key} = {json.dumps(value)}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import run_demo

    return run_demo(args)


def cmd_snapshot(args: argparse.Namespace) -> int:
    from app.snapshot import render_snapshot

    with opened(args) as workstation:
        access = signed_in_access(workstation, args.user)
        out = render_snapshot(workstation, args.study, Path(args.out), access=access,
                              prior_uid=args.prior, reason=args.reason,
                              preset_name=args.preset, slice_number=args.slice)
    print(f"snapshot written to {out}")
    return EXIT_OK


def cmd_gui(args: argparse.Namespace) -> int:
    from app.ui.launch import run_gui

    return run_gui(open_workstation(profile_root(args)))


# ---- parser ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telerad",
        description="Teleradiology reporting workstation: DICOM node, encrypted study store "
                    "and reporting. Run `telerad demo` to try it with synthetic studies.",
    )
    parser.add_argument("--version", action="version", version=f"telerad {__version__}")
    parser.add_argument("--profile", metavar="DIR",
                        help=f"profile directory (default: ${PROFILE_ENV}, else the platform's "
                             "user data directory); created on first use")
    parser.add_argument("-v", "--verbose", action="store_true", help="log DICOM traffic")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Callable[[argparse.Namespace], int], help_text: str,
            parent: argparse._SubParsersAction = commands) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    demo = add("demo", cmd_demo, "throw-away profile, node on 127.0.0.1, synthetic current and "
               "prior studies sent to it, main window on the worklist")
    demo.add_argument("--headless", action="store_true",
                      help="no window: keep the node running until Ctrl-C")
    demo.add_argument("--port", type=int, default=11112,
                      help="node port (default 11112; a free port if that one is taken)")
    demo.add_argument("--ct-slices", type=int, default=320, metavar="N",
                      help="slices in the large CT chest (default 320)")
    demo.add_argument("--keep", action="store_true",
                      help="keep the demo profile on exit (it is deleted otherwise)")
    demo.add_argument("--exit-after-send", action="store_true",
                      help="stop once every synthetic study is stored (for scripts)")

    serve = add("serve", cmd_serve, "run the DICOM node in the foreground until SIGINT/SIGTERM")
    serve.add_argument("--host", help="listen address (default: node.host)")
    serve.add_argument("--port", type=int, help="TCP port (default: node.port)")
    serve.add_argument("--ae-title", help="our AE title (default: node.ae_title)")

    add("gui", cmd_gui, "open the workstation window on the worklist (the node runs inside)")

    snapshot = add("snapshot", cmd_snapshot, "render offscreen what the comparison window "
                   "shows (banners, overlays, both panes) to a PNG; a prior of another "
                   "patient is refused and no image is written")
    snapshot.add_argument("--study", required=True, metavar="UID", help="the current study")
    snapshot.add_argument("--prior", metavar="UID", help="the prior to show beside it")
    snapshot.add_argument("--reason", default="",
                          help="why a partly matching prior is the same patient (audited)")
    snapshot.add_argument("--preset", default="", help="window preset, e.g. lung, bone, brain")
    snapshot.add_argument("--slice", type=int, metavar="N", help="slice number (from 1)")
    snapshot.add_argument("--out", required=True, metavar="FILE.png", help="PNG to write")
    snapshot.add_argument("--user", metavar="USERNAME", help=SIGN_IN_HELP)

    studies = add("studies", cmd_studies, "list received studies")
    studies.add_argument("--json", action="store_true", help="one JSON object per study")
    studies.add_argument("--user", metavar="USERNAME", help=SIGN_IN_HELP)

    peers = add("peers", lambda a: EXIT_USAGE, "configured DICOM peers (who may send to us, "
                "and the PACS that receives our reports)")
    peer_commands = peers.add_subparsers(dest="peers_command", metavar="ACTION", required=True)
    peers_add = add("add", cmd_peers_add, "add or replace a peer", peer_commands)
    peers_add.add_argument("ae_title", metavar="AE_TITLE")
    peers_add.add_argument("--host", help="required source address (sender) or address (pacs)")
    peers_add.add_argument("--port", type=int, help="port of a pacs peer")
    peers_add.add_argument("--role", choices=("sender", "pacs"), default="sender",
                           help="sender: may send to us; pacs: may send and receives our SRs")
    add("list", cmd_peers_list, "list peers", peer_commands)
    peers_remove = add("remove", cmd_peers_remove, "remove a peer", peer_commands)
    peers_remove.add_argument("ae_title", metavar="AE_TITLE")

    audit = add("audit", lambda a: EXIT_USAGE, "the hash-chained audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    add("verify", cmd_audit_verify,
        "recompute the chain: exit 0 if intact, 1 naming the first bad entry", audit_commands)
    show = add("show", cmd_audit_show, "print audit events, oldest first", audit_commands)
    show.add_argument("--limit", type=int, default=0, help="only the last N events")
    show.add_argument("--json", action="store_true", help="JSON output")
    export = add("export", cmd_audit_export, "write the whole trail for IT: JSON, or XML with "
                 "one DICOM audit message (PS3.15 A.5) per event", audit_commands)
    export.add_argument("--format", choices=("json", "xml"), default="json",
                        help="json (default) or xml")
    export.add_argument("--out", metavar="FILE", help="file to write (default: standard output)")
    add("forward", cmd_audit_forward, "send the queued events to the syslog collector "
        "(audit.syslog.host) now: exit 1 if it cannot be reached", audit_commands)

    register_user_commands(commands, add)
    register_report_commands(commands, add)
    register_qa_commands(commands, add)
    register_kpi_commands(commands, add)
    register_discrepancy_commands(commands, add)

    retention = add("retention", lambda a: EXIT_USAGE, "crypto-shred local copies once their "
                    "reports are delivered (rule: retention.days_after_delivery)")
    retention_commands = retention.add_subparsers(dest="retention_command", metavar="ACTION",
                                                  required=True)
    run = add("run", cmd_retention_run, "purge every study the rule says is due: its key, "
              "index rows and files; each purge is audited (DICOM Study Deleted 110105)",
              retention_commands)
    run.add_argument("--dry-run", action="store_true", help="list what is due, purge nothing")

    config = add("config", lambda a: EXIT_USAGE, "settings of this profile")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION",
                                            required=True)
    add("show", cmd_config_show, "effective settings, their source and meaning", config_commands)
    config_set = add("set", cmd_config_set, "change one setting", config_commands)
    config_set.add_argument("key")
    config_set.add_argument("value", help="a string, or JSON for numbers, booleans and tables")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.umask(0o077)  # profile files (index, settings, objects) readable by this user only
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("pynetdicom").setLevel(logging.ERROR)
    try:
        return args.handler(args)
    except (TeleradError, ReportError, DeliveryError) as exc:
        print(f"telerad: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
