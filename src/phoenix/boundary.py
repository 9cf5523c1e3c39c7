"""What a role's process has imported once its app is built — the boundary as a run-time fact."""

from __future__ import annotations

import sys
from typing import Any

from phoenix.app import check_role, create_app


def report(role_name: str) -> dict[str, Any]:
    role = check_role(role_name)
    create_app(role)
    loaded = sorted(sys.modules)
    phoenix_modules = [name for name in loaded if name == "phoenix" or name.startswith("phoenix.")]
    stdlib = set(sys.stdlib_module_names)
    third_party = sorted(
        {
            name.split(".")[0]
            for name in loaded
            if not name.startswith(("phoenix", "_"))
            and name.split(".")[0] not in stdlib
            and name.split(".")[0] not in sys.builtin_module_names
        }
    )
    return {"role": role, "phoenix_modules": phoenix_modules, "third_party": third_party}
