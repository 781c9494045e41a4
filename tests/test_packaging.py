"""The wheel holds the library only: a project with its own `servers` package runs the worker by
the documented commands (`jobs worker`, `python -m jobs worker`, `arq jobs.arq_worker.WorkerSettings`)
from a pip-installed copy, not this repository's editable one."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from jobs import JobStatus
from jobs.store.inspection import get_record

from .processes import PYTHON, ROOT, process_env, remote_job, run_to_exit

BIN = Path(sys.executable).parent
USER_JOBS = """\
import os

from jobs import job


async def greet(payload: dict[str, str]) -> str:
    return "hello " + payload["name"]


job(name="user.greet", run=greet, queue=os.environ["JOBS_QUEUE"])
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the sources (so no build/ is left in the checkout), offline."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("jobs", "servers"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    pip = [PYTHON, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)]
    subprocess.run(pip, check=True, capture_output=True, timeout=120)
    (built,) = dist.glob("jobs-*.whl")
    return built


@pytest.fixture(scope="module")
def site(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory the wheel was pip-installed into (no dependencies: the suite's are on the path)."""
    target = tmp_path_factory.mktemp("site")
    install = [PYTHON, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=120)
    return target


def test_the_wheel_ships_the_jobs_package_and_no_servers_package(wheel: Path) -> None:
    """`servers/` is this repository's entry point; installed, it would shadow a project's own `servers`."""
    names = zipfile.ZipFile(wheel).namelist()
    assert "jobs/arq_worker.py" in names and "jobs/__main__.py" in names and "jobs/py.typed" in names
    assert not [n for n in names if n.startswith("servers/")], names
    assert {n.split("/")[0] for n in names if not n.startswith("jobs-")} == {"jobs"}


def test_the_wheel_ships_the_dashboards_templates_stylesheet_and_vendored_htmx(wheel: Path) -> None:
    """Package data: the dashboard runs from an installed wheel, with no CDN."""
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {"base.html", "overview.html", "job.html", "queue.html", "workers.html", "trigger.html", "error.html"}
    assert {f"jobs/dashboard/templates/{n}" for n in shipped} <= names
    assert {f"jobs/dashboard/static/{n}" for n in ("dashboard.css", "htmx.min.js", "htmx-LICENSE.txt")} <= names


def test_the_core_library_imports_no_web_dependency() -> None:
    """Triggering, the worker, the admin API and the CLI never import Starlette, Jinja2 or uvicorn."""
    code = (
        "import sys, jobs, jobs.admin, jobs.cli.main, jobs.worker, jobs.runtime.process, jobs.testing; "
        "web = ('starlette', 'jinja2', 'uvicorn', 'multipart', 'python_multipart'); "
        "print(sorted(m for m in web if m in sys.modules))"
    )
    done = run_to_exit([PYTHON, "-c", code], process_env())
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.output


@pytest.mark.slow
async def test_a_project_with_its_own_servers_package_runs_every_documented_worker_command(
    site: Path, tmp_path: Path, queue: str
) -> None:
    """From a non-editable install, each command runs a job of the project's own `servers.tasks` module."""
    project = tmp_path / "project"
    (project / "servers").mkdir(parents=True)
    (project / "servers" / "__init__.py").write_text("")
    (project / "servers" / "tasks.py").write_text(USER_JOBS)
    env = process_env(queue, JOBS_MODULES="servers.tasks", PYTHONPATH=str(site))
    where = run_to_exit([PYTHON, "-c", "import jobs, servers.tasks; print(jobs.__file__)"], env, cwd=project)
    assert where.stdout.strip() == str(site / "jobs" / "__init__.py"), where.output
    commands = {
        "jobs worker": [str(BIN / "jobs"), "worker", "--burst"],
        "python -m jobs worker": [PYTHON, "-m", "jobs", "worker", "--burst"],
        "arq jobs.arq_worker.WorkerSettings": [str(BIN / "arq"), "jobs.arq_worker.WorkerSettings", "--burst"],
    }
    for label, command in commands.items():
        handle = await remote_job("user.greet", queue).trigger({"name": label})
        done = run_to_exit(command, env, cwd=project)
        assert done.returncode == 0, f"{label}:\n{done.output}"
        record = await get_record(handle.id)
        assert record is not None and record.status is JobStatus.COMPLETED, f"{label}:\n{done.output}"
        assert record.result == f"hello {label}"
