"""`telerad users …`: local accounts, run by the workstation's administrator (issue 4)."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime

from app.access import StudyAccess
from app.auth import Authenticator, LoginPolicy, Session
from app.cli_common import EXIT_OK, EXIT_USAGE, opened, operator, profile_root, table
from app.errors import AuthError, ConfigError
from app.reading_keys import READER_ROLES
from app.users import ROLES, UNTIL_UNLOCKED, User, UserDirectory, validate_username
from app.workstation import Workstation, open_settings

NEW_PASSWORD_ENV = "TELERAD_NEW_PASSWORD"
PASSWORD_ENV, CODE_ENV = "TELERAD_PASSWORD", "TELERAD_CODE"
SIGN_IN_HELP = (f"sign in as this user (needed once the profile has accounts): password from "
                f"${PASSWORD_ENV} or a prompt, one-time code from ${CODE_ENV} or a prompt")


def signed_in_access(workstation: Workstation, username: str | None) -> StudyAccess | None:
    """Commands that show patient images sign in once the profile has accounts (issue 4);
    None (the default reporter's view) while it has none."""
    directory = UserDirectory(workstation.database, workstation.audit, operator=operator())
    if not directory.list_users():
        return None
    if not username:
        raise AuthError("this profile has user accounts: sign in with --user NAME")
    session = sign_in(workstation, directory, username)
    return StudyAccess(workstation.store, workstation.audit, session.username, session.role)


def sign_in(workstation: Workstation, directory: UserDirectory, username: str) -> Session:
    """Password and one-time code (environment or prompt), then patient data opens with
    the user's key slot (app/reading_keys.py)."""
    password, code = os.environ.get(PASSWORD_ENV), os.environ.get(CODE_ENV)
    if (password is None or code is None) and not sys.stdin.isatty():
        raise AuthError(f"sign-in needs {PASSWORD_ENV} and {CODE_ENV}, or a terminal")
    if password is None:
        password = getpass.getpass(f"password of {username}: ")
    if code is None:
        code = input("one-time code: ").strip()
    authenticator = Authenticator(directory, workstation.audit,
                                  LoginPolicy.from_settings(workstation.settings))
    session = authenticator.login(username, password, code, now=datetime.now(UTC))
    workstation.open_for(session.username, session.role, password)
    return session


@contextlib.contextmanager
def _users(args: argparse.Namespace) -> Iterator[UserDirectory]:
    """The profile's accounts; changes are audited under the OS login name of the operator."""
    with opened(args) as workstation:
        yield UserDirectory(workstation.database, workstation.audit, operator=operator())


def _new_password() -> str:
    """From TELERAD_NEW_PASSWORD (scripts), else typed twice without echo."""
    password = os.environ.get(NEW_PASSWORD_ENV)
    if password is not None:
        return password
    if not sys.stdin.isatty():
        raise AuthError(f"no password given: set {NEW_PASSWORD_ENV} or run from a terminal")
    first = getpass.getpass("new password (at least 12 characters): ")
    if getpass.getpass("the same password again: ") != first:
        raise AuthError("the two passwords differ; nothing was changed")
    return first


def _print_enrolment(uri: str) -> None:
    """The otpauth URI and its QR code, drawn with text blocks for any terminal."""
    import segno

    print("Scan this QR code with an authenticator app, or enter the URI into it by hand "
          "(it is shown only now):")
    print(uri)
    drawing = io.StringIO()
    segno.make(uri, error="m").terminal(out=drawing, compact=True)
    try:
        print(drawing.getvalue(), end="", flush=True)
    except UnicodeEncodeError:
        print("(this terminal cannot draw the QR code: enter the URI above by hand)")


def _state(user: User) -> str:
    if user.disabled:
        return "disabled"
    if user.locked_at(datetime.now(UTC)):
        assert user.locked_until is not None
        until = user.locked_until
        return "locked" if until >= UNTIL_UNLOCKED else f"locked until {until:%Y-%m-%d %H:%M} UTC"
    return "active"


def cmd_users_add(args: argparse.Namespace) -> int:
    """Enrol an account; a reader also gets a key slot, given by a signed-in reader once
    the profile has one (``--by``), so the new account can open patient data."""
    validate_username(args.username)  # before asking for a password
    with opened(args) as workstation:
        users = UserDirectory(workstation.database, workstation.audit, operator=operator())
        reader = args.role in READER_ROLES
        if reader and args.by:
            sign_in(workstation, users, args.by)
        if reader and workstation.store.locked:
            raise AuthError("a new reporter or admin needs a key to the patient data, which "
                            "only a signed-in reader can give: add --by NAME")
        password = _new_password()
        user, uri = users.add_user(args.username, args.name, args.role, password, args.gmc)
        if reader:
            workstation.grant_reading_key(user.username, password)
    gmc = f", GMC {user.gmc_number}" if user.gmc_number else ""
    print(f"user {user.username} added: {user.display_name}, {user.role}{gmc}")
    _print_enrolment(uri)
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace) -> int:
    with _users(args) as users:
        listed = users.list_users()
    if args.json:
        print(json.dumps([{**asdict(u), "state": _state(u)} for u in listed], indent=2,
                         default=datetime.isoformat))
        return EXIT_OK
    rows = [[u.username, u.display_name, u.role, u.gmc_number, _state(u),
             u.created_at.isoformat()[:16]] for u in listed]
    print(table(["USERNAME", "NAME", "ROLE", "GMC", "STATE", "CREATED (UTC)"], rows,
                 [32, 32, 10, 7, 34, 16]))
    print(f"{len(listed)} user{'' if len(listed) == 1 else 's'}")
    return EXIT_OK


def cmd_users_disable(args: argparse.Namespace) -> int:
    with opened(args) as workstation:
        UserDirectory(workstation.database, workstation.audit,
                      operator=operator()).disable(args.username)
        workstation.reading_keys.revoke(args.username)  # and its key to patient data
    print(f"user {args.username} disabled: it can no longer sign in")
    return EXIT_OK


def cmd_users_unlock(args: argparse.Namespace) -> int:
    with _users(args) as users:
        users.unlock(args.username)
    print(f"user {args.username} unlocked; failed attempts forgotten")
    return EXIT_OK


def cmd_users_reset_totp(args: argparse.Namespace) -> int:
    with _users(args) as users:
        uri = users.reset_totp(args.username)
    print(f"one-time code of {args.username} reset: the old codes no longer work")
    _print_enrolment(uri)
    return EXIT_OK


def cmd_users_code(args: argparse.Namespace) -> int:
    _, settings = open_settings(profile_root(args))
    if not settings["profile.demo"]:
        raise ConfigError(
            "`telerad users code` works on demo profiles only (profile.demo is false): read "
            "the code from the authenticator app enrolled by `telerad users add` or "
            "`telerad users reset-totp`"
        )
    with _users(args) as users:
        code = users.current_code(args.username, now=datetime.now(UTC))
    print(code)
    return EXIT_OK


def register_user_commands(commands: argparse._SubParsersAction,
                           add: Callable[..., argparse.ArgumentParser]) -> None:
    """The `users` command group of the top-level parser."""
    users = add("users", lambda a: EXIT_USAGE, "local accounts: who may sign in and in which "
                "role (run by the workstation's administrator)")
    user_commands = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    users_add = add("add", cmd_users_add, "enrol an account: the password comes from "
                    f"${NEW_PASSWORD_ENV} or is typed twice; prints the otpauth URI and a QR "
                    "code for the user's authenticator app", user_commands)
    users_add.add_argument("username", metavar="USERNAME",
                           help="2 to 32 lowercase letters, digits, '.', '_' or '-'")
    users_add.add_argument("--name", required=True, help='display name, e.g. "Dr A Patel"')
    users_add.add_argument("--role", required=True, choices=ROLES,
                           help="reporter: reports the studies assigned to them; it-auditor: "
                                "logs and compliance, no images; admin: everything")
    users_add.add_argument("--gmc", metavar="NUMBER", default="",
                           help="a reporter's 7-digit GMC number (it signs their reports)")
    users_add.add_argument("--by", metavar="NAME",
                           help="an existing reporter or admin who signs in (password and "
                                f"code from ${PASSWORD_ENV}/${CODE_ENV} or prompts) to give "
                                "the new reporter or admin a key to the patient data; not "
                                "needed for the profile's first one")
    users_list = add("list", cmd_users_list, "accounts with role and state (active, locked, "
                     "disabled)", user_commands)
    users_list.add_argument("--json", action="store_true", help="JSON output")
    for name, handler, help_text in (
        ("disable", cmd_users_disable, "stop an account from signing in (its audit history "
         "stays)"),
        ("unlock", cmd_users_unlock, "lift the lock after too many failed sign-ins"),
        ("reset-totp", cmd_users_reset_totp, "new one-time-code secret (lost or new phone): "
         "prints the new otpauth URI and QR code; the old codes stop working"),
        ("code", cmd_users_code, "print the user's current one-time code: demo profiles only "
         "(profile.demo = true), refused on any other"),
    ):
        add(name, handler, help_text, user_commands).add_argument(
            "username", metavar="USERNAME", help="the account's user name")
