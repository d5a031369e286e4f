"""pytest fixtures for the local Azure stack. Loaded with `-p devstack.pytest_plugin` (see pyproject).

`devstack` is session-scoped: the first test that asks for it starts the stack on free ports, and it
stops when the session ends (or, through the stdin pipe, when the test process dies).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.certs import ensure_certificates
from devstack.testing import IDENTITY_VARIABLES, StackInfo, StackProcess, state_root

# The test process trusts the local CA the way the app's host does: through the standard variables,
# set before any test module imports aiohttp (whose default TLS context reads SSL_CERT_FILE once, at
# import). The Cosmos SDK in particular verifies with the default context whatever its
# `connection_verify` says, so this is the only way its TLS is really checked.
CERTS = ensure_certificates(state_root() / "certs")
if "aiohttp" in sys.modules:
    raise RuntimeError("devstack.pytest_plugin must load before aiohttp (it is passed with -p in pyproject)")
os.environ["SSL_CERT_FILE"] = os.environ["REQUESTS_CA_BUNDLE"] = str(CERTS.ca_bundle)


@pytest.fixture(scope="session")
def devstack_args() -> list[str]:
    """Extra `devstack up` arguments for the session's stack; override in a conftest.py."""
    return []


@pytest.fixture(scope="session")
def devstack_project() -> Path | None:
    """The app folder the session's stacks serve; None: the one around the working directory.
    Override in a conftest.py to serve another app."""
    return None


@pytest.fixture(scope="session")
def devstack(
    tmp_path_factory: pytest.TempPathFactory, devstack_args: list[str], devstack_project: Path | None
) -> Iterator[StackInfo]:
    yield from serve(tmp_path_factory, devstack_args, devstack_project)


def serve(tmp_path_factory: pytest.TempPathFactory, args: list[str], project: Path | None) -> Iterator[StackInfo]:
    """A stack for a session-scoped fixture. pytest caches a session fixture per definition, so a test
    folder serving another app defines its own `devstack` fixture with this (overriding only
    `devstack_project` would hand it the first app's stack when both run in one session)."""
    stack = StackProcess(
        tmp_path_factory.mktemp("devstack"), ["--certs-dir", str(CERTS.folder), *args], project_dir=project
    )
    try:
        yield stack.wait_ready()
    finally:
        stack.stop()


@pytest.fixture
def identity_env(devstack: StackInfo, monkeypatch: pytest.MonkeyPatch) -> StackInfo:
    """A clean slate for azure-identity: no token-endpoint variables from the developer's shell."""
    for name in (*IDENTITY_VARIABLES, "AZURE_CLIENT_ID", "AZURE_TOKEN_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in devstack.network_environment().items():
        monkeypatch.setenv(name, value)
    return devstack


StartStack = Callable[..., StackInfo]


@pytest.fixture(scope="module")
def start_stack(tmp_path_factory: pytest.TempPathFactory, devstack_project: Path | None) -> Iterator[StartStack]:
    """start_stack('--infra-dir', path, ...): another stack besides the session's, stopped with the module.
    `project=PATH` serves another app folder."""
    started: list[StackProcess] = []

    def start(*args: str, project: Path | None = None) -> StackInfo:
        process = StackProcess(
            tmp_path_factory.mktemp("stack"),
            ["--certs-dir", str(CERTS.folder), *args],
            project_dir=project or devstack_project,
        )
        started.append(process)
        return process.wait_ready()

    yield start
    for process in started:
        process.stop()
