"""The built wheel is a working service: installed into a fresh venv with the locked runtime
dependencies, run from a directory outside the repository, it finds its bundled rule pack and
answers an example request with its card.

Builds and installs for real (pip, the package index or pip's cache): about half a minute
with a warm cache, a few minutes on a machine that has to compile durable-rules first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.serving.processes import free_port, stop_group

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "cds", "rules")
INSTALL_TIMEOUT = 900  # seconds: durable-rules compiles its C engine on a cold cache

pytestmark = [pytest.mark.slow, pytest.mark.wheel]


@dataclass(frozen=True)
class Installed:
    venv: Path
    workdir: Path  # outside the repository: nothing there but what the test writes
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def cds(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.venv / "bin" / "cds"), *args, timeout=timeout)


def _step(what: str, *args: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=INSTALL_TIMEOUT, check=False)
    assert done.returncode == 0, f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    workdir = base / "work"
    workdir.mkdir()
    # Nothing of this checkout or of the test run's venv may leak into the installed service.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CDS_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # Built from a copy of what the Dockerfile copies: setuptools leaves build/ in the tree it
    # builds, and a stale build/ of the checkout could put removed files in the wheel.
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = base / "dist"
    _step("building the wheel", sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
          "--wheel-dir", str(dist), str(source), cwd=base, env=env)
    (wheel,) = dist.glob("stress_pain_cds-*.whl")
    venv = base / "venv"
    _step("creating the venv", sys.executable, "-m", "venv", str(venv), cwd=base, env=env)
    python = str(venv / "bin" / "python")
    _step("installing requirements/runtime.lock", python, "-m", "pip", "install", "--quiet",
          "--require-hashes", "-r", str(ROOT / "requirements" / "runtime.lock"),
          cwd=base, env=env)
    _step("installing the wheel", python, "-m", "pip", "install", "--quiet", "--no-deps",
          str(wheel), cwd=base, env=env)
    return Installed(venv, workdir, env)


def _bundled_pack(installed: Installed) -> Path:
    (site,) = (installed.venv / "lib").glob("python3.*/site-packages")
    return site / "cds" / "_pack"


def test_the_wheel_carries_every_file_of_the_rule_pack(installed: Installed):
    shipped = sorted(p.relative_to(ROOT / "rules").as_posix()
                     for p in (ROOT / "rules").rglob("*") if p.is_file())
    bundled = _bundled_pack(installed)
    assert sorted(p.relative_to(bundled).as_posix()
                  for p in bundled.rglob("*") if p.is_file()) == shipped


def test_version_names_the_package_and_the_bundled_pack(installed: Installed):
    expected = ["stress-pain-cds 0.1.0",
                f"rule pack stress-pain 2.0.0 ({_bundled_pack(installed)})"]
    by_script = installed.cds("--version")
    assert (by_script.returncode, by_script.stdout.splitlines()) == (0, expected)
    by_module = installed.run(str(installed.venv / "bin" / "python"), "-m", "cds", "--version")
    assert (by_module.returncode, by_module.stdout.splitlines()) == (0, expected)


def test_the_bundled_pack_passes_its_check_and_tests(installed: Installed):
    checked = installed.cds("rules", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_rules_elsewhere_are_named_with_rules_or_cds_rules_dir(installed: Installed):
    empty = installed.workdir / "no-pack"
    empty.mkdir()
    refused = installed.cds("serve", "--no-auth", "--port", str(free_port()),
                            "--rules", str(empty))
    assert refused.returncode == 2
    assert f"no rule pack in {empty}" in refused.stderr
    env = {**installed.env, "CDS_RULES_DIR": str(empty)}
    shown = subprocess.run([str(installed.venv / "bin" / "cds"), "--version"], env=env,
                           cwd=installed.workdir, capture_output=True, text=True, timeout=60,
                           check=False)
    assert f"rule pack none: no readable pack.yaml in {empty}" in shown.stdout


def test_the_installed_service_answers_an_example_with_its_card(installed: Installed):
    printed = installed.cds("example", "r02-depression-with-pain")
    assert printed.returncode == 0, printed.stderr
    port = free_port()
    log = installed.workdir / "serve.log"
    env = {**installed.env, "CDS_DATABASE_URL": f"sqlite:///{installed.workdir / 'cds.sqlite3'}"}
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(installed.venv / "bin" / "cds"), "serve", "--no-auth", "--port", str(port)],
            cwd=installed.workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"cds serve exited:\n{log.read_text()}"
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"cds serve did not come up:\n{log.read_text()}"
            time.sleep(0.2)
        reply = httpx.post(f"{base}/cds-services/stress-pain-patient-view",
                           content=printed.stdout, timeout=30,
                           headers={"Content-Type": "application/json"})
        assert reply.status_code == 200, reply.text
        cards = reply.json()["cards"]
        assert [(c["extension"]["org.stresspain.cds"]["rule"], c["indicator"])
                for c in cards] == [("R02", "info")]
        assert cards[0]["summary"].startswith("PHQ-9 12, GAD-7 8 with pain 6/10")
        assert cards[0]["extension"]["org.stresspain.cds"]["packVersion"] == "2.0.0"
        discovery = httpx.get(f"{base}/cds-services", timeout=10).json()
        assert json.dumps(discovery).count("stress-pain-") >= 3
    finally:
        stop_group(server)


def test_the_wheel_generates_a_population_and_names_the_dryrun_extra(installed: Installed):
    made = installed.cds("population", "generate", "--patients", "3", "--now", "2026-11-20",
                         "--out", "population", "--workers", "1")
    assert made.returncode == 0, made.stderr
    assert "3 patients" in made.stdout
    (site,) = (installed.venv / "lib").glob("python3.*/site-packages")
    assert (site / "cds" / "dryrun" / "templates" / "report.html.j2").is_file()
    # The runtime lock has no pyarrow or matplotlib: the command says what to install.
    run = installed.cds("dryrun", "population", "--now", "2026-11-20", "--out", "out")
    assert run.returncode == 2
    assert "pip install 'stress-pain-cds[dryrun]'" in run.stderr
