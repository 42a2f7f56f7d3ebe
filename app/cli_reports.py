"""`telerad outbox` and `telerad macros`: report delivery for IT, text macros for reporters."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime

from app.audit import AuditEvent, EventId
from app.cli_common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, opened, operator, table
from app.cli_users import SIGN_IN_HELP, signed_in_access
from app.delivery import DeliveryWorker, outbox_of
from app.errors import AuthError, ConfigError
from reporting.outbox import DeliveryStatus
from reporting.records import MacroBook

Add = Callable[..., argparse.ArgumentParser]


def cmd_outbox_list(args: argparse.Namespace) -> int:
    with opened(args) as workstation:
        entries = outbox_of(workstation).entries()
    if args.json:
        print(json.dumps([asdict(e) | {"shown_status": e.shown_status} for e in entries],
                         indent=2))
        return EXIT_OK
    rows = [[str(e.entry_id), e.study_uid, str(e.part_number), e.destination,
             e.created_at[:19], str(e.attempts), e.shown_status] for e in entries]
    print(table(["ID", "STUDY UID", "PART", "DESTINATION", "SIGNED (UTC)", "TRIES", "STATUS"],
                rows, [6, 64, 4, 20, 19, 5, 80]))
    pending = sum(e.status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING) for e in entries)
    failed = sum(e.status is DeliveryStatus.FAILED for e in entries)
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}: {pending} pending, "
          f"{failed} failed")
    return EXIT_OK


def cmd_outbox_send(args: argparse.Namespace) -> int:
    """Deliver what is due now; with --wait keep going until nothing is pending."""
    with opened(args) as workstation:
        if args.user:
            signed_in_access(workstation, args.user)  # the messages open with the reading key
        if workstation.store.locked:
            raise AuthError("the queued messages are sealed to the reading key: sign in with "
                            "--user NAME")
        worker, outbox = DeliveryWorker(workstation), outbox_of(workstation)
        deadline = time.monotonic() + args.wait
        while True:
            for delivery in worker.deliver_due():
                entry = delivery.entry
                print(f"{entry.entry_id}: part {entry.part_number} of {entry.study_uid} to "
                      f"{entry.destination}: {delivery.status.value}"
                      + (f" ({delivery.error})" if delivery.error else ""), flush=True)
            if not outbox.pending() or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        pending = outbox.pending()
        failed = sum(e.status is DeliveryStatus.FAILED for e in outbox.entries())
    print(f"{pending} pending, {failed} failed")
    return EXIT_FAILURE if pending or failed else EXIT_OK


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    with opened(args) as workstation:
        try:
            entry = outbox_of(workstation).retry(args.entry_id, now=datetime.now(UTC))
        except KeyError as exc:
            raise ConfigError(str(exc.args[0])) from exc
        workstation.audit.record(AuditEvent(
            EventId.EXPORT, "U", operator(), objects=(("study", entry.study_uid),),
            detail=f"outbox entry {entry.entry_id} to {entry.destination} queued again"))
    print(f"entry {entry.entry_id}: {entry.shown_status}")
    return EXIT_OK


def cmd_macros_list(args: argparse.Namespace) -> int:
    with opened(args) as workstation:
        macros = MacroBook(workstation.database).macros(args.user)
    print(table(["MACRO", "EXPANSION"], [[k, v] for k, v in sorted(macros.items())], [22, 100]))
    return EXIT_OK


def cmd_macros_set(args: argparse.Namespace) -> int:
    with opened(args) as workstation:
        MacroBook(workstation.database).set(args.user, args.abbreviation, args.expansion)
    print(f"{args.user}: {args.abbreviation} saved")
    return EXIT_OK


def cmd_macros_remove(args: argparse.Namespace) -> int:
    with opened(args) as workstation:
        MacroBook(workstation.database).remove(args.user, args.abbreviation)
    print(f"{args.user}: {args.abbreviation} removed")
    return EXIT_OK


def register_report_commands(commands: argparse._SubParsersAction, add: Add) -> None:
    outbox = add("outbox", cmd_outbox_list, "reports waiting for or done with delivery to the "
                 "PACS (DICOM SR) and the RIS (HL7 ORU^R01), with their status")
    outbox.add_argument("--json", action="store_true", help="JSON output")
    actions = outbox.add_subparsers(dest="outbox_command", metavar="ACTION")
    send = add("send", cmd_outbox_send, "deliver what is due now (the app and `serve` do this "
               "on their own); exit 1 while anything is pending or failed", actions)
    send.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                      help="keep delivering until nothing is pending, at most this long")
    send.add_argument("--user", metavar="USERNAME", help=SIGN_IN_HELP)
    retry = add("retry", cmd_outbox_retry, "queue a refused entry again once its cause is "
                "fixed (audited)", actions)
    retry.add_argument("entry_id", type=int, metavar="ID")

    macros = add("macros", lambda a: EXIT_USAGE, "a reporter's text macros: type the "
                 "abbreviation and a space in the report editor to expand it")
    macro_actions = macros.add_subparsers(dest="macros_command", metavar="ACTION",
                                          required=True)
    listing = add("list", cmd_macros_list, "the macros a reporter has (own and default)",
                  macro_actions)
    listing.add_argument("user", metavar="USERNAME")
    setting = add("set", cmd_macros_set, "add or change a macro", macro_actions)
    setting.add_argument("user", metavar="USERNAME")
    setting.add_argument("abbreviation", metavar="ABBREVIATION", help="e.g. .nad")
    setting.add_argument("expansion", metavar="TEXT")
    removing = add("remove", cmd_macros_remove, "remove an own macro", macro_actions)
    removing.add_argument("user", metavar="USERNAME")
    removing.add_argument("abbreviation", metavar="ABBREVIATION")
