"""One top-level package: the wheel installs ``ductape_jobs`` only, mapped from the three folders, so an
application's own ``workflows`` package and ours both import."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.support.installs import ROOT

FOLDERS = {"starter": "ductape_jobs", "workflows": "ductape_jobs.workflows", "activities": "ductape_jobs.activities"}


def test_every_package_folder_is_listed_under_its_installed_name() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {name: folder for folder, name in FOLDERS.items()}
    found = set()
    for folder, name in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join([name, *relative]))
    assert sorted(setuptools["packages"]) == sorted(found)


@pytest.mark.timeout(180)
def test_the_wheel_holds_ductape_jobs_only_and_a_user_workflows_package_still_imports(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", tmp_path, ROOT],
        check=True, capture_output=True, timeout=150,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("ductape_jobs-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        archive.extractall(tmp_path / "site")
    assert {top for top in tops if not top.endswith(".dist-info")} == {"ductape_jobs"}
    assert "ductape_jobs/py.typed" in archive.namelist()
    user = tmp_path / "app" / "workflows"
    user.mkdir(parents=True)
    (user / "__init__.py").write_text("OWNER = 'the application'\n")
    site = str(tmp_path / "site")
    probe = (
        "import workflows, ductape_jobs, ductape_jobs.workflows.job_workflow as job\n"
        "from ductape_jobs import Ductape, JobEventTypes\n"
        f"print(workflows.OWNER, ductape_jobs.__file__.startswith({site!r}),"
        " job.JobWorkflow.__name__, Ductape.__name__)\n"
    )
    # The wheel's directory first (as site-packages would hold it), the application's own folder first of
    # all; the test venv supplies the dependencies.
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path / "app", capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": f"{tmp_path / 'app'}:{tmp_path / 'site'}", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["the", "application", "True", "JobWorkflow", "Ductape"]


def test_importing_the_package_loads_nothing_else() -> None:
    """The sandbox imports ``ductape_jobs`` as the parent of the workflow package: it must stay cheap."""
    probe = "import sys, ductape_jobs\nprint(sorted(m for m in sys.modules if m.startswith('ductape_jobs')))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "['ductape_jobs']"
