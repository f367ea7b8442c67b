"""Start the brickwork emulator binary once per session for the official Python SDK."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient

ROOT = Path(__file__).resolve().parents[2]
SP_ID, SP_SECRET = "compat-sp", "compat-sp-secret"
USER_NAME, USER_TOKEN = "compat-analyst@example.com", "dapi-compat-analyst-token"


def _binary() -> str:
    explicit = os.environ.get("BRICKWORK_EMULATOR")
    if explicit:
        return explicit
    for profile in ("debug", "release"):
        candidate = ROOT / "target" / profile / "brickwork-emulator"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("build it first: cargo build -p brickwork-emulator")


@pytest.fixture(scope="session")
def emulator():
    proc = subprocess.Popen(
        [_binary(), "--transition-delay-ms", "200", "--task-duration-ms", "200",
         "--service-principal", f"{SP_ID}:{SP_SECRET}", "--oauth-token-lifetime-secs", "60",
         "--user", f"{USER_NAME}:{USER_TOKEN}", "--volume", "main.default.v"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        ready = json.loads(proc.stdout.readline())
        yield ready
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def w(emulator) -> WorkspaceClient:
    return WorkspaceClient(host=emulator["url"], token=emulator["token"], auth_type="pat")


@pytest.fixture(scope="session")
def user_w(emulator) -> WorkspaceClient:
    """A workspace user who is not an admin."""
    return WorkspaceClient(host=emulator["url"], token=USER_TOKEN, auth_type="pat")


def pytest_terminal_summary(terminalreporter):
    """Print the plain 'N passed, N failed' line CI summaries look for."""
    passed = len(terminalreporter.stats.get("passed", []))
    failed = len(terminalreporter.stats.get("failed", [])) + len(terminalreporter.stats.get("error", []))
    terminalreporter.write_line(f"compat: {passed} passed, {failed} failed")
