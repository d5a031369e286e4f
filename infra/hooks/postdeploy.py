#!/usr/bin/env python3
"""azd postdeploy hook: smoke-check the deployed app through /api/health and /api/diagnostics.

azd runs this after `azd deploy` / `azd up` with the Bicep outputs in the environment. It asks
`/api/health` (anonymous), then `/api/diagnostics` with the app's master key, and prints one line per
check and per webhook source's signing secret, each with its hint. Right after a deployment the
answers are often not final yet: a fresh app's name may not resolve or answers 404 while the host
starts, and new role assignments take minutes to apply (403s). So it tries again with backoff (5 s,
doubling to 30 s) for up to POSTDEPLOY_TIMEOUT_SECONDS (default 300) and only then judges.

Exit 0 when every check passes. A source without a signing secret is the normal state right after
`azd up`: it is printed as a next step and does not fail the hook. Exit 1 when a check still fails
at the end, or the app never answered.

The master key comes from the developer's Azure CLI sign-in (`az functionapp keys list`, or ARM's
listkeys with `az account get-access-token` when the CLI prints no key). It stays in memory: it is
never written to disk, printed or logged, is sent only in a header, only over HTTPS (or to
loopback), and never along a redirect.

Standard library only, like postprovision.py: azd runs it with whatever Python 3.11+ is on PATH.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT_SECONDS = 300.0
TIMEOUT_VARIABLE = "POSTDEPLOY_TIMEOUT_SECONDS"
FIRST_DELAY_SECONDS = 5.0
MAX_DELAY_SECONDS = 30.0
# Diagnostics answers within the app's 8 s deadline; a cold Flex instance may need longer to start.
REQUEST_TIMEOUT_SECONDS = 30.0
KEY_HEADER = "x-functions-key"
USER_AGENT = "webhook-inbox-postdeploy"
# Web Apps - List Host Keys: POST .../sites/{name}/host/default/listkeys (Azure REST API reference).
ARM_ENDPOINT = "https://management.azure.com"
LIST_HOST_KEYS_API_VERSION = "2024-04-01"
AZ_TIMEOUT_SECONDS = 120.0
ROLE_DELAY_NOTE = "new role assignments can take several minutes to apply"
RERUN = "python infra/hooks/postdeploy.py"


# --- what the smoke check is given -------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange. status None: no HTTP answer at all (name not resolved, refused, TLS, timeout)."""

    status: int | None
    body: bytes = b""
    error: str = ""


class KeyUnavailable(Exception):
    """The master key could not be obtained. retryable: a later attempt may succeed (a fresh app)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


HttpGet = Callable[[str, Mapping[str, str]], Reply]
GetMasterKey = Callable[[], str]
Out = Callable[[str], None]


# --- the smoke check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One attempt: what the app answered, and why it is not the final answer yet (if it is not)."""

    health: Reply
    report: Mapping[str, Any] | None = None
    waiting: str = ""  # why another attempt may change the answer; "" when this one is final
    fatal: str = ""  # a problem that waiting cannot fix


class _MasterKey:
    """Looks the key up once (again after a 401), and keeps it only in memory."""

    def __init__(self, lookup: GetMasterKey) -> None:
        self._lookup = lookup
        self._key: str | None = None
        self.seen: list[str] = []  # every key handed out, so that none is ever printed

    def get(self) -> str:
        if self._key is None:
            key = self._lookup().strip()
            if not key:
                raise KeyUnavailable("the key lookup returned nothing", retryable=True)
            self._key = key
            self.seen.append(key)
        return self._key

    def forget(self) -> None:
        self._key = None

    def redact(self, line: str) -> str:
        for key in self.seen:
            line = line.replace(key, "<master key>")
        return line


def smoke(
    base_url: str,
    *,
    get_master_key: GetMasterKey,
    http_get: HttpGet,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    out: Out,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> int:
    """Check the app at base_url until it is healthy or `timeout` seconds have passed; 0 if healthy."""
    base = base_url.rstrip("/")
    key = _MasterKey(get_master_key)

    def say(line: str) -> None:
        out(key.redact(line))

    refusal = _unsafe_for_key(base)
    if refusal:
        say(f"postdeploy: {refusal}")
        return 1
    say(f"postdeploy: checking {base} (for up to {timeout:g} s while the deployment settles)")
    started = clock()
    deadline = started + timeout
    delay = FIRST_DELAY_SECONDS
    while True:
        outcome = _attempt(base, key, http_get)
        remaining = deadline - clock()
        if not outcome.waiting or outcome.fatal or remaining <= 0:
            break
        pause = min(delay, remaining)
        say(f"  waiting: {outcome.waiting}; next try in {pause:g} s ({clock() - started:.0f} s of {timeout:g} s)")
        sleep(pause)
        delay = min(delay * 2, MAX_DELAY_SECONDS)
    return _conclude(outcome, clock() - started, say)


def _attempt(base: str, key: _MasterKey, http_get: HttpGet) -> Outcome:
    health = http_get(f"{base}/api/health", {})
    if not _healthy(health):
        return Outcome(health, waiting=f"/api/health {_describe(health)}")
    try:
        master_key = key.get()
    except KeyUnavailable as error:
        if error.retryable:
            return Outcome(health, waiting=f"master key: {error}")
        return Outcome(health, fatal=f"could not get the master key: {error}")
    reply = http_get(f"{base}/api/diagnostics", {KEY_HEADER: master_key})
    if reply.status == 401:
        key.forget()  # a key rotated or not yet in effect: look it up again next time
    report = _report(reply)
    if report is None:
        return Outcome(health, waiting=f"/api/diagnostics {_describe(reply)}")
    failing = [check for check in _checks(report) if not check.get("ok")]
    if not failing:
        return Outcome(health, report)
    summary = ", ".join(f"{_text(c.get('name'))} {c.get('status') or 'failed'}" for c in failing)
    if any(c.get("status") in (401, 403) for c in failing):
        summary += f" ({ROLE_DELAY_NOTE})"
    return Outcome(health, report, waiting=summary)


def _conclude(outcome: Outcome, elapsed: float, say: Out) -> int:
    health = outcome.health
    if not _healthy(health):
        say(f"[FAIL] health: /api/health {_describe(health)}")
        say(f"postdeploy: FAILED: the app did not answer /api/health after {elapsed:.0f} s. Rerun: {RERUN}")
        return 1
    say("[ ok ] health: /api/health answered 200")
    report = outcome.report
    if report is None:
        say(f"[FAIL] diagnostics: {outcome.fatal or outcome.waiting}")
        say(f"postdeploy: FAILED after {elapsed:.0f} s. Rerun: {RERUN}")
        return 1
    say(_identity_line(report.get("identity")))
    checks = _checks(report)
    for check in checks:
        say(_check_line(check))
    secrets = _secrets(report)
    for secret in secrets:
        say(_secret_line(secret))
    failing = [_text(c.get("name")) for c in checks if not c.get("ok")]
    if failing or not checks:
        names = ", ".join(failing) or "no check reported"
        say(
            f"postdeploy: FAILED: {names} still failing after {elapsed:.0f} s. "
            f"Apply the hints above, or wait for new role assignments and rerun: {RERUN}"
        )
        return 1
    unset = [_text(s.get("source")) for s in secrets if s.get("state") != "ready"]
    if unset:
        say(
            f"postdeploy: deployed and working. Next step: set the signing secret of {', '.join(unset)} "
            "(commands above); until then their deliveries are answered 503 source-not-configured."
        )
    else:
        say("postdeploy: deployed and working.")
    return 0


# --- reading the answers -----------------------------------------------------------------------------


def _healthy(reply: Reply) -> bool:
    document = _json(reply.body)
    return reply.status == 200 and isinstance(document, dict) and document.get("status") == "healthy"


def _report(reply: Reply) -> Mapping[str, Any] | None:
    """The diagnostics document (200 all passing, 503 some failing), or None for any other answer."""
    document = _json(reply.body)
    if reply.status in (200, 503) and isinstance(document, dict) and isinstance(document.get("checks"), list):
        return document
    return None


def _checks(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in report.get("checks") or [] if isinstance(c, dict)]


def _secrets(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in report.get("secrets") or [] if isinstance(s, dict)]


def _describe(reply: Reply) -> str:
    if reply.status is None:
        return f"got no answer ({reply.error or 'no reason given'})"
    return f"answered {reply.status}" + (f" ({title})" if (title := _title(_json(reply.body))) else "")


def _title(document: object) -> str:
    """What a problem+json answer (the app) or an ARM error ({"error": {"message"}}) says went wrong."""
    if not isinstance(document, dict):
        return ""
    error = document.get("error")
    arm = error.get("message") if isinstance(error, dict) else None
    return _text(document.get("title") or document.get("detail") or arm)


def _identity_line(identity: object) -> str:
    if not isinstance(identity, dict):
        return "[ ?? ] identity: not reported"
    kind = {"user": "user-assigned", "system": "system-assigned"}.get(_text(identity.get("kind")), "unknown kind")
    ids = ", ".join(f"{label} {identity[name]}" for name, label in _IDS if identity.get(name))
    if identity.get("tokenError"):
        return f"[FAIL] identity: {kind}: {_text(identity['tokenError'])}"
    return f"[ ok ] identity: {kind}" + (f", {ids}" if ids else "")


_IDS = (("principalId", "principal"), ("clientId", "client"))


def _check_line(check: Mapping[str, Any]) -> str:
    name = _text(check.get("name")) or "unnamed check"
    if check.get("ok"):
        latency = check.get("latencyMs")
        return f"[ ok ] {name}" + (f" ({latency:g} ms)" if isinstance(latency, (int, float)) else "")
    parts = [_text(check.get("error")) or "failed"]
    if check.get("status") and str(check["status"]) not in parts[0]:
        parts.append(f"status {check['status']}")
    if check.get("action"):
        parts.append(f"refused {_text(check['action'])}")
    line = f"[FAIL] {name}: " + ", ".join(parts)
    return line + (f". Hint: {_text(check['hint'])}" if check.get("hint") else "")


def _secret_line(secret: Mapping[str, Any]) -> str:
    label = f"secret {_text(secret.get('secret')) or _text(secret.get('source'))}"
    state = _text(secret.get("state")) or "unknown"
    if state == "ready":
        return f"[ ok ] {label}: ready"
    if state == "unknown":
        return f"[ ?? ] {label}: unknown (Key Vault did not answer; see the keyvault check)"
    hint = _text(secret.get("hint"))
    return f"[next] {label}: {state}" + (f". {hint}" if hint else "")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _text(value: object) -> str:
    """One line of text, whatever the app sent: each check and secret stays on its own line."""
    return " ".join(str(value).split()) if value is not None else ""


# --- HTTP ------------------------------------------------------------------------------------------


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _unsafe_for_key(base: str) -> str:
    """Why the master key must not be sent to this URL, or "" when it may."""
    scheme = urllib.parse.urlsplit(base).scheme
    if scheme == "https" or (scheme == "http" and _is_loopback(base)):
        return ""
    return f"refusing {base}: the master key is only sent over https (or http to loopback)"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would replay the key (or the ARM token) to wherever a redirect points: never follow one."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http_request(method: str, url: str, headers: Mapping[str, str], *, timeout: float) -> Reply:
    """One request with the standard library; every failure is a Reply, none an exception."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return Reply(None, error=f"unsupported URL scheme in {url}")
    all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
    data = b"" if method == "POST" else None
    request = urllib.request.Request(url, data=data, headers=all_headers, method=method)  # noqa: S310 (scheme checked)
    # Loopback (the local stack) never goes through a proxy; Azure uses the developer's proxy settings.
    handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
    if _is_loopback(url):
        handlers.append(urllib.request.ProxyHandler({}))
    try:
        with urllib.request.build_opener(*handlers).open(request, timeout=timeout) as response:
            return Reply(response.status, response.read())
    except urllib.error.HTTPError as error:
        try:
            return Reply(error.code, _read(error))
        finally:
            error.close()
    except urllib.error.URLError as error:
        return Reply(None, error=str(error.reason))
    except (OSError, http.client.HTTPException) as error:  # timeouts, resets mid-answer
        return Reply(None, error=str(error) or type(error).__name__)


def _read(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read()
    except (OSError, http.client.HTTPException):
        return b""


def http_get(url: str, headers: Mapping[str, str]) -> Reply:
    return http_request("GET", url, headers, timeout=REQUEST_TIMEOUT_SECONDS)


# --- the master key, from the developer's Azure sign-in ----------------------------------------------

RunAz = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]
HttpPost = Callable[[str, Mapping[str, str]], Reply]


def run_az(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """The Azure CLI with its output captured (never shown: it may hold the key or a token)."""
    az = shutil.which("az")  # az.cmd on Windows, found through PATHEXT
    if az is None:
        raise KeyUnavailable("the Azure CLI (az) is not on PATH: install it and run `az login`", retryable=False)
    return subprocess.run(  # noqa: S603 (fixed arguments; names come from azd's outputs)
        [az, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=AZ_TIMEOUT_SECONDS,
        check=False,
    )


def http_post(url: str, headers: Mapping[str, str]) -> Reply:
    return http_request("POST", url, headers, timeout=REQUEST_TIMEOUT_SECONDS)


def azure_master_key(env: Mapping[str, str], *, run: RunAz = run_az, post: HttpPost = http_post) -> Callable[[], str]:
    """A lookup of the deployed app's master key, as the signed-in developer."""
    group, app = env["AZURE_RESOURCE_GROUP"], env["AZURE_FUNCTION_APP_NAME"]

    def lookup() -> str:
        listed = _az(run, "functionapp", "keys", "list", "-g", group, "-n", app, "--query", "masterKey", "-o", "tsv")
        if listed:
            return listed
        # Some CLI versions print nothing for `keys list` (azure-cli 2.87); ARM answers directly.
        return _arm_master_key(env, group, app, run, post)

    return lookup


def _az(run: RunAz, *args: str) -> str:
    try:
        done = run(args)
    except subprocess.TimeoutExpired as error:
        raise KeyUnavailable(f"`az {args[0]} {args[1]}` did not finish", retryable=True) from error
    if done.returncode == 0:
        return done.stdout.strip()
    # stderr only, and only its last line: it names the problem, and never holds a key or a token.
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    reason = lines[-1] if lines else f"exit status {done.returncode}"
    signed_out = "az login" in done.stderr
    raise KeyUnavailable(
        f"`az {args[0]} {args[1]}` failed: {reason}" + (" (run `az login`)" if signed_out else ""),
        retryable=not signed_out,
    )


def _arm_master_key(env: Mapping[str, str], group: str, app: str, run: RunAz, post: HttpPost) -> str:
    subscription = env.get("AZURE_SUBSCRIPTION_ID", "").strip() or _az(
        run, "account", "show", "--query", "id", "-o", "tsv"
    )
    token = _az(run, "account", "get-access-token", "--resource", ARM_ENDPOINT, "--query", "accessToken", "-o", "tsv")
    url = (
        f"{ARM_ENDPOINT}/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Web/sites/"
        f"{app}/host/default/listkeys?api-version={LIST_HOST_KEYS_API_VERSION}"
    )
    reply = post(url, {"Authorization": f"Bearer {token}"})
    document = _json(reply.body)
    if reply.status == 200 and isinstance(document, dict) and document.get("masterKey"):
        return str(document["masterKey"])
    refused = reply.status in (401, 403)
    raise KeyUnavailable(
        f"ARM listkeys {_describe(reply)}" + (": your sign-in may not list this app's keys" if refused else ""),
        retryable=not refused,
    )


# --- the command line --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str], env: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--url",
        default=env.get("AZURE_FUNCTION_APP_URI", "").strip(),
        help="the app's base URL (default: azd's AZURE_FUNCTION_APP_URI)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=env.get(TIMEOUT_VARIABLE, "").strip() or DEFAULT_TIMEOUT_SECONDS,
        help=f"seconds to keep retrying; 0 = one attempt (default: ${TIMEOUT_VARIABLE} or {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    return parser.parse_args(argv)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"not a number of seconds >= 0: {text!r}")
    return value


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    args = parse_args(argv, env)
    needed = ["AZURE_RESOURCE_GROUP", "AZURE_FUNCTION_APP_NAME"] + ([] if args.url else ["AZURE_FUNCTION_APP_URI"])
    missing = [name for name in needed if not env.get(name, "").strip()]
    if missing:
        print(f"postdeploy: missing azd outputs: {', '.join(missing)}. Run `azd provision` first.", file=sys.stderr)
        return 1
    lookup = azure_master_key({name: value.strip() for name, value in env.items()})
    return smoke(
        args.url,
        get_master_key=lookup,
        http_get=http_get,
        sleep=time.sleep,
        clock=time.monotonic,
        out=_print,
        timeout=args.timeout,
    )


def _print(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
