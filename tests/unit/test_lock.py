"""Installs are locked: uv.lock and tools/*.txt match what pyproject asks for, with hashes.

`make dev`, `make test` and the images install only from these files (`uv sync --frozen`,
`pip --require-hashes`); a lock that no longer matches pyproject.toml must fail here, not be
quietly re-resolved somewhere else.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".venv-tools" / "bin" / "uv"
PROJECTS = [ROOT / "pyproject.toml", ROOT / "daemon" / "pyproject.toml"]


def uv_lock_check(project: Path) -> subprocess.CompletedProcess[str]:
    # --offline: the check compares the lock with pyproject and needs no index when they agree.
    return subprocess.run(
        [str(UV), "lock", "--check", "--offline", "--project", str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def declared_requirements(pyproject: Path) -> list[str]:
    data = tomllib.loads(pyproject.read_text())
    project = data["project"]
    found = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        found += extra
    for group in data.get("dependency-groups", {}).values():
        found += [r for r in group if isinstance(r, str)]
    return found


def copy_project(into: Path) -> Path:
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, into / name)
    (into / "daemon").mkdir()
    shutil.copy(ROOT / "daemon" / "pyproject.toml", into / "daemon" / "pyproject.toml")
    return into


@pytest.fixture(scope="module")
def uv() -> Path:
    if not UV.exists():
        pytest.fail(f"{UV} is missing: `make deps` installs it from tools/host.txt")
    return UV


def test_uv_lock_matches_pyproject(uv: Path) -> None:
    result = uv_lock_check(ROOT)
    assert result.returncode == 0, f"uv.lock is stale, run `make lock`:\n{result.stderr}"


def test_a_changed_requirement_makes_the_lock_stale(uv: Path, tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    assert uv_lock_check(project).returncode == 0  # the copy alone is still fresh
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"litestar>=2.14,<3"', '"litestar>=2.14,<2.15"'))
    assert uv_lock_check(project).returncode != 0


@pytest.mark.parametrize("pyproject", PROJECTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_requirement_has_an_upper_bound(pyproject: Path) -> None:
    unbounded = []
    for line in declared_requirements(pyproject):
        requirement = Requirement(line)
        if requirement.name in {"phoenix", "phoenix-node"}:  # the workspace itself
            continue
        if not any(spec.operator in {"<", "<=", "==", "~="} for spec in requirement.specifier):
            unbounded.append(line)
    assert unbounded == []


def pins(lock: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a `pip-compile --generate-hashes` style file."""
    found: dict[str, tuple[str, int]] = {}
    current = None
    for line in lock.read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9_.-]+)==([^ \\]+)", line)
        if pin:
            current = pin.group(1).lower().replace("_", "-")
            found[current] = (pin.group(2), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
    return found


def tool_lock_problems(wanted_file: Path, lock_file: Path) -> list[str]:
    wanted = [
        Requirement(line)
        for line in wanted_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    locked = pins(lock_file)
    problems = [f"{key} has no hash" for key, (_, hashes) in locked.items() if hashes == 0]
    for requirement in wanted:
        key = requirement.name.lower().replace("_", "-")
        if key not in locked:
            problems.append(f"{requirement.name} is not pinned")
        elif not requirement.specifier.contains(locked[key][0], prereleases=True):
            problems.append(f"{key}=={locked[key][0]} does not satisfy {requirement}")
    return problems if locked else ["no pins found"]


@pytest.mark.parametrize("name", ["host", "build"])
def test_each_tool_lock_pins_what_its_input_asks_for_with_hashes(name: str) -> None:
    tools = ROOT / "tools"
    assert tool_lock_problems(tools / f"{name}.in", tools / f"{name}.txt") == [], "`make lock`"


def test_a_tool_lock_behind_its_input_or_without_hashes_is_caught(tmp_path: Path) -> None:
    wanted = tmp_path / "tools.in"
    wanted.write_text("checkov==3.3.31\nuv>=0.13,<0.14\n")
    lock = tmp_path / "tools.txt"
    lock.write_text("checkov==3.3.30 \\\n    --hash=sha256:00\nuv==0.13.9\n")
    assert tool_lock_problems(wanted, lock) == [
        "uv has no hash",
        "checkov==3.3.30 does not satisfy checkov==3.3.31",
    ]


def test_the_installed_uv_is_the_locked_one(uv: Path) -> None:
    version = subprocess.run(
        [str(uv), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()[1]
    assert pins(ROOT / "tools" / "host.txt")["uv"][0] == version
