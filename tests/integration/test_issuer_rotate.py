"""`phoenix issuer rotate`, the real command: the next key with its lead time, retired keys
dropped, never a second upcoming key; on a bundle file and as a new Secrets Manager version.

AWS cannot run here: the Secrets Manager tests talk to moto's server over real HTTP through the
real boto3 client (as tests/integration/test_secrets_aws.py does).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from phoenix.auth.keys import parse_bundle
from phoenix.dev.probes import free_port
from tests.harness import issuer

SECRET_ID = "phoenix-rotate/BLINDED_SIGNING_PRIVATE_KEY"


def rotate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
    return subprocess.run(
        [sys.executable, "-m", "phoenix", "issuer", "rotate", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def answer(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, lines  # one JSON line
    parsed: dict[str, Any] = json.loads(lines[0])
    return parsed


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in result.stderr
    return lines[0]


def test_the_next_key_is_added_a_lead_time_ahead_and_the_current_one_kept(tmp_path: Path) -> None:
    bundle = tmp_path / "keys.pem"
    bundle.write_text(issuer.bundle(issuer.days_ago(1)))
    (current,) = parse_bundle(bundle.read_text())

    before = datetime.now(UTC).replace(microsecond=0)
    added = answer(rotate("--bundle", str(bundle)))
    after = datetime.now(UTC)

    keys = parse_bundle(bundle.read_text())
    assert [key.truncated_id for key in keys] == [current.truncated_id, added["truncated_key_id"]]
    not_before = keys[1].not_before
    assert before + timedelta(hours=24) <= not_before <= after + timedelta(hours=24)
    assert added["not_before"] == not_before.isoformat()
    assert added["signs_until"] == (not_before + timedelta(days=30)).isoformat()
    assert added["listed_until"] == (not_before + timedelta(days=30, hours=72)).isoformat()
    assert added["dropped"] == []
    assert bundle.stat().st_mode & 0o777 == 0o600


def test_keys_whose_acceptance_window_ended_are_dropped(tmp_path: Path) -> None:
    bundle = tmp_path / "keys.pem"
    # Not-before 40 days ago: signing ended at 30 days, acceptance at 33 (72 h overlap).
    bundle.write_text(issuer.bundle(issuer.days_ago(40), issuer.days_ago(32), issuer.days_ago(5)))
    retired, in_overlap, current = parse_bundle(bundle.read_text())

    added = answer(rotate("--bundle", str(bundle)))

    assert added["dropped"] == [retired.truncated_id]
    kept = [key.truncated_id for key in parse_bundle(bundle.read_text())]
    assert kept == [in_overlap.truncated_id, current.truncated_id, added["truncated_key_id"]]


def test_max_age_and_overlap_come_from_the_issuer_settings_or_the_options(tmp_path: Path) -> None:
    bundle = tmp_path / "keys.pem"
    bundle.write_text(issuer.bundle(issuer.days_ago(3), issuer.days_ago(0.5)))
    old, _ = parse_bundle(bundle.read_text())
    # With a one-day life and no overlap, the three-day-old key is past its window.
    added = answer(
        rotate(
            "--bundle",
            str(bundle),
            PHOENIX_ISSUER_KEY_MAX_AGE="P1D",
            PHOENIX_ISSUER_KEY_OVERLAP_HOURS="0",
        )
    )
    assert added["dropped"] == [old.truncated_id]

    other = tmp_path / "other.pem"
    other.write_text(issuer.bundle(issuer.days_ago(3), issuer.days_ago(0.5)))
    added = answer(rotate("--bundle", str(other), "--max-age", "86400", "--overlap-hours", "0"))
    assert added["dropped"] == [old.truncated_id]


def test_a_second_upcoming_key_is_refused_and_the_bundle_left_alone(tmp_path: Path) -> None:
    bundle = tmp_path / "keys.pem"
    bundle.write_text(issuer.bundle(issuer.days_ago(1)))
    answer(rotate("--bundle", str(bundle)))
    rotated = bundle.read_text()

    line = refused(rotate("--bundle", str(bundle)))
    assert "an upcoming key already exists" in line
    assert bundle.read_text() == rotated


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--lead", "5m"), "PHOENIX_ISSUER_DIRECTORY_REFRESH_SECONDS=300"),
        (("--lead", "soon"), "--lead"),
        (("--max-age", "a month"), "--max-age"),
    ],
)
def test_bad_options_are_refused_in_one_line(
    tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    bundle = tmp_path / "keys.pem"
    bundle.write_text(issuer.bundle())
    assert named in refused(rotate("--bundle", str(bundle), *args))
    assert len(parse_bundle(bundle.read_text())) == 1


def test_a_missing_bundle_is_refused_in_one_line(tmp_path: Path) -> None:
    assert "keygen" in refused(rotate("--bundle", str(tmp_path / "absent.pem")))


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, str]]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "PHOENIX_AWS_SECRETS_PREFIX": "phoenix-rotate/",
    }
    server.stop()


def secrets_client(aws: dict[str, str]) -> Any:
    return boto3.client(
        "secretsmanager",
        endpoint_url=aws["AWS_ENDPOINT_URL"],
        region_name=aws["AWS_DEFAULT_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_with_secret_the_bundle_becomes_a_new_version_of_the_secret(aws: dict[str, str]) -> None:
    client = secrets_client(aws)
    original = issuer.bundle(issuer.days_ago(40), issuer.days_ago(2))
    client.create_secret(Name=SECRET_ID, SecretString=original)
    retired, current = parse_bundle(original)

    added = answer(rotate("--secret", **aws))

    assert added["secret"] == SECRET_ID
    new = client.get_secret_value(SecretId=SECRET_ID)
    assert new["VersionId"] == added["version_id"]
    assert "AWSCURRENT" in new["VersionStages"]
    keys = [key.truncated_id for key in parse_bundle(new["SecretString"])]
    assert keys == [current.truncated_id, added["truncated_key_id"]]
    assert added["dropped"] == [retired.truncated_id]
    # The bundle before stays as AWSPREVIOUS: a rollback is one label move.
    previous = client.get_secret_value(SecretId=SECRET_ID, VersionStage="AWSPREVIOUS")
    assert previous["SecretString"] == original

    line = refused(rotate("--secret", **aws))
    assert "an upcoming key already exists" in line
    after = client.get_secret_value(SecretId=SECRET_ID)
    assert after["VersionId"] == added["version_id"]


def test_with_secret_a_missing_secret_is_one_line(aws: dict[str, str]) -> None:
    line = refused(rotate("--secret", **{**aws, "PHOENIX_AWS_SECRETS_PREFIX": "nowhere/"}))
    assert "nowhere/BLINDED_SIGNING_PRIVATE_KEY" in line
    assert "ResourceNotFoundException" in line
