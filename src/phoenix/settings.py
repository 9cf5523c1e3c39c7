"""Typed settings read from the environment, failing fast with the name of the bad variable.

Each role declares its own msgspec Struct (``phoenix.<role>.settings``); this module only knows
how to fill one. A field ``foo_bar`` is read from ``PHOENIX_FOO_BAR``. A field marked with
:data:`SECRET` may instead come from the file named by ``PHOENIX_FOO_BAR_FILE`` or, when
``PHOENIX_SECRETS_SOURCE=aws``, from AWS Secrets Manager under ``PHOENIX_AWS_SECRETS_PREFIX`` +
the field's secret name. Because a role's Struct has no field for another role's secrets, a
process cannot even be handed them. Under ``PHOENIX_ENV=prod`` the development defaults are
refused too (:mod:`phoenix.production`), whichever role's Struct is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar, get_args, get_origin

import msgspec

from phoenix import production

ENV_PREFIX: Final = "PHOENIX_"


class Secret:
    """Marks a settings field as a secret: readable from ``…_FILE`` and AWS Secrets Manager.

    ``aws_name`` is the Secrets Manager secret id (without the configured prefix); by default the
    field's variable name without ``PHOENIX_``.
    """

    def __init__(self, aws_name: str | None = None) -> None:
        self.aws_name = aws_name


SECRET: Final = Secret()

S = TypeVar("S", bound=msgspec.Struct)
T = TypeVar("T")
SecretFetcher = Callable[[str], str | None]


class SettingsError(Exception):
    """A setting is missing or malformed; ``variable`` names the environment variable to fix."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class CommonSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Fields every role has. Role settings inherit from this."""

    env: Literal["prod", "dev", "test"] = "prod"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Bodies above this answer 413 before any handler reads them.
    max_body_bytes: int = 1_048_576
    # Readiness checks give up after this many seconds and report the dependency as down.
    readiness_timeout: float = 2.0
    # The public listener (`phoenix serve --host/--workers` override these).
    host: str = "127.0.0.1"
    workers: Annotated[int, msgspec.Meta(ge=1)] = 1
    # Requests a server process handles at once (granian's backpressure); more wait for a slot.
    # Config raises it: every exit node holds a long-poll open there (phoenix.config.settings).
    max_requests: Annotated[int, msgspec.Meta(ge=1)] = 1024
    # The operations listener: /metrics, /readyz and /schema, never on the public port. Port 0
    # means the role's default (phoenix.app.DEFAULT_OPS_PORTS).
    ops_host: str = "127.0.0.1"
    ops_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0


def variable_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def load(
    cls: type[S],
    environ: Mapping[str, str] | None = None,
    fetch_secret: SecretFetcher | None = None,
    *,
    refuse_development_defaults: bool = True,
) -> S:
    """Build ``cls`` from the environment; raise :class:`SettingsError` naming the bad variable.

    With ``refuse_development_defaults`` (what every role process does), the first of
    :func:`production_problems` is raised too; `phoenix check` turns it off to list them all.
    """
    env = os.environ if environ is None else environ
    source = env.get(ENV_PREFIX + "SECRETS_SOURCE", "env")
    if source not in ("env", "aws"):
        raise SettingsError(ENV_PREFIX + "SECRETS_SOURCE", "must be 'env' or 'aws'")
    if fetch_secret is None and source == "aws":
        fetch_secret = aws_secret_fetcher(env)

    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        variable = variable_name(field.encode_name)
        secret = _secret_marker(field.type)
        raw = _raw_value(env, variable, secret, fetch_secret)
        if raw is None:
            if field.required:
                raise SettingsError(variable, "missing (required)")
            continue
        values[field.name] = _convert(variable, raw, field.type)
    try:
        settings = cls(**values)
    except SettingsError:
        raise
    except (TypeError, ValueError) as error:  # __post_init__ checks across fields
        raise SettingsError(ENV_PREFIX + "*", str(error)) from None
    if refuse_development_defaults:
        problems = production_problems(settings)
        if problems:
            raise problems[0]
    return settings


def production_problems(settings: msgspec.Struct) -> list[SettingsError]:
    """Each development default a production process refuses (none outside ``env == "prod"``).

    Here, not in ``CommonSettings.__post_init__``: role Structs define their own and do not
    call it, and a generic walk over the loaded values also covers defaults nobody passed.
    A Struct without an ``env`` field (a migration's database URL alone) is not a role's.
    """
    if getattr(settings, "env", None) != "prod":
        return []
    cls = type(settings)
    secrets = set(secret_fields(cls))
    named = [
        (variable_name(field.encode_name), getattr(settings, field.name), field.name in secrets)
        for field in msgspec.structs.fields(cls)
    ]
    return [SettingsError(variable, problem) for variable, problem in production.refusals(named)]


def documented_variables(cls: type[msgspec.Struct]) -> list[str]:
    """Every variable a Struct reads (``…_FILE`` forms included), for the README check."""
    names: list[str] = []
    for field in msgspec.structs.fields(cls):
        variable = variable_name(field.encode_name)
        names.append(variable)
        if _secret_marker(field.type) is not None:
            names.append(variable + "_FILE")
    return names


def secret_fields(cls: type[msgspec.Struct]) -> list[str]:
    return [f.name for f in msgspec.structs.fields(cls) if _secret_marker(f.type) is not None]


def secret_name(cls: type[msgspec.Struct], field_name: str) -> str:
    """The Secrets Manager id of a secret field, without ``PHOENIX_AWS_SECRETS_PREFIX``."""
    for field in msgspec.structs.fields(cls):
        marker = _secret_marker(field.type)
        if field.name == field_name and marker is not None:
            return marker.aws_name or field.encode_name.upper()
    raise KeyError(f"{cls.__name__} has no secret field {field_name!r}")


def redacted(settings: msgspec.Struct) -> dict[str, Any]:
    """The settings as JSON-ready builtins, every non-empty secret shown as ``***``."""
    shown: dict[str, Any] = msgspec.to_builtins(settings)
    for name in secret_fields(type(settings)):
        if shown.get(name):
            shown[name] = "***"
    return shown


def _secret_marker(annotation: Any) -> Secret | None:
    if get_origin(annotation) is Annotated:
        for extra in get_args(annotation)[1:]:
            if isinstance(extra, Secret):
                return extra
    return None


def _raw_value(
    env: Mapping[str, str],
    variable: str,
    secret: Secret | None,
    fetch_secret: SecretFetcher | None,
) -> str | None:
    if variable in env:
        return env[variable]
    if secret is None:
        return None
    file_variable = variable + "_FILE"
    if file_variable in env:
        try:
            return Path(env[file_variable]).read_text().strip()
        except OSError as error:
            raise SettingsError(
                file_variable, f"cannot read it: {error.strerror or error}"
            ) from None
    if fetch_secret is not None:
        return fetch_secret(secret.aws_name or variable.removeprefix(ENV_PREFIX))
    return None


def _convert(variable: str, raw: str, annotation: Any) -> Any:
    target = get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation
    if _is_sequence(target):
        items = [part.strip() for part in raw.split(",") if part.strip()]
        source: Any = items
    else:
        source = raw
    try:
        # The whole annotation: its msgspec.Meta bounds apply (msgspec ignores Secret markers).
        return msgspec.convert(source, type=annotation, strict=False)
    except msgspec.ValidationError as error:
        shown = "<hidden>" if "_FILE" in variable or len(raw) > 40 else repr(raw)
        reason = str(error).split(" - at ")[0]
        raise SettingsError(variable, f"malformed value {shown}: {reason}") from None


def _is_sequence(target: Any) -> bool:
    origin = get_origin(target)
    return origin in (list, tuple, frozenset, set)


def aws_secret_fetcher(env: Mapping[str, str]) -> SecretFetcher:
    """Read secrets from AWS Secrets Manager; the SDK's own variables choose region and endpoint."""
    import boto3  # imported here: most processes never need the AWS SDK
    from botocore.exceptions import BotoCoreError, ClientError

    prefix = env.get(ENV_PREFIX + "AWS_SECRETS_PREFIX", "phoenix/")
    client = boto3.client("secretsmanager")

    def fetch(name: str) -> str | None:
        secret_id = prefix + name
        try:
            answer = client.get_secret_value(SecretId=secret_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise SettingsError(
                ENV_PREFIX + "SECRETS_SOURCE", f"AWS Secrets Manager refused {secret_id!r}"
            ) from None
        except BotoCoreError as error:
            raise SettingsError(
                ENV_PREFIX + "SECRETS_SOURCE", f"AWS Secrets Manager unreachable: {error}"
            ) from None
        value = answer.get("SecretString")
        if value is None:
            raise SettingsError(ENV_PREFIX + "SECRETS_SOURCE", f"{secret_id!r} is not a string")
        return str(value)

    return fetch
