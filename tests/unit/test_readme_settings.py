"""Every setting a role reads is documented in the README's settings table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from phoenix.app import ROLES, settings_type
from phoenix.settings import documented_variables

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("role", ROLES)
def test_every_setting_of_the_role_is_in_the_readme(role: str) -> None:
    documented = set(re.findall(r"`(PHOENIX_[A-Z0-9_]+)`", README.read_text()))
    missing = [v for v in documented_variables(settings_type(role)) if v not in documented]  # type: ignore[arg-type]
    assert not missing, f"README lacks {missing}"
