"""`truckguard users`: accounts of the web site, their API tokens and second factors."""

from __future__ import annotations

import argparse
import sys

from telematics.settings import Settings
from truckguard.commands.common import Subparsers, add_action, add_command, database_url_flag

NO_TERMINAL = ("password: no terminal to ask for it on; pipe it in with --password-stdin "
               "(printf '%s\\n' \"$PASSWORD\" | truckguard users add NAME --role ROLE --password-stdin)")


def ask_password() -> str:
    """The password typed at the terminal, not echoed; BadInput (one line) when there is no terminal to ask on, as
    under cron, a CI runner or `ssh host cmd`, where getpass would echo it or end in EOFError."""
    import getpass

    from telematics.errors import BadInput

    if not sys.stdin.isatty():
        try:
            # getpass asks on the controlling terminal when there is one, even with stdin redirected.
            with open("/dev/tty"):
                pass
        except OSError:
            raise BadInput(NO_TERMINAL) from None
    try:
        return getpass.getpass("password: ")
    except EOFError:
        raise BadInput(NO_TERMINAL) from None


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    from web.accounts import add_user
    from web.db import find_store

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else ask_password()
    store = find_store(settings.database_url, settings.data_dir, create=True)
    secret = add_user(store, args.username, password, args.role, args.fleet or ())
    print(f"user {args.username} ({args.role}) created")
    if secret:
        print(f"second-factor secret (base32, for an authenticator app): {secret}")
    return 0


def cmd_users_token(args: argparse.Namespace, settings: Settings) -> int:
    from web.db import find_store
    from web.tokens import issue_token

    print(issue_token(find_store(settings.database_url, settings.data_dir), args.username, args.name))
    return 0


def cmd_users_totp(args: argparse.Namespace, settings: Settings) -> int:
    from web.accounts import reset_second_factor
    from web.db import find_store

    secret = reset_second_factor(find_store(settings.database_url, settings.data_dir), args.username)
    print(f"new second-factor secret for {args.username} (base32, for an authenticator app): {secret}")
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(sub, "users", cmd_users_add, "Accounts of the web site.")
    actions = p.add_subparsers(dest="users_action", required=True, metavar="ACTION")
    add = add_action(actions, "add", cmd_users_add, "create an account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=("fleet_operator", "rental", "law_enforcement", "admin"))
    add.add_argument("--fleet", action="append", help="a fleet the account may see (repeat for several)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    database_url_flag(add)
    token = add_action(actions, "token", cmd_users_token, "issue an API bearer token for an account")
    token.add_argument("username")
    token.add_argument("--name", default="cli", help="what the token is for (shown on the account page)")
    database_url_flag(token)
    totp = add_action(
        actions,
        "totp",
        cmd_users_totp,
        "issue a new second factor (TOTP secret) to an officer or administrator; ends their sessions",
    )
    totp.add_argument("username")
    database_url_flag(totp)
