"""`phoenix-client`: the command line. Each command prints its result, or one line on stderr.

Exit codes: 0 done; 1 a server refused (4xx) or nothing to do it with; 2 a bad command line or
local file; 3 a server unreachable or failing (5xx) — try again later.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from phoenix.client import account, blocklist, identity, issuance, tunnel
from phoenix.client.endpoints import Endpoints, call, client
from phoenix.client.errors import EXIT_OK, EXIT_USAGE, ClientError
from phoenix.client.wallet import forget_session, load_wallet, save_session


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phoenix-client",
        description="The Phoenix reference client (defaults: `make dev` on this machine).",
    )
    for option, variable in (
        ("--auth-url", "PHOENIX_CLIENT_AUTH_URL"),
        ("--config-url", "PHOENIX_CLIENT_CONFIG_URL"),
        ("--blocklist-url", "PHOENIX_CLIENT_BLOCKLIST_URL"),
        ("--blocklist-key", "PHOENIX_CLIENT_BLOCKLIST_KEY"),
        ("--firebase-emulator", "PHOENIX_CLIENT_FIREBASE_EMULATOR"),
        ("--firebase-api-key", "PHOENIX_CLIENT_FIREBASE_API_KEY"),
        ("--home", "PHOENIX_CLIENT_HOME"),
    ):
        parser.add_argument(option, help=f"(or {variable})")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("signup", "create an account"), ("login", "sign in")):
        sub = commands.add_parser(name, help=f"{text} (Firebase email + password)")
        sub.add_argument("--email", required=True)
        sub.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    commands.add_parser("logout", help="forget the session (tokens stay)")
    acct = commands.add_parser("account", help="the account, subscription and quota")
    acct.add_argument("--delete", action="store_true", help="delete the account for good")
    tokens = commands.add_parser("tokens", help="unlinkable access tokens")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True)
    fetch = token_commands.add_parser("fetch", help="fetch tokens from the issuer")
    fetch.add_argument("--count", type=int, required=True)
    fetch.add_argument("--batch", type=int, default=issuance.MAX_BATCH)
    token_commands.add_parser("count", help="how many tokens the wallet holds")
    commands.add_parser("locations", help="where one can connect")
    conn = commands.add_parser("connect", help="redeem one token for a WireGuard config")
    conn.add_argument("--location", required=True)
    conn.add_argument("--wg-quick", type=Path, help="write the wg-quick file here (else stdout)")
    conn.add_argument(
        "--server-keys", action="store_true", help="let the server make the key pair (sealed)"
    )
    conn.add_argument(
        "--dns", metavar="VARIANT", help="DNS blocking for this tunnel (e.g. base); default none"
    )
    block = commands.add_parser("blocklist", help="the ad and tracker blocklist")
    block_commands = block.add_subparsers(dest="blocklist_command", required=True)
    check = block_commands.add_parser("check", help="is NAME (or a parent) listed?")
    check.add_argument("name")
    check.add_argument("--variant", default="base")
    return parser


def _password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
    if not password:
        raise ClientError("no password given", EXIT_USAGE)
    return password


def _run(args: argparse.Namespace, endpoints: Endpoints, http: httpx.Client) -> int:
    command = args.command
    if command in ("signup", "login"):
        sign = identity.sign_up if command == "signup" else identity.sign_in
        session = sign(http, endpoints, args.email, _password(args.password_stdin))
        save_session(endpoints.home, session)
        print(f"signed in as {session.email}")
    elif command == "logout":
        forget_session(endpoints.home)
        print("signed out (the tokens in the wallet stay usable)")
    elif command == "account" and args.delete:
        account.delete(http, endpoints)
        forget_session(endpoints.home)
        print("account deleted (tokens already fetched stay usable: they name no account)")
    elif command == "account":
        print(json.dumps(account.show(http, endpoints), indent=2))
    elif command == "tokens" and args.tokens_command == "fetch":
        if not 1 <= args.count <= 10_000 or not 1 <= args.batch <= 1024:
            raise ClientError("--count is 1 to 10000 and --batch 1 to 1024", EXIT_USAGE)
        held = issuance.fetch(http, endpoints, args.count, args.batch)
        print(f"fetched {args.count} tokens; the wallet holds {held}")
    elif command == "tokens":
        print(len(load_wallet(endpoints.home).tokens))
    elif command == "locations":
        _locations(http, endpoints)
    elif command == "connect":
        made = tunnel.connect(
            http, endpoints, args.location, server_keys=args.server_keys, dns=args.dns
        )
        if args.wg_quick is None:
            sys.stdout.write(made.wg_quick())
        else:
            _write_private(args.wg_quick, made.wg_quick())
            print(
                f"wrote {args.wg_quick}: {', '.join(made.addresses)} via {made.endpoint}, "
                f"until {made.expires_at}; {len(load_wallet(endpoints.home).tokens)} tokens left"
            )
    else:
        listed = blocklist.check(http, endpoints, args.name, args.variant)
        print(f"{args.name}: " + (f"listed ({listed})" if listed else "not listed"))
    return EXIT_OK


def _locations(http: httpx.Client, endpoints: Endpoints) -> None:
    answer = call(http, "config", "GET", endpoints.config + "/v1/locations").json()
    rows = answer.get("locations", [])
    if not rows:
        print("no location is available right now")
    for row in rows:
        state = row["load"] if row["available"] else "full"
        print(f"{row['location']:<12} {row['country']} {row['city']:<16} {state}")


def _write_private(path: Path, text: str) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
    except OSError as error:
        raise ClientError(f"cannot write {path}: {error.strerror}", EXIT_USAGE) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    endpoints = Endpoints.from_env(
        os.environ,
        auth_url=args.auth_url,
        config_url=args.config_url,
        blocklist_url=args.blocklist_url,
        blocklist_key=args.blocklist_key,
        firebase_emulator=args.firebase_emulator,
        firebase_api_key=args.firebase_api_key,
        home=args.home,
    )
    try:
        with client() as http:
            return _run(args, endpoints, http)
    except ClientError as error:
        print(f"phoenix-client: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
