"""Typed settings read from the environment, failing fast with the name of the bad variable.

Each role declares its own msgspec Struct (``phoenix.<role>.settings``); this module only knows
how to fill one. A field ``foo_bar`` is read from ``PHOENIX_FOO_BAR``. A field marked with
:data:`SECRET` may instead come from the file named by ``PHOENIX_FOO_BAR_FILE`` or, when
``PHOENIX_SECRETS_SOURCE=aws``, from AWS Secrets Manager under ``PHOENIX_AWS_SECRETS_PREFIX`` +
the field's secret name. Because a role's Struct has no field for another role's secrets, a
process cannot even be handed them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar, get_args, get_origin

import msgspec

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


def variable_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def load(
    cls: type[S],
    environ: Mapping[str, str] | None = None,
    fetch_secret: SecretFetcher | None = None,
) -> S:
    """Build ``cls`` from the environment; raise :class:`SettingsError` naming the bad variable."""
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
        return cls(**values)
    except SettingsError:
        raise
    except (TypeError, ValueError) as error:  # __post_init__ checks across fields
        raise SettingsError(ENV_PREFIX + "*", str(error)) from None


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
            raise SettingsError(file_variable, f"cannot read {error.strerror or error}") from None
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
        return msgspec.convert(source, type=target, strict=False)
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
