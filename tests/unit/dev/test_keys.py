"""`make dev` renews its issuer key before the last one stops signing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from phoenix.dev.keys import needs_new_key
from tests.harness import issuer


def test_make_dev_adds_an_issuer_key_before_the_last_one_stops_signing(tmp_path: Path) -> None:
    bundle = tmp_path / "keys.pem"
    now = datetime.now(UTC)
    assert needs_new_key(bundle, now.timestamp())  # none yet
    bundle.write_text(issuer.bundle(now - timedelta(days=22)))
    assert not needs_new_key(bundle, now.timestamp())
    bundle.write_text(issuer.bundle(now - timedelta(days=24)))
    assert needs_new_key(bundle, now.timestamp())
