"""The development keys: when `make dev` adds an issuer key, and the blocklist's public key."""

from __future__ import annotations

import base64
import re
from datetime import datetime
from pathlib import Path
from typing import Final

from nacl.signing import SigningKey

# A key signs for 30 days (PHOENIX_ISSUER_KEY_MAX_AGE): make dev adds the next one a week
# ahead, so a development machine used for months never finds its issuer unable to sign.
KEY_RENEWAL_SECONDS: Final = 23 * 86_400


def needs_new_key(bundle: Path, now: float) -> bool:
    """True when the development bundle is missing or its newest key is three weeks old."""
    try:
        text = bundle.read_text()
    except FileNotFoundError:
        return True
    stamps = re.findall(r"^Not-Before:\s*(\S+)\s*$", text, re.MULTILINE)
    if not stamps:
        return True
    newest = max(datetime.fromisoformat(stamp.replace("Z", "+00:00")) for stamp in stamps)
    return now - newest.timestamp() > KEY_RENEWAL_SECONDS


def blocklist_verify_key(seed: str) -> str:
    """The public key (standard base64) of a PHOENIX_BLOCKLIST_SIGNING_KEY seed."""
    return base64.b64encode(SigningKey(base64.b64decode(seed)).verify_key.encode()).decode()
