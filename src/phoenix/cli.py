"""`phoenix` — serve a role, check its settings, migrate its database, rotate issuer keys.

Imports are deferred into each command so that `phoenix serve --role config` never so much as
loads another role's package (DESIGN §3: the boundary is a start-up fact).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

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
    # --host and --workers default to PHOENIX_HOST / PHOENIX_WORKERS, read (and checked) by the
    # settings loader when the command runs: never here, where a bad value would be a traceback.
    serve.add_argument("--host", default=None, help="default: PHOENIX_HOST (127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=None, help="default: the role's development port"
    )
    serve.add_argument("--workers", type=int, default=None, help="default: PHOENIX_WORKERS (1)")
    serve.set_defaults(handler=_serve)

    health = commands.add_parser(
        "health", help="exit 0 when this machine's server answers /healthz (container HEALTHCHECK)"
    )
    health.add_argument(
        "--role", default=os.environ.get("PHOENIX_ROLE"), help="default: PHOENIX_ROLE"
    )
    health.add_argument("--port", type=int, default=None, help="default: the role's port")
    health.set_defaults(handler=_health)

    check = commands.add_parser(
        "check", help="JSON: a role's effective settings (secrets masked) and every problem"
    )
    check.add_argument("--role", required=True)
    check.set_defaults(handler=_check)

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
    rotate = issuer_commands.add_parser(
        "rotate", help="add the next key (not-before: now + lead) and drop retired ones"
    )
    target = rotate.add_mutually_exclusive_group(required=True)
    target.add_argument("--bundle", help="bundle file, rewritten in place")
    target.add_argument(
        "--secret",
        action="store_true",
        help="a new version of Secrets Manager's BLINDED_SIGNING_PRIVATE_KEY "
        "(under PHOENIX_AWS_SECRETS_PREFIX)",
    )
    rotate.add_argument("--lead", default="24h", help="time until the key signs (default 24h)")
    rotate.add_argument(
        "--max-age", default=None, help="ISO 8601 or seconds (default PHOENIX_ISSUER_KEY_MAX_AGE)"
    )
    rotate.add_argument(
        "--overlap-hours", type=int, default=None, help="default PHOENIX_ISSUER_KEY_OVERLAP_HOURS"
    )
    rotate.set_defaults(handler=_issuer_rotate)

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

    billing = commands.add_parser("billing", help="billing (auth role, against UserDB)")
    billing_commands = billing.add_subparsers(dest="billing_command", required=True)
    reconcile = billing_commands.add_parser(
        "reconcile",
        help="repair what lost webhooks left behind from Stripe's and Apple's own record; "
        "prints what was repaired, by provider and kind",
    )
    reconcile.add_argument(
        "--since", default=None, help="ISO 8601 time (default: where the last run got to)"
    )
    reconcile.add_argument(
        "--dry-run", action="store_true", help="report what would change, change nothing"
    )
    reconcile.set_defaults(handler=_billing_reconcile)

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
    dev_up.add_argument(
        "--no-prometheus",
        dest="prometheus",
        action="store_false",
        help="do not run Prometheus (it runs when installed; make dev PROMETHEUS=no)",
    )
    dev_up.set_defaults(handler=_dev_up)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from phoenix.app import DEFAULT_PORTS, check_role, load_settings
    from phoenix.server import serve

    if not args.role:
        _fail("PHOENIX_ROLE: missing (or pass --role)")
    role = check_role(args.role)
    if args.workers is not None and args.workers < 1:
        _fail("--workers must be at least 1")
    # Fail fast here, in one process, rather than once per server worker.
    settings = load_settings(role)
    port = args.port if args.port is not None else DEFAULT_PORTS[role]
    host = args.host if args.host is not None else settings.host
    workers = args.workers if args.workers is not None else settings.workers
    serve(role, settings, host=host, port=port, workers=workers)
    return 0


def _health(args: argparse.Namespace) -> int:
    """GET /healthz on loopback: the image has no curl, and the probe must not need settings."""
    import urllib.error
    import urllib.request

    from phoenix.app import DEFAULT_PORTS, check_role

    if not args.role:
        _fail("PHOENIX_ROLE: missing (or pass --role)")
    port = args.port if args.port is not None else DEFAULT_PORTS[check_role(args.role)]
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        print(f"phoenix health: {url}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"phoenix health: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


def _check(args: argparse.Namespace) -> int:
    """What `serve` would run with, and everything it would refuse (not only the first)."""
    from phoenix.app import check_role, settings_type
    from phoenix.settings import SettingsError, load, production_problems, redacted

    role = check_role(args.role)
    shown: dict[str, object] | None = None
    try:
        # serve's own loader, with the production refusals collected rather than raised.
        settings = load(settings_type(role), refuse_development_defaults=False)
    except SettingsError as error:
        problems = [str(error)]  # nothing to show: the role cannot even be built
    else:
        shown = redacted(settings)
        problems = [str(problem) for problem in production_problems(settings)]
    report = {"role": role, "ok": not problems, "problems": problems, "settings": shown}
    print(json.dumps(report, indent=2, sort_keys=True))
    for problem in problems:
        print("phoenix: " + " ".join(problem.split()), file=sys.stderr)
    return EXIT_USAGE if problems else 0


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


def _issuer_rotate(args: argparse.Namespace) -> int:
    """Add the next key and drop the retired ones; never two upcoming keys (docs/issuer-keys.md)."""
    from datetime import UTC, datetime, timedelta

    from phoenix.auth.keys import KeyBundleError, KeyLife, generate, parse_bundle, render_key

    life_settings = _key_life_settings()
    lead = timedelta(seconds=_duration_seconds(args.lead, "--lead"))
    refresh = timedelta(seconds=life_settings.issuer_directory_refresh_seconds)
    if lead <= refresh:
        # Config must have fetched the directory that lists the key before any token is signed
        # with it, or those tokens are refused until its next refresh.
        _fail(
            f"--lead {args.lead}: must be longer than config's directory refresh "
            "(PHOENIX_ISSUER_DIRECTORY_REFRESH_SECONDS="
            f"{life_settings.issuer_directory_refresh_seconds})"
        )
    life = KeyLife(
        max_age=_max_age(args.max_age) if args.max_age else life_settings.issuer_key_max_age,
        overlap=timedelta(
            hours=args.overlap_hours
            if args.overlap_hours is not None
            else life_settings.issuer_key_overlap_hours
        ),
    )
    if life.overlap < timedelta(0):
        _fail("--overlap-hours must not be negative")
    store = _SecretBundle() if args.secret else _FileBundle(args.bundle)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        keys = parse_bundle(store.read())
        upcoming = [key for key in keys if key.not_before > now]
        if upcoming:
            first = upcoming[0]
            _fail(
                f"{store.name}: an upcoming key already exists (truncated id "
                f"{first.truncated_id}, not before {first.not_before.isoformat()}): nothing added"
            )
        # A key whose acceptance window is over (config takes none of its tokens, and the key
        # added now is newer) only holds a truncated id from reuse: dropping it keeps the
        # bundle far from the 256 ids a request can name.
        retired = [key for key in keys if life.listed_until(key) < now]
        kept = [key for key in keys if key not in retired]
        not_before = now + lead
        key = generate(kept, not_before)
    except KeyBundleError as error:
        _fail(f"{store.name}: {error}")
    text = "".join(render_key(old.private_key, old.not_before) for old in kept)
    version = store.write(text + render_key(key.private_key, not_before))
    # The last moment a key of the old bundle signs (retired ones included: one may be the
    # only key there was). A gap until the new key's not-before is worth a warning.
    newest_signs_until = max((life.signs_until(old) for old in keys), default=None)
    if newest_signs_until is not None and newest_signs_until < not_before:
        print(
            f"phoenix: warning: no key signs from {newest_signs_until.isoformat()} until "
            f"{not_before.isoformat()}: rotate earlier, or with a shorter --lead",
            file=sys.stderr,
        )
    print(
        json.dumps(
            {
                store.kind: store.name,
                **({"version_id": version} if version else {}),
                "truncated_key_id": key.truncated_id,
                "not_before": not_before.isoformat(),
                "signs_until": life.signs_until(key).isoformat(),
                "listed_until": life.listed_until(key).isoformat(),
                # The issuer cannot sign between these two times, when the first is earlier.
                "previous_signs_until": newest_signs_until.isoformat()
                if newest_signs_until
                else None,
                "dropped": [old.truncated_id for old in retired],
                "keys": len(kept) + 1,
            }
        )
    )
    return 0


class _KeyLifeDefaults(Protocol):
    @property
    def issuer_key_max_age(self) -> timedelta: ...
    @property
    def issuer_key_overlap_hours(self) -> int: ...
    @property
    def issuer_directory_refresh_seconds(self) -> int: ...


def _key_life_settings() -> _KeyLifeDefaults:
    """The key-life settings as auth and config read them (same variables, same defaults)."""
    import msgspec

    from phoenix.auth.settings import AuthSettings
    from phoenix.settings import load

    def default(cls: type[msgspec.Struct], name: str) -> Any:
        return next(f.default for f in msgspec.structs.fields(cls) if f.name == name)

    class KeyLife(msgspec.Struct, frozen=True):
        issuer_key_max_age: timedelta = default(AuthSettings, "issuer_key_max_age")
        issuer_key_overlap_hours: int = default(AuthSettings, "issuer_key_overlap_hours")
        # Config's default (phoenix.config.settings), kept here rather than imported: this
        # command runs with the issuer's code and so never loads the config role's.
        issuer_directory_refresh_seconds: int = 300

    return load(KeyLife)


def _max_age(text: str) -> timedelta:
    from datetime import timedelta

    import msgspec

    try:
        return msgspec.convert(text, timedelta, strict=False)
    except msgspec.ValidationError:
        _fail(f"--max-age {text!r}: an ISO 8601 duration (P30D) or seconds")


class _FileBundle:
    kind = "bundle"

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.name = path

    def read(self) -> str:
        try:
            return self.path.read_text()
        except OSError as error:
            _fail(f"{self.name}: cannot read ({error.strerror or error}); start one with keygen")

    def write(self, text: str) -> None:
        # Written beside, then renamed: a reader (auth starting) sees the old or the new bundle.
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(temporary, self.path)


class _SecretBundle:
    """The Secrets Manager secret auth reads with PHOENIX_SECRETS_SOURCE=aws."""

    kind = "secret"

    def __init__(self) -> None:
        import boto3

        from phoenix.auth.settings import AuthSettings
        from phoenix.settings import secret_name

        prefix = os.environ.get("PHOENIX_AWS_SECRETS_PREFIX", "phoenix/")
        self.name = prefix + secret_name(AuthSettings, "issuer_signing_keys")
        self.client = boto3.client("secretsmanager")

    def read(self) -> str:
        answer = self._call("get_secret_value", SecretId=self.name)
        return str(answer.get("SecretString") or "")

    def write(self, text: str) -> str:
        # A new version, labelled AWSCURRENT; the previous one stays as AWSPREVIOUS.
        return str(
            self._call("put_secret_value", SecretId=self.name, SecretString=text)["VersionId"]
        )

    def _call(self, operation: str, **kwargs: str) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer: dict[str, Any] = getattr(self.client, operation)(**kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            _fail(f"{self.name}: Secrets Manager {operation} failed: {code}")
        except BotoCoreError as error:
            _fail(f"{self.name}: Secrets Manager unreachable: {error}")
        return answer


def _duration_seconds(text: str, option: str = "--expires") -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit():
        _fail(f"{option} {text!r}: a number and one of s, m, h, d (e.g. 1h)")
    return int(number) * units[unit]


def _config_engine_settings() -> ConfigSettings:
    import structlog

    from phoenix.app import load_settings
    from phoenix.config.settings import ConfigSettings

    # Standard output carries the command's answer (keys, one a line); log lines go aside.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))

    if os.environ.get("PHOENIX_ENV") == "dev":
        from phoenix.dev.environment import environment

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


def _billing_reconcile(args: argparse.Namespace) -> int:
    import asyncio

    import msgspec
    import structlog

    from phoenix.app import load_settings
    from phoenix.auth.app import reconciler_of
    from phoenix.auth.billing.reconcile import parse_since, reconciliation_report
    from phoenix.auth.billing.stripe_api import BillingUnavailable
    from phoenix.auth.settings import AuthSettings
    from phoenix.common.database import create_engine

    # Standard output carries the report; log lines (one per repair) go aside.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    since = parse_since(args.since) if args.since else None
    settings = load_settings("auth")
    assert isinstance(settings, AuthSettings)

    async def run() -> bytes:
        engine = create_engine(settings.userdb_url, pool_size=1)
        reconciler = reconciler_of(engine, settings)
        try:
            reports = await reconciler.run(since, dry_run=args.dry_run)
        finally:
            await reconciler.close()
            await engine.dispose()
        return msgspec.json.encode(reconciliation_report(reports))

    try:
        print(asyncio.run(run()).decode())
    except BillingUnavailable as error:
        print(f"phoenix: billing reconcile: {error.detail}; nothing changed", file=sys.stderr)
        return 1
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
    from phoenix.dev.errors import DevError
    from phoenix.dev.grant import grant

    try:
        print(json.dumps(grant(args.email, args.days)))
    except DevError as error:
        _fail(str(error))
    return 0


def _dev_settings(args: argparse.Namespace) -> int:
    """`phoenix check` under the environment `make dev` gives its roles (in another terminal)."""
    _require_dev()
    from phoenix.dev.environment import environment

    os.environ.update(environment(os.environ))
    return _check(args)


def _dev_up(args: argparse.Namespace) -> int:
    _require_dev()
    from phoenix.dev.errors import DevError
    from phoenix.dev.up import up

    try:
        return up(prometheus=args.prometheus)
    except DevError as error:
        _fail(str(error))


def _require_dev() -> None:
    if os.environ.get("PHOENIX_ENV") != "dev":
        _fail("PHOENIX_ENV: development commands are refused unless PHOENIX_ENV=dev")
