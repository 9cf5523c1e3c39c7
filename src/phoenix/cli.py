"""`phoenix` — serve a role, migrate its database, report what a role's process imports.

Imports are deferred into each command so that `phoenix serve --role config` never so much as
loads another role's package (DESIGN §3: the boundary is a start-up fact).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from phoenix import __version__

if TYPE_CHECKING:
    from phoenix.config.settings import ConfigSettings

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from phoenix.settings import SettingsError

    try:
        result: int = args.handler(args)
    except SettingsError as error:
        _fail(str(error))
    except ValueError as error:
        _fail(str(error))
    return result


def _fail(message: str) -> NoReturn:
    # One line, always: drivers like to add hints on a second line.
    print("phoenix: " + " ".join(message.split()), file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phoenix", description=__doc__)
    parser.add_argument("--version", action="version", version=f"phoenix {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run one role's server")
    serve.add_argument(
        "--role",
        default=os.environ.get("PHOENIX_ROLE"),
        help="auth|config|analytics|worker (or PHOENIX_ROLE)",
    )
    serve.add_argument("--host", default=os.environ.get("PHOENIX_HOST", "127.0.0.1"))
    serve.add_argument(
        "--port", type=int, default=None, help="default: the role's development port"
    )
    serve.add_argument("--workers", type=int, default=int(os.environ.get("PHOENIX_WORKERS", "1")))
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="create (if missing) and upgrade a database")
    migrate.add_argument("--db", required=True, choices=["userdb", "nodedb", "analytics"])
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(handler=_migrate)

    report = commands.add_parser(
        "boundary-report", help="JSON: modules a role's process has imported"
    )
    report.add_argument("--role", required=True)
    report.set_defaults(handler=_boundary_report)

    issuer = commands.add_parser("issuer", help="issuer key management")
    issuer_commands = issuer.add_subparsers(dest="issuer_command", required=True)
    keygen = issuer_commands.add_parser("keygen", help="add a new RSA-2048 key to a PEM bundle")
    keygen.add_argument("--out", required=True, help="bundle file (created, or appended to)")
    keygen.add_argument("--not-before", default=None, help="ISO 8601 time (default: now)")
    keygen.set_defaults(handler=_issuer_keygen)

    node = commands.add_parser("node", help="exit-node enrollment (config role, against NodeDB)")
    node_commands = node.add_subparsers(dest="node_command", required=True)
    enroll_key = node_commands.add_parser(
        "enroll-key", help="print single-use enrollment keys for one location, one a line"
    )
    enroll_key.add_argument("--location", required=True, help="location code, e.g. de-fra")
    enroll_key.add_argument("--expires", default="1h", help="lifetime: 90s, 30m, 1h, 7d")
    enroll_key.add_argument("--count", type=int, default=1, help="how many keys (1-100)")
    enroll_key.set_defaults(handler=_node_enroll_key)
    approve = node_commands.add_parser("approve", help="let a pending node take users")
    approve.add_argument("node_id")
    approve.set_defaults(handler=_node_approve)

    dev = commands.add_parser("dev", help="development-only commands (PHOENIX_ENV=dev)")
    dev_commands = dev.add_subparsers(dest="dev_command", required=True)
    show = dev_commands.add_parser(
        "settings", help="print a role's resolved settings, secrets masked"
    )
    show.add_argument("--role", required=True)
    show.set_defaults(handler=_dev_settings)
    grant = dev_commands.add_parser("grant", help="give a Firebase user an entitlement")
    grant.add_argument("--email", required=True)
    grant.add_argument("--days", type=int, default=30)
    grant.set_defaults(handler=_dev_grant)
    dev_up = dev_commands.add_parser("up", help="run every role in the foreground (make dev)")
    dev_up.set_defaults(handler=_dev_up)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from phoenix.app import DEFAULT_PORTS, check_role, load_settings
    from phoenix.server import serve

    if not args.role:
        _fail("PHOENIX_ROLE: missing (or pass --role)")
    role = check_role(args.role)
    if args.workers < 1:
        _fail("--workers must be at least 1")
    # Fail fast here, in one process, rather than once per server worker.
    settings = load_settings(role)
    port = args.port if args.port is not None else DEFAULT_PORTS[role]
    serve(role, settings, host=args.host, port=port, workers=args.workers)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from phoenix.migrations import MigrationSetupError, database_url, upgrade

    url = database_url(args.db)
    try:
        created = upgrade(args.db, url, args.revision)
    except MigrationSetupError as error:
        _fail(str(error))
    except Exception as error:  # a database error: one line, not a trace
        _fail(f"migrate --db {args.db} failed: {type(error).__name__}: {error}")
    state = "created and migrated" if created else "migrated"
    print(json.dumps({"db": args.db, "revision": args.revision, "result": state}))
    return 0


def _boundary_report(args: argparse.Namespace) -> int:
    from phoenix.boundary import report

    print(json.dumps(report(args.role), indent=2))
    return 0


def _issuer_keygen(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    from phoenix.auth.keys import KeyBundleError, generate, parse_bundle, render_key

    out = Path(args.out)
    existing_text = out.read_text() if out.exists() else ""
    try:
        existing = parse_bundle(existing_text) if existing_text.strip() else []
        moment = (
            datetime.fromisoformat(args.not_before.replace("Z", "+00:00"))
            if args.not_before
            else datetime.now(UTC).replace(microsecond=0)
        )
        if moment.tzinfo is None:
            _fail("--not-before needs a time zone (e.g. 2026-12-01T00:00:00Z)")
        key = generate(existing, moment)
    except (KeyBundleError, ValueError) as error:
        _fail(f"{out}: {error}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as bundle:
        if existing_text and not existing_text.endswith("\n"):
            bundle.write("\n")
        bundle.write(render_key(key.private_key, moment))
    out.chmod(0o600)
    print(
        json.dumps(
            {
                "bundle": str(out),
                "truncated_key_id": key.truncated_id,
                "not_before": moment.isoformat(),
                "keys": len(existing) + 1,
            }
        )
    )
    return 0


def _duration_seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit():
        _fail(f"--expires {text!r}: a number and one of s, m, h, d (e.g. 1h)")
    return int(number) * units[unit]


def _config_engine_settings() -> ConfigSettings:
    import structlog

    from phoenix.app import load_settings
    from phoenix.config.settings import ConfigSettings

    # Standard output carries the command's answer (keys, one a line); log lines go aside.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))

    if os.environ.get("PHOENIX_ENV") == "dev":
        from phoenix.devrun import environment

        os.environ.update(environment(os.environ))  # the databases `make dev` runs with
    settings = load_settings("config")
    assert isinstance(settings, ConfigSettings)
    return settings


def _node_enroll_key(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import UTC, datetime

    import msgspec

    from phoenix.common.database import create_engine
    from phoenix.config.nodes.schemas import EnrollmentKeyRequest
    from phoenix.config.nodes.service import mint_keys

    settings = _config_engine_settings()
    try:
        request = msgspec.convert(
            {
                "location": args.location,
                "expires_in": _duration_seconds(args.expires),
                "count": args.count,
            },
            EnrollmentKeyRequest,
        )
    except msgspec.ValidationError as error:
        _fail(f"node enroll-key: {error}")

    async def run() -> list[str]:
        engine = create_engine(settings.nodedb_url, pool_size=1)
        try:
            return (await mint_keys(engine, request, datetime.now(UTC))).keys
        finally:
            await engine.dispose()

    for key in asyncio.run(run()):
        print(key)
    return 0


def _node_approve(args: argparse.Namespace) -> int:
    import asyncio
    import uuid

    from phoenix.common.database import create_engine
    from phoenix.config.nodes.service import NotPending, approve_node

    settings = _config_engine_settings()
    try:
        node_id = uuid.UUID(args.node_id)
    except ValueError:
        _fail(f"node approve: {args.node_id!r} is not a node id")

    async def run() -> None:
        engine = create_engine(settings.nodedb_url, pool_size=1)
        try:
            await approve_node(engine, node_id)
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except NotPending:
        _fail(f"node approve: no pending node {node_id}")
    print(json.dumps({"id": str(node_id), "status": "active"}))
    return 0


def _dev_grant(args: argparse.Namespace) -> int:
    _require_dev()
    import asyncio
    from datetime import UTC, datetime

    from firebase_admin import auth

    from phoenix.app import load_settings
    from phoenix.auth import users
    from phoenix.auth.firebase import FirebaseVerifier
    from phoenix.auth.settings import AuthSettings
    from phoenix.common.database import create_engine
    from phoenix.devrun import environment

    os.environ.update(environment(os.environ))  # the same defaults `make dev` runs with
    settings = load_settings("auth")
    assert isinstance(settings, AuthSettings)
    verifier = FirebaseVerifier(settings)
    try:
        uid = auth.get_user_by_email(args.email, app=verifier.app).uid
    except auth.UserNotFoundError:
        _fail(f"no Firebase user with email {args.email}: sign up first")
    finally:
        verifier.close()

    async def run() -> datetime:
        engine = create_engine(settings.userdb_url, pool_size=1)
        try:
            async with engine.begin() as connection:
                await users.upsert_user(connection, uid, args.email)
                return await users.grant(connection, uid, args.days, datetime.now(UTC))
        finally:
            await engine.dispose()

    expires = asyncio.run(run())
    print(json.dumps({"uid": uid, "email": args.email, "entitled_until": expires.isoformat()}))
    return 0


def _dev_settings(args: argparse.Namespace) -> int:
    _require_dev()
    import msgspec

    from phoenix.app import check_role, load_settings, settings_type
    from phoenix.settings import secret_fields

    role = check_role(args.role)
    settings = load_settings(role)
    shown = msgspec.to_builtins(settings)
    for name in secret_fields(settings_type(role)):
        if shown.get(name):
            shown[name] = "***"
    print(json.dumps(shown, indent=2, sort_keys=True))
    return 0


def _dev_up(_: argparse.Namespace) -> int:
    _require_dev()
    from phoenix.devrun import DevError, up

    try:
        return up()
    except DevError as error:
        _fail(str(error))


def _require_dev() -> None:
    if os.environ.get("PHOENIX_ENV") != "dev":
        _fail("PHOENIX_ENV: development commands are refused unless PHOENIX_ENV=dev")
