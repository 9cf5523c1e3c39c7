"""Single-use enrollment keys: minted by the operator, bound to a location, used once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select, text, update

from phoenix.config.models import EnrollmentKey, Node
from phoenix.config.settings import ConfigSettings
from tests.harness.nodes import OPERATOR, mint, new_keys, node_body, register
from tests.integration.config.conftest import MONITOR_TOKEN, Stores

Client = AsyncTestClient[Any]


def problem(answer: Any, status: int, slug: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if slug is not None:
        assert answer.json()["type"].endswith("/" + slug), answer.text


async def node_count(stores: Stores) -> int:
    async with stores.nodedb.connect() as connection:
        return len((await connection.execute(select(Node.id))).all())


async def test_only_the_operator_mints_enrollment_keys(config: Client) -> None:
    body = {"location": "de-fra"}
    for headers in ({}, {"authorization": f"Bearer {MONITOR_TOKEN}"}, {"authorization": "x"}):
        problem(await config.post("/v1/admin/enrollment-keys", json=body, headers=headers), 401)
    answer = await config.post(
        "/v1/admin/enrollment-keys", json={**body, "count": 3}, headers=OPERATOR
    )
    assert answer.status_code == 201
    keys = answer.json()["keys"]
    assert len(set(keys)) == 3
    assert all(key.startswith("pnk_") for key in keys)


async def test_enrollment_keys_are_stored_only_as_hashes(config: Client, stores: Stores) -> None:
    keys = await mint(config, "de-fra", count=2)
    async with stores.nodedb.connect() as connection:
        rows = (await connection.execute(select(EnrollmentKey.key_hash))).scalars().all()
        dump = str((await connection.execute(text("SELECT * FROM enrollment_keys"))).all())
    assert sorted(rows) == sorted(hashlib.sha256(k.encode()).digest() for k in keys)
    assert not any(key in dump or key[4:] in dump for key in keys)


async def test_a_key_enrolls_one_node_and_then_is_spent(config: Client, stores: Stores) -> None:
    (key,) = await mint(config, "de-fra")
    first = await register(config, keys := new_keys(), node_body(keys), key)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "active"
    again = await register(config, other := new_keys(), node_body(other), key)
    problem(again, 401, "bad-credential")
    assert await node_count(stores) == 1


async def test_unknown_and_expired_keys_are_refused(config: Client, stores: Stores) -> None:
    (key,) = await mint(config, "de-fra")
    async with stores.nodedb.begin() as connection:  # a key minted an hour ago for a minute
        await connection.execute(
            update(EnrollmentKey).values(expires_at=text("now() - '1s'::interval"))
        )
    for presented in (key, "pnk_" + "A" * 43, "not-a-key"):
        problem(await register(config, k := new_keys(), node_body(k), presented), 401)
    problem(await register(config, k := new_keys(), node_body(k), None), 401)
    assert await node_count(stores) == 0


async def test_a_key_of_another_location_is_403_and_not_spent(config: Client) -> None:
    (key,) = await mint(config, "nl-ams")
    keys = new_keys()
    problem(await register(config, keys, node_body(keys, "de-fra"), key), 403, "wrong-location")
    answer = await register(config, keys, node_body(keys, "nl-ams"), key)
    assert answer.status_code == 201, answer.text


async def test_two_registrations_racing_with_one_key_make_exactly_one_node(
    config: Client, stores: Stores
) -> None:
    for _ in range(5):
        (key,) = await mint(config, "de-fra")
        pairs = [new_keys() for _ in range(8)]
        answers = await asyncio.gather(*(register(config, k, node_body(k), key) for k in pairs))
        assert sorted(a.status_code for a in answers) == [201] + [401] * 7
    assert await node_count(stores) == 5


def test_the_cli_prints_keys_that_enroll(config_settings: ConfigSettings) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "PHOENIX_ENV": "test",
        "PHOENIX_NODEDB_URL": config_settings.nodedb_url,
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "phoenix",
            "node",
            "enroll-key",
            "--location",
            "de-fra",
            "--expires",
            "30m",
            "--count",
            "2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    keys = done.stdout.split()
    assert len(keys) == 2
    assert all(k.startswith("pnk_") for k in keys)
    bad = subprocess.run(
        [sys.executable, "-m", "phoenix", "node", "enroll-key", "--location", "Frankfurt"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2, bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr


async def test_cli_keys_enroll_through_the_api(
    config: Client, config_settings: ConfigSettings
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "PHOENIX_ENV": "test",
        "PHOENIX_NODEDB_URL": config_settings.nodedb_url,
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "phoenix", "node", "enroll-key", "--location", "de-fra"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = await register(config, keys := new_keys(), node_body(keys), done.stdout.strip())
    assert answer.status_code == 201, answer.text
    assert json.loads(answer.text)["node_id"]
