"""Each role's extra in pyproject.toml carries what that role's code imports, and no more of note.

A role's image installs phoenix's base dependencies and that role's extra only (Containerfile,
scripts/image-role.sh). So every third-party import reachable from a role's modules must come
from those requirements (or what they pull in), or the image fails at run time; and the config
role's set must not reach the identity and payment libraries at all.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
ROLES = ["auth", "config", "analytics", "worker"]
# phoenix modules every role's process loads, beside its own package and what they import. The
# CLI's imports are per subcommand (inside functions), as are phoenix.migrations' per database
# (each database's own role carries them: `migrate --db nodedb` runs in the config image).
SHARED_ROOTS = ["phoenix.app", "phoenix.server", "phoenix.settings", "phoenix.production"]
# Imports a role makes only where an image never goes, each with its reason.
OUTSIDE_IMAGES = {
    (
        "analytics",
        "chdb",
    ): "the embedded engine of `make dev` (the `embedded` extra), never in prod",
}
IDENTITY_AND_PAYMENT = {"firebase-admin", "stripe", "app-store-server-library"}


def module_file(name: str) -> Path | None:
    path = SRC.joinpath(*name.split("."))
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    return None


def runtime_imports(name: str) -> set[str]:
    """Modules ``name`` imports, leaving out ``if TYPE_CHECKING:`` blocks (never run)."""
    path = module_file(name)
    assert path is not None, name
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def package_modules(package: str) -> list[str]:
    base = SRC.joinpath(*package.split("."))
    names = [".".join(p.with_suffix("").relative_to(SRC).parts) for p in base.rglob("*.py")]
    return [name.removesuffix(".__init__") for name in names]


@cache
def role_closure(role: str) -> tuple[frozenset[str], frozenset[str]]:
    """(phoenix modules, third-party top-level names) a role's process can import."""
    todo = package_modules(f"phoenix.{role}") + SHARED_ROOTS
    seen: set[str] = set()
    third_party: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for imported in runtime_imports(name):
            parts = imported.split(".")
            if parts[0] != "phoenix":
                if parts[0] and parts[0] not in sys.stdlib_module_names:
                    third_party.add(parts[0])
                continue
            while parts and module_file(".".join(parts)) is None:
                parts.pop()
            todo += [".".join(parts[:n]) for n in range(1, len(parts) + 1)]
    return frozenset(seen), frozenset(third_party)


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def with_dependencies(requirements: list[str]) -> set[str]:
    """The distributions ``requirements`` install, following installed metadata."""
    found: set[str] = set()
    todo = [(Requirement(line), "") for line in requirements]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonical(requirement.name)
        extras = sorted(requirement.extras)
        key = f"{name}[{','.join(extras)}]"
        if key in found:
            continue
        found.add(key)
        found.add(name)
        for line in importlib.metadata.requires(requirement.name) or []:
            for wanted in ["", *extras]:
                todo.append((Requirement(line), wanted))
    return {name for name in found if "[" not in name}


def project() -> dict[str, list[str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"": data["dependencies"], **data["optional-dependencies"]}


@cache
def top_level_names() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions_of(top_level: str) -> set[str]:
    return {canonical(d) for d in top_level_names().get(top_level, [])}


@pytest.mark.parametrize("role", ROLES)
def test_the_role_extra_carries_every_library_the_role_imports(role: str) -> None:
    declared = project()
    installed = with_dependencies(declared[""] + declared[role])
    _, third_party = role_closure(role)
    missing = {
        name: sorted(distributions_of(name))
        for name in third_party
        if (role, name) not in OUTSIDE_IMAGES and not distributions_of(name) & installed
    }
    assert missing == {}


def test_the_config_image_cannot_reach_identity_or_payment_libraries() -> None:
    declared = project()
    assert with_dependencies(declared[""] + declared["config"]) & IDENTITY_AND_PAYMENT == set()
    # The check itself sees them where they are.
    assert with_dependencies(declared["auth"]) >= IDENTITY_AND_PAYMENT


def test_the_check_finds_a_library_a_role_would_lack() -> None:
    # Planted: the config role's set as if it imported stripe.
    declared = project()
    installed = with_dependencies(declared[""] + declared["config"])
    assert not distributions_of("stripe") & installed
    assert distributions_of("redis") & installed


@pytest.mark.parametrize("role", ROLES)
def test_a_role_reaches_no_other_role_package(role: str) -> None:
    modules, _ = role_closure(role)
    packages = {".".join(m.split(".")[:2]) for m in modules if m.count(".") >= 1}
    others = {f"phoenix.{r}" for r in ROLES if r != role} | {"phoenix.client", "phoenix.dev"}
    assert packages & others == set()


def test_the_cli_imports_at_module_level_nothing_of_a_role() -> None:
    tree = ast.parse((SRC / "phoenix" / "cli.py").read_text())
    top = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    names = {alias.name for node in top if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in top if isinstance(node, ast.ImportFrom)}
    assert {n for n in names if n.split(".")[0] not in sys.stdlib_module_names} <= {"phoenix"}


def role_packages(role: str) -> set[str]:
    """The phoenix subpackages the role's image must hold (test_image compares)."""
    modules, _ = role_closure(role)
    return {m.split(".")[1] for m in modules if m.count(".") >= 1 and module_file(m) is not None}
