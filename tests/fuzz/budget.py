"""How hard the fuzz tests try: a short run in `make test`, a long one under `make fuzz`.

`PHOENIX_FUZZ=long` (set by `make fuzz`) raises every property's example count; the CI budget
keeps the whole of tests/fuzz well under a minute on the 2-core machine.
"""

from __future__ import annotations

import os
from typing import Final

from hypothesis import HealthCheck, settings

LONG: Final = os.environ.get("PHOENIX_FUZZ") == "long"
EXAMPLES: Final = int(os.environ.get("PHOENIX_FUZZ_EXAMPLES", "20000" if LONG else "300"))

# database=None: a crash is kept as an explicit regression test in the file, not in a cache.
FUZZ: Final = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
