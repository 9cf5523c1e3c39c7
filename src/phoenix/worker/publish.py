"""Publishing targets for the blocklist: a local directory (development) or an S3 bucket.

Each object is written whole — a rename into place locally, one PUT on S3 — so a reader sees the
old object or the new one, never a part. The order across objects (filter before manifest) is
the blocklist service's job.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"


class Target(Protocol):
    def read(self, path: str) -> bytes | None: ...

    def exists(self, path: str) -> bool: ...

    def write(self, path: str, data: bytes, content_type: str, cache_control: str) -> None: ...


class LocalTarget:
    """A directory, served at a URL in development (the worker app serves it at /blocklist)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, path: str) -> Path:
        resolved = (self.root / path).resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            raise ValueError(f"{path!r} leaves the target directory")
        return resolved

    def read(self, path: str) -> bytes | None:
        try:
            return self._path(path).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, path: str) -> bool:
        return self._path(path).is_file()

    def write(self, path: str, data: bytes, content_type: str, cache_control: str) -> None:
        final = self._path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        # Same directory as the final name, so the rename is atomic on one file system.
        descriptor, temporary = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class S3Target:
    """A bucket (and key prefix) behind the CDN, through boto3."""

    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def read(self, path: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + path)
        except self.client.exceptions.NoSuchKey:
            return None
        body: bytes = answer["Body"].read()
        return body

    def exists(self, path: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + path)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def write(self, path: str, data: bytes, content_type: str, cache_control: str) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.prefix + path,
            Body=data,
            ContentType=content_type,
            CacheControl=cache_control,
        )


def make_target(url: str, s3_client: Any = None) -> Target:
    """file:///dir or s3://bucket/prefix; the S3 client comes from the SDK's own settings."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalTarget(Path(parts.path))
    if parts.scheme == "s3":
        if s3_client is None:
            import boto3  # only processes that publish to S3 load the AWS SDK

            s3_client = boto3.client("s3")
        return S3Target(s3_client, parts.netloc, parts.path)
    raise ValueError(f"unknown target {url!r}")
