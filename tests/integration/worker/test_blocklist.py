"""The blocklist compiler against a local hosts server, real Redis, a directory and moto's S3."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import httpx
import msgspec
import pytest
from nacl.signing import SigningKey

from phoenix.worker import hosts
from phoenix.worker.blocklist import BlocklistRefused, Compiler, verify
from phoenix.worker.bloom import BloomFilter
from phoenix.worker.publish import LocalTarget, S3Target
from phoenix.worker.schemas import SignedManifest
from tests.harness.hosts_server import HostsServer, Served, hosts_file
from tests.integration.worker.conftest import make_compiler, s3_client

NAMES = [f"ads{i}.tracker.example.com" for i in range(2000)]


def serve(server: HostsServer, names: list[str], **options: object) -> None:
    server.files["/hosts"] = Served(hosts_file(names), **options)  # type: ignore[arg-type]


@pytest.fixture
def compiler(
    hosts_server: HostsServer,
    local_target: LocalTarget,
    redis_url: str,
    namespace: str,
    signing_seed: str,
) -> Compiler:
    return make_compiler(local_target, hosts_server.url, redis_url, namespace, signing_seed)


def published(target: LocalTarget, seed: str) -> tuple[dict[str, object], bytes]:
    raw = target.read("base/manifest.json")
    assert raw is not None
    manifest = verify(raw, SigningKey(base64.b64decode(seed)).verify_key.encode())
    data = target.read(manifest.filter)
    assert data is not None
    return {f: getattr(manifest, f) for f in manifest.__struct_fields__}, data


def test_a_hosts_file_becomes_a_content_addressed_filter_and_a_signed_manifest(
    compiler: Compiler, hosts_server: HostsServer, local_target: LocalTarget, signing_seed: str
) -> None:
    serve(hosts_server, NAMES)
    assert compiler.compile("base") == "published"
    manifest, data = published(local_target, signing_seed)
    digest = hashlib.sha256(data).hexdigest()
    assert manifest["sha256"] == digest
    assert manifest["filter"] == f"filters/{digest}.bloom"
    assert (manifest["n"], manifest["p"], manifest["format"]) == (2000, 1e-6, 1)
    assert str(manifest["built_hour"]).endswith(":00:00Z")
    reader = BloomFilter(data)
    assert (reader.parameters.m, reader.parameters.k) == (manifest["m"], manifest["k"])
    assert all(name in reader for name in NAMES)
    assert "ADS7.Tracker.Example.com." in reader
    assert sum(f"other{i}.example.org" in reader for i in range(20_000)) <= 1
    assert "localhost" not in reader


def test_the_names_file_beside_the_filter_holds_the_parsed_names_sorted_one_per_line(
    compiler: Compiler, hosts_server: HostsServer, local_target: LocalTarget, signing_seed: str
) -> None:
    messy = ["ADS7.Tracker.Example.com.", "Bücher.example", "localhost", "-bad.example.com"]
    body = hosts_file([*NAMES, *messy])
    hosts_server.files["/hosts"] = Served(body)
    assert compiler.compile("base") == "published"
    manifest, _ = published(local_target, signing_seed)
    names = local_target.read(str(manifest["names"]))
    assert names is not None
    digest = hashlib.sha256(names).hexdigest()
    assert manifest["names_sha256"] == digest
    assert manifest["names"] == f"names/{digest}.txt"
    expected = sorted(hosts.parse(body.decode()).names)
    assert names.decode("utf-8").split("\n") == [*expected, ""]  # a newline after each name
    assert len(expected) == 2001  # the IDN in punycode; the duplicate and the invalid ones gone
    assert "xn--bcher-kva.example" in expected


def test_a_manifest_signed_by_another_key_does_not_verify(
    compiler: Compiler, hosts_server: HostsServer, local_target: LocalTarget
) -> None:
    serve(hosts_server, NAMES)
    compiler.compile("base")
    raw = local_target.read("base/manifest.json")
    assert raw is not None
    from nacl.exceptions import BadSignatureError

    with pytest.raises(BadSignatureError):
        verify(raw, SigningKey.generate().verify_key.encode())
    tampered = raw.replace(b'\\"n\\":2000', b'\\"n\\":2001')
    assert tampered != raw
    with pytest.raises(BadSignatureError):
        verify(tampered, compiler.signing_key.verify_key.encode())


def test_the_filter_and_the_names_file_are_written_before_the_manifest(
    hosts_server: HostsServer,
    local_target: LocalTarget,
    redis_url: str,
    namespace: str,
    signing_seed: str,
) -> None:
    order: list[str] = []

    class Recording(LocalTarget):
        def write(self, path: str, data: bytes, content_type: str, cache_control: str) -> None:
            order.append(path)
            super().write(path, data, content_type, cache_control)

    target = Recording(local_target.root)
    serve(hosts_server, NAMES)
    make_compiler(target, hosts_server.url, redis_url, namespace, signing_seed).compile("base")
    assert [p.split("/")[0] for p in order] == ["filters", "names", "base"]
    assert not list(local_target.root.rglob(".tmp-*"))
    # Run again over a list that did not change: not a single object is written.
    order.clear()
    serve(hosts_server, NAMES, honour_conditions=False)
    compiler = make_compiler(target, hosts_server.url, redis_url, namespace, signing_seed)
    assert compiler.compile("base") == "unchanged"
    assert order == []


def test_a_second_run_asks_conditionally_and_a_304_does_no_work(
    compiler: Compiler, hosts_server: HostsServer, local_target: LocalTarget
) -> None:
    serve(hosts_server, NAMES)
    assert compiler.compile("base") == "published"
    manifest_file = local_target.root / "base" / "manifest.json"
    before = manifest_file.stat().st_mtime_ns
    assert compiler.compile("base") == "not-modified"
    first, second = hosts_server.requests
    assert first.if_none_match is None
    assert second.if_none_match is not None
    assert second.if_modified_since is not None
    assert second.status == 304
    assert manifest_file.stat().st_mtime_ns == before


def test_if_modified_since_alone_gets_a_304_from_a_server_without_etags(
    compiler: Compiler, hosts_server: HostsServer
) -> None:
    serve(hosts_server, NAMES, send_etag=False)
    compiler.compile("base")
    assert compiler.compile("base") == "not-modified"
    assert hosts_server.requests[-1].status == 304


def test_the_same_list_from_a_server_ignoring_validators_publishes_nothing(
    compiler: Compiler, hosts_server: HostsServer, local_target: LocalTarget
) -> None:
    serve(hosts_server, NAMES, honour_conditions=False)
    assert compiler.compile("base") == "published"
    files = {p: p.stat().st_mtime_ns for p in local_target.root.rglob("*")}
    assert compiler.compile("base") == "unchanged"
    assert {p: p.stat().st_mtime_ns for p in local_target.root.rglob("*")} == files


def test_a_manifest_from_before_names_files_is_republished_with_one(
    compiler: Compiler, hosts_server: HostsServer, local_target: LocalTarget, signing_seed: str
) -> None:
    serve(hosts_server, NAMES)
    compiler.compile("base")
    current, data = published(local_target, signing_seed)
    # What an older worker wrote: the same filter, a body without the two fields, its validators.
    old_body = msgspec.json.encode(
        {k: v for k, v in current.items() if k not in ("names", "names_sha256")}
    )
    signature = base64.b64encode(compiler.signing_key.sign(old_body).signature).decode()
    (local_target.root / "base" / "manifest.json").write_bytes(
        msgspec.json.encode(SignedManifest(body=old_body.decode(), signature=signature))
    )
    for path in (local_target.root / "names").iterdir():
        path.unlink()
    old = compiler.current_manifest("base")
    assert old is not None
    assert (old.names, old.sha256) == (None, current["sha256"])
    assert compiler.compile("base") == "published"  # fetched in full despite its validators
    assert hosts_server.requests[-1].if_none_match is None
    assert hosts_server.requests[-1].status == 200
    again, same_data = published(local_target, signing_seed)
    assert (again["sha256"], same_data) == (current["sha256"], data)
    assert again["names_sha256"] == current["names_sha256"]
    assert local_target.exists(str(again["names"]))
    assert compiler.compile("base") == "not-modified"


def test_a_changed_list_is_published_and_the_old_filter_stays_for_readers_mid_download(
    compiler: Compiler, hosts_server: HostsServer, local_target: LocalTarget, signing_seed: str
) -> None:
    serve(hosts_server, NAMES)
    compiler.compile("base")
    old, _ = published(local_target, signing_seed)
    serve(hosts_server, [*NAMES, "new.tracker.example.com"], last_modified=1_800_000_000.0)
    assert compiler.compile("base") == "published"
    new, data = published(local_target, signing_seed)
    assert new["sha256"] != old["sha256"]
    assert new["n"] == 2001
    assert "new.tracker.example.com" in BloomFilter(data)
    assert local_target.exists(str(old["filter"]))


def test_a_variant_is_fetched_from_its_alternates_path(
    compiler: Compiler, hosts_server: HostsServer, local_target: LocalTarget
) -> None:
    hosts_server.files["/alternates/fakenews-gambling/hosts"] = Served(hosts_file(NAMES[:50]))
    assert compiler.compile("fakenews-gambling") == "published"
    assert local_target.exists("fakenews-gambling/manifest.json")
    assert not local_target.exists("base/manifest.json")


@pytest.mark.parametrize(
    ("served", "reason"),
    [
        (Served(b""), "empty"),
        (Served(hosts_file(NAMES)[:-7]), "truncated"),
        (Served(b"<!doctype html><html><body>Too many requests</body></html>\n"), "markup"),
        (Served(hosts_file(NAMES), content_type="text/html; charset=utf-8"), "HTML"),
        (Served(hosts_file(NAMES[:900])), "shrank"),
        (Served(hosts_file([f"x{i}.example.com" for i in range(25_000)])), "more than 10x"),
        (Served(hosts_file(NAMES[:10]) * 5000), "larger than"),
    ],
    ids=["empty", "truncated", "html", "html-type", "shrunk", "grown-12x", "too-large"],
)
def test_bad_input_fails_loudly_and_the_last_filter_stays(
    compiler: Compiler,
    hosts_server: HostsServer,
    local_target: LocalTarget,
    signing_seed: str,
    served: Served,
    reason: str,
) -> None:
    serve(hosts_server, NAMES)
    compiler.compile("base")
    before = published(local_target, signing_seed)
    served.honour_conditions = False  # the bad body is downloaded, never answered with a 304
    hosts_server.files["/hosts"] = served
    with pytest.raises(BlocklistRefused, match=reason):
        compiler.compile("base")
    assert published(local_target, signing_seed) == before


def test_a_download_cut_short_fails_and_the_last_filter_stays(
    compiler: Compiler, hosts_server: HostsServer, local_target: LocalTarget, signing_seed: str
) -> None:
    serve(hosts_server, NAMES)
    compiler.compile("base")
    before = published(local_target, signing_seed)
    serve(hosts_server, [*NAMES, "more.example.com"], truncate_at=5000, honour_conditions=False)
    with pytest.raises(httpx.RemoteProtocolError):
        compiler.compile("base")
    assert published(local_target, signing_seed) == before


def test_an_unreachable_source_fails_and_publishes_nothing(
    local_target: LocalTarget, redis_url: str, namespace: str, signing_seed: str
) -> None:
    from phoenix.dev.probes import free_port

    compiler = make_compiler(
        local_target, f"http://127.0.0.1:{free_port()}", redis_url, namespace, signing_seed
    )
    with pytest.raises(httpx.ConnectError):
        compiler.compile("base")
    assert not local_target.root.exists()


def test_publishing_to_s3_writes_the_filter_then_the_manifest_with_cache_headers(
    hosts_server: HostsServer, moto_url: str, redis_url: str, namespace: str, signing_seed: str
) -> None:
    client = s3_client(moto_url)
    bucket = f"blocklist-{namespace.rsplit('-', 1)[-1]}"
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    target = S3Target(client, bucket, "lists/v1")
    compiler = make_compiler(target, hosts_server.url, redis_url, namespace, signing_seed)
    serve(hosts_server, NAMES)
    assert compiler.compile("base") == "published"
    manifest_object = client.get_object(Bucket=bucket, Key="lists/v1/base/manifest.json")
    manifest = verify(manifest_object["Body"].read(), compiler.signing_key.verify_key.encode())
    assert manifest_object["CacheControl"] == "public, max-age=300"
    filter_object = client.get_object(Bucket=bucket, Key="lists/v1/" + manifest.filter)
    data = filter_object["Body"].read()
    assert hashlib.sha256(data).hexdigest() == manifest.sha256
    assert "immutable" in filter_object["CacheControl"]
    assert NAMES[5] in BloomFilter(data)
    assert manifest.names is not None
    names_object = client.get_object(Bucket=bucket, Key="lists/v1/" + manifest.names)
    assert hashlib.sha256(names_object["Body"].read()).hexdigest() == manifest.names_sha256
    assert names_object["ContentType"] == "text/plain; charset=utf-8"
    assert "immutable" in names_object["CacheControl"]
    # Twice: a 304 and nothing rewritten (S3 keeps the same object).
    modified = manifest_object["LastModified"]
    time.sleep(1.1)
    assert compiler.compile("base") == "not-modified"
    again = client.head_object(Bucket=bucket, Key="lists/v1/base/manifest.json")
    assert again["LastModified"] == modified


def test_validators_are_not_trusted_once_the_manifest_is_gone(
    compiler: Compiler, hosts_server: HostsServer, local_target: LocalTarget, tmp_path: Path
) -> None:
    serve(hosts_server, NAMES)
    compiler.compile("base")
    (local_target.root / "base" / "manifest.json").unlink()
    assert compiler.compile("base") == "published"
    assert hosts_server.requests[-1].if_none_match is None
