"""infra/hooks/postdeploy.py without Azure: the retry bound on a fake clock, what it prints, when it
fails, and how it asks the developer's Azure CLI (a fake one here) for the master key.

tests/integration/test_smoke.py runs the same logic against the local stack.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import REPO

HOOK = REPO / "infra" / "hooks" / "postdeploy.py"


def load_hook() -> ModuleType:
    """The hook is a script, not a package module (and under pytest `infra` is tests/infra): load it by path."""
    if (loaded := sys.modules.get("postdeploy_hook")) is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("postdeploy_hook", HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from infra.hooks import postdeploy
else:
    postdeploy = load_hook()

Reply = postdeploy.Reply
KEY = "fake-master-key-5f1d0c"


class FakeTime:
    """A clock that moves only when the code sleeps, or by `request_seconds` per HTTP call."""

    def __init__(self, request_seconds: float = 0.0) -> None:
        self.now = 1000.0
        self.request_seconds = request_seconds
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


def check(name: str, *, status: int = 200, action: str | None = None, hint: str | None = None) -> dict[str, Any]:
    ok = status == 200
    error = None if ok else "the app's identity was refused"
    return {"name": name, "ok": ok, "latencyMs": 4.2, "status": status, "error": error, "action": action, "hint": hint}


HEALTHY_CHECKS = [check("keyvault"), check("blob"), check("cosmos")]
BLOB_REFUSED = [
    check("keyvault"),
    check(
        "blob",
        status=403,
        action="Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
        hint="infra/ grants it with 'Storage Blob Data Contributor' at container scope: az role assignment create …",
    ),
    check("cosmos"),
]
READY = [{"source": "github", "secret": "webhook-github", "state": "ready", "hint": None}]
MISSING = [
    {
        "source": "github",
        "secret": "webhook-github",
        "state": "missing",
        "hint": "Set it: az keyvault secret set --vault-name kv-x --name webhook-github --value <secret>",
    }
]


def diagnostics(checks: Sequence[Mapping[str, Any]], secrets: Sequence[Mapping[str, Any]] = READY) -> Any:
    document = {"identity": {"kind": "user", "clientId": "c-1", "principalId": "p-1"}, "checks": list(checks)}
    document["secrets"] = list(secrets)
    status = 200 if all(c["ok"] for c in checks) else 503
    return Reply(status, json.dumps(document).encode())


HEALTH_OK = Reply(200, b'{"status": "healthy"}')


@dataclass
class FakeApp:
    """Answers each attempt from a script; the last reply of each list repeats forever."""

    time: FakeTime
    health: list[Any] = field(default_factory=lambda: [HEALTH_OK])
    diagnostics: list[Any] = field(default_factory=lambda: [diagnostics(HEALTHY_CHECKS)])
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __call__(self, url: str, headers: Mapping[str, str]) -> Any:
        self.calls.append((url, dict(headers)))
        self.time.now += self.time.request_seconds
        replies = self.health if url.endswith("/api/health") else self.diagnostics
        return replies.pop(0) if len(replies) > 1 else replies[0]

    def starts(self, path: str) -> int:
        return sum(url.endswith(path) for url, _ in self.calls)


@dataclass
class Run:
    code: int
    lines: list[str]
    time: FakeTime
    app: FakeApp

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def run_smoke(
    *,
    health: Iterable[Any] = (HEALTH_OK,),
    answers: Iterable[Any] = (),
    timeout: float = postdeploy.DEFAULT_TIMEOUT_SECONDS,
    key: Any = None,
    request_seconds: float = 0.0,
    base_url: str = "https://func-x.azurewebsites.net",
) -> Run:
    time = FakeTime(request_seconds)
    app = FakeApp(time, list(health), list(answers) or [diagnostics(HEALTHY_CHECKS)])
    lines: list[str] = []
    code = postdeploy.smoke(
        base_url,
        get_master_key=key or (lambda: KEY),
        http_get=app,
        sleep=time.sleep,
        clock=time.clock,
        out=lines.append,
        timeout=timeout,
    )
    return Run(code, lines, time, app)


# --- a healthy deployment -----------------------------------------------------------------------------


def test_a_healthy_app_passes_at_once_with_one_line_per_check() -> None:
    run = run_smoke()
    assert run.code == 0
    assert run.time.sleeps == []
    assert "[ ok ] health: /api/health answered 200" in run.lines
    assert "[ ok ] identity: user-assigned, principal p-1, client c-1" in run.lines
    for name in ("keyvault", "blob", "cosmos"):
        assert f"[ ok ] {name} (4.2 ms)" in run.lines
    assert "[ ok ] secret webhook-github: ready" in run.lines
    assert run.lines[-1] == "postdeploy: deployed and working."


def test_diagnostics_is_called_with_the_master_key_in_a_header_only() -> None:
    run = run_smoke()
    (health_headers, diagnostics_headers) = (headers for _, headers in run.app.calls)
    assert health_headers == {}
    assert diagnostics_headers == {"x-functions-key": KEY}
    assert all(KEY not in url for url, _ in run.app.calls)


def test_a_missing_webhook_secret_is_a_next_step_not_a_failure() -> None:
    """The vault is empty right after `azd up`: that is the expected state, and it does not wait for it."""
    run = run_smoke(answers=[diagnostics(HEALTHY_CHECKS, MISSING)])
    assert run.code == 0
    assert run.time.sleeps == []
    (line,) = [line for line in run.lines if "webhook-github" in line]
    assert line.startswith("[next] secret webhook-github: missing. ")
    assert "az keyvault secret set --vault-name kv-x --name webhook-github" in line
    assert "Next step: set the signing secret of github" in run.lines[-1]


# --- waiting for the deployment to settle ---------------------------------------------------------------


def test_a_403_that_clears_after_three_attempts_passes() -> None:
    """New role assignments take minutes to apply: 403s right after deploy are retried with backoff."""
    run = run_smoke(answers=[diagnostics(BLOB_REFUSED)] * 3 + [diagnostics(HEALTHY_CHECKS)])
    assert run.code == 0
    assert run.time.sleeps == [5, 10, 20]
    waiting = [line for line in run.lines if line.startswith("  waiting:")]
    assert len(waiting) == 3
    assert all("blob 403" in line and postdeploy.ROLE_DELAY_NOTE in line for line in waiting)
    assert "[ ok ] blob (4.2 ms)" in run.lines


def test_a_check_that_never_passes_gives_up_at_the_bound_and_fails() -> None:
    run = run_smoke(answers=[diagnostics(BLOB_REFUSED)])
    assert run.code == 1
    # 5 s doubling to 30 s, the last pause cut short so that the last attempt starts at the bound.
    assert run.time.sleeps == [5, 10, 20, *[30] * 8, 25]
    assert sum(run.time.sleeps) == postdeploy.DEFAULT_TIMEOUT_SECONDS
    assert run.app.starts("/api/diagnostics") == len(run.time.sleeps) + 1
    (failing,) = [line for line in run.lines if line.startswith("[FAIL] blob")]
    assert "status 403" in failing
    assert "refused Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write" in failing
    assert "Hint: infra/ grants it with 'Storage Blob Data Contributor' at container scope" in failing
    assert "[ ok ] keyvault (4.2 ms)" in run.lines
    assert run.lines[-1].startswith("postdeploy: FAILED: blob still failing after 300 s.")


def test_slow_answers_count_against_the_bound() -> None:
    """No attempt starts after the bound, however long each request takes."""
    run = run_smoke(answers=[diagnostics(BLOB_REFUSED)], timeout=60, request_seconds=7)
    assert run.code == 1
    assert run.time.now - 1000.0 <= 60 + 2 * 7
    assert sum(run.time.sleeps) < 60


def test_the_timeout_is_an_option_and_zero_means_one_attempt() -> None:
    assert run_smoke(answers=[diagnostics(BLOB_REFUSED)], timeout=40).time.sleeps == [5, 10, 20, 5]
    once = run_smoke(answers=[diagnostics(BLOB_REFUSED)], timeout=0)
    assert once.code == 1
    assert once.time.sleeps == []


def test_a_fresh_app_that_does_not_resolve_then_answers_404_is_waited_for() -> None:
    run = run_smoke(
        health=[
            Reply(None, error="[Errno -2] Name or service not known"),
            Reply(404, b"<html>not found</html>"),
            Reply(503, b'{"title": "Function host is not running."}'),
            HEALTH_OK,
        ]
    )
    assert run.code == 0
    assert run.time.sleeps == [5, 10, 20]
    assert "got no answer ([Errno -2] Name or service not known)" in run.lines[1]
    assert "/api/health answered 404" in run.lines[2]
    assert "/api/health answered 503 (Function host is not running.)" in run.lines[3]
    assert run.app.starts("/api/diagnostics") == 1  # the key is looked up and used only once the app is up


def test_an_app_that_never_answers_fails_after_the_bound() -> None:
    run = run_smoke(health=[Reply(None, error="timed out")], timeout=20)
    assert run.code == 1
    assert run.app.starts("/api/diagnostics") == 0
    assert run.lines[-2] == "[FAIL] health: /api/health got no answer (timed out)"
    assert "did not answer /api/health after 20 s" in run.lines[-1]


def test_diagnostics_not_registered_yet_is_waited_for() -> None:
    run = run_smoke(answers=[Reply(404, b""), Reply(401, b""), diagnostics(HEALTHY_CHECKS)])
    assert run.code == 0
    assert run.time.sleeps == [5, 10]
    assert "/api/diagnostics answered 404" in run.lines[1]


# --- the master key ----------------------------------------------------------------------------------


def test_a_key_lookup_that_waiting_cannot_fix_fails_at_once() -> None:
    def signed_out() -> str:
        raise postdeploy.KeyUnavailable("`az functionapp keys` failed: Please run 'az login'", retryable=False)

    run = run_smoke(key=signed_out)
    assert run.code == 1
    assert run.time.sleeps == []
    assert "[FAIL] diagnostics: could not get the master key: `az functionapp keys` failed" in run.text


def test_a_key_lookup_that_may_succeed_later_is_retried_and_a_401_looks_the_key_up_again() -> None:
    lookups: list[str] = []

    def lookup() -> str:
        lookups.append("lookup")
        if len(lookups) == 1:
            raise postdeploy.KeyUnavailable("ARM listkeys answered 404", retryable=True)
        return KEY

    run = run_smoke(key=lookup, answers=[Reply(401, b""), diagnostics(HEALTHY_CHECKS)])
    assert run.code == 0
    assert len(lookups) == 3  # failed; found, then refused with 401; found again
    assert "  waiting: master key: ARM listkeys answered 404" in run.lines[1]


def test_the_master_key_is_never_printed_even_when_the_app_echoes_it() -> None:
    echoed = [*HEALTHY_CHECKS[:2], {**check("cosmos", status=403), "error": f"refused key {KEY}", "hint": KEY}]
    run = run_smoke(answers=[diagnostics(echoed)], timeout=10)
    assert run.code == 1
    assert KEY not in run.text
    assert "refused key <master key>" in run.text


def test_the_key_is_never_sent_over_plain_http_to_another_host() -> None:
    run = run_smoke(base_url="http://func-x.azurewebsites.net")
    assert run.code == 1
    assert run.app.calls == []
    assert "only sent over https" in run.text


# --- where the key comes from in Azure ------------------------------------------------------------------

AZD_ENV = {
    "AZURE_RESOURCE_GROUP": "rg-inbox",
    "AZURE_FUNCTION_APP_NAME": "func-inbox",
    "AZURE_SUBSCRIPTION_ID": "00000000-1111-2222-3333-444444444444",
}
KEYS_LIST = ("functionapp", "keys", "list", "-g", "rg-inbox", "-n", "func-inbox", "--query", "masterKey", "-o", "tsv")
GET_TOKEN = ("account", "get-access-token", "--resource", "https://management.azure.com", "--query", "accessToken")


@dataclass
class FakeAz:
    """The Azure CLI as `run_az` would run it: answers per command, and every command it was given."""

    answers: dict[tuple[str, ...], subprocess.CompletedProcess[str]]
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def __call__(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(tuple(args))
        for command, answer in self.answers.items():
            if tuple(args[: len(command)]) == command:
                return answer
        raise AssertionError(f"unexpected az call: {args}")


def done(stdout: str = "", *, code: int = 0, stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(["az"], code, stdout, stderr)


def no_post(url: str, headers: Mapping[str, str]) -> Any:
    raise AssertionError("ARM was called")


def test_the_key_comes_from_az_functionapp_keys_list() -> None:
    az = FakeAz({KEYS_LIST: done(f"{KEY}\r\n")})
    assert postdeploy.azure_master_key(AZD_ENV, run=az, post=no_post)() == KEY
    assert az.calls == [KEYS_LIST]


def test_an_empty_cli_answer_falls_back_to_arm_listkeys_with_the_developers_token() -> None:
    posted: list[tuple[str, dict[str, str]]] = []

    def post(url: str, headers: Mapping[str, str]) -> Any:
        posted.append((url, dict(headers)))
        return Reply(200, json.dumps({"masterKey": KEY, "functionKeys": {"default": "f"}}).encode())

    az = FakeAz({KEYS_LIST: done("\n"), GET_TOKEN: done("arm-token\n")})
    assert postdeploy.azure_master_key(AZD_ENV, run=az, post=post)() == KEY
    assert posted == [
        (
            "https://management.azure.com/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-inbox"
            "/providers/Microsoft.Web/sites/func-inbox/host/default/listkeys?api-version=2024-04-01",
            {"Authorization": "Bearer arm-token"},
        )
    ]


def test_without_azd_subscription_the_cli_names_it() -> None:
    env = {k: v for k, v in AZD_ENV.items() if k != "AZURE_SUBSCRIPTION_ID"}
    az = FakeAz({KEYS_LIST: done(""), ("account", "show"): done("sub-9\n"), GET_TOKEN: done("t")})
    urls: list[str] = []

    def post(url: str, headers: Mapping[str, str]) -> Any:
        urls.append(url)
        return Reply(403, b'{"error": {"code": "AuthorizationFailed", "message": "no listkeys/action"}}')

    with pytest.raises(postdeploy.KeyUnavailable) as refused:
        postdeploy.azure_master_key(env, run=az, post=post)()
    assert urls[0].startswith("https://management.azure.com/subscriptions/sub-9/")
    assert refused.value.retryable is False
    assert "403 (no listkeys/action)" in str(refused.value)


def test_a_signed_out_cli_is_not_retried_and_another_failure_is() -> None:
    signed_out = FakeAz({KEYS_LIST: done(code=1, stderr="ERROR: Please run 'az login' to setup account.\n")})
    with pytest.raises(postdeploy.KeyUnavailable) as error:
        postdeploy.azure_master_key(AZD_ENV, run=signed_out, post=no_post)()
    assert error.value.retryable is False
    assert "az login" in str(error.value)

    starting = FakeAz({KEYS_LIST: done(code=1, stderr="ERROR: (ServiceUnavailable) host runtime unavailable\n")})
    with pytest.raises(postdeploy.KeyUnavailable) as error:
        postdeploy.azure_master_key(AZD_ENV, run=starting, post=no_post)()
    assert error.value.retryable is True
    assert "host runtime unavailable" in str(error.value)


def test_without_the_azure_cli_the_hook_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(postdeploy.KeyUnavailable, match="not on PATH") as error:
        postdeploy.run_az(["version"])
    assert error.value.retryable is False


# --- the command line --------------------------------------------------------------------------------


def test_missing_azd_outputs_fail_before_any_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert postdeploy.main([], {"AZURE_FUNCTION_APP_URI": "https://func-x.azurewebsites.net"}) == 1
    err = capsys.readouterr().err
    assert "AZURE_RESOURCE_GROUP" in err
    assert "AZURE_FUNCTION_APP_NAME" in err


def test_the_timeout_comes_from_the_option_then_the_azd_environment() -> None:
    assert postdeploy.parse_args([], {}).timeout == postdeploy.DEFAULT_TIMEOUT_SECONDS
    assert postdeploy.parse_args([], {"POSTDEPLOY_TIMEOUT_SECONDS": "600"}).timeout == 600
    assert postdeploy.parse_args(["--timeout", "0"], {"POSTDEPLOY_TIMEOUT_SECONDS": "600"}).timeout == 0
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(SystemExit) as exit_:
            postdeploy.parse_args(["--timeout", bad], {})
        assert exit_.value.code == 2
