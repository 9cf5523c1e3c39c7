"""Where development runs from and keeps its state (.dev, ignored by git)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[3]
STATE: Final = REPO / ".dev"
