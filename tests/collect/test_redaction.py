"""Bearer tokens a server echoes back never reach the snapshot, the error line or the logs.

``redact`` on its own (JWTs, ``Bearer``/``Authorization`` credentials, configured secrets,
ordinary messages untouched), then the real collection against the loopback emulator with
every error message quoting the request's Authorization header: a partial run, a run where
every batch fails, a refused token, and ``reportgen collect -v`` in a child process.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from reportgen.collect import live
from reportgen.collect.azure import AzureOptions
from reportgen.collect.azure_auth import ENV_TOKEN, SIGN_IN_HINT, StaticTokenCredential
from reportgen.collect.resource_graph import RetrySettings
from reportgen.config import AzureConfig, RunConfig, ScopeConfig
from reportgen.errors import AuthError, SourceError
from reportgen.redact import REDACTED, redact, register_secret
from reportgen.snapshot import read_snapshot
from tests.emulator.server import Faults
from tests.emulator.tenant import AS_OF, PERIOD, SUBS

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = AzureOptions(retry=RetrySettings(backoff_base=0.005, backoff_max=0.02, default_throttle_wait=0.05),
                       la_retry_total=1)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(subject: str) -> str:
    header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": subject, "aud": "https://management.azure.com"}).encode())
    return f"{header}.{payload}.{_b64url(os.urandom(64))}"


# ---------------------------------------------------------------------------- redact()

def test_redact_replaces_a_jwt_bearer_credentials_and_a_configured_secret():
    token = jwt("unit")
    assert token.startswith("eyJ")
    assert redact(f"denied: {token}.") == f"denied: {REDACTED}."
    assert redact(f"'Authorization': 'Bearer {token}'") == f"'Authorization': 'Bearer {REDACTED}'"
    assert redact('{"authorization": "Basic dXNlcjpwYXNz"}') == f'{{"authorization": "Basic {REDACTED}"}}'
    assert redact("sent Bearer opaque-0123456789abcdef") == f"sent Bearer {REDACTED}"
    secret = "client-secret-Qw3rTy~value"
    assert redact(f"AADSTS7000215: invalid secret {secret} given", secrets=[secret]) == \
        f"AADSTS7000215: invalid secret {REDACTED} given"
    assert secret in redact(f"x {secret}")  # not registered: only the call that named it knew it


def test_a_registered_secret_and_a_static_token_are_redacted_everywhere_afterwards():
    register_secret("registered-Secret-0001")
    opaque = "opaque0token0without0any0shape0we0know"
    StaticTokenCredential(opaque, ENV_TOKEN)
    assert redact("a registered-Secret-0001 b") == f"a {REDACTED} b"
    assert redact(f"token={opaque}") == f"token={REDACTED}"
    register_secret("short")  # too short to be a secret: it would blank words out of every message
    assert redact("a short message") == "a short message"


@pytest.mark.parametrize("text", [
    SIGN_IN_HINT,
    "HTTP 403 AuthorizationFailed: The client does not have authorization to perform action",
    "HTTP 401 AuthenticationFailed: Authentication failed. The 'Authorization' header is missing or invalid.",
    "Proxy-Authorization header leaked on redirects (CVE-2023-32681)",
    "resources | where type =~ 'microsoft.containerservice/managedclusters' | project id, name",
    "",
])
def test_ordinary_messages_are_left_alone(text):
    assert redact(text) == text


# ---------------------------------------------------------------------------- the real collection

@pytest.fixture(params=["jwt", "opaque"])
def token(request):
    return jwt("collect") if request.param == "jwt" else f"opaque-{_b64url(os.urandom(24))}"


def _config(emu, subscriptions=SUBS) -> RunConfig:
    return RunConfig(scope=ScopeConfig(subscriptions=tuple(subscriptions)), azure=AzureConfig(
        arm_endpoint=emu.url, logs_endpoint=emu.url, log_analytics_workspace_id=emu.workspace_id,
        subscription_batch_size=2, max_concurrency=3))


def _collect(emu, out: Path, token: str):
    return live.collect(_config(emu), PERIOD, out, now=AS_OF.to_pydatetime(),
                        options={"env": {ENV_TOKEN: token}, "azure": OPTIONS})


def _echoing(tiny, token: str, **faults):
    return tiny.emulator(token=token, faults=Faults(quota_limit=1000, page_size=50, echo_authorization=True, **faults))


def _assert_nowhere(token: str, folder: Path) -> None:
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert token.encode() not in data and token[:40].encode() not in data, path


def test_an_echoed_token_is_in_no_file_of_the_snapshot(tiny, tmp_path, token, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="azure")
    with _echoing(tiny, token, failing_subscriptions={SUBS[0]}, la_fail={"finding_history": 403}) as emu:
        snap = read_snapshot(_collect(emu, tmp_path / "snap", token))
    assert snap.datasets["clusters"].status == "partial" and snap.datasets["finding_history"].status == "failed"
    echoed = [w for d in snap.datasets.values() for w in d.warnings if "request had Authorization" in w]
    assert echoed and all(f"Authorization: Bearer {REDACTED}; credential {REDACTED})" in w for w in echoed)
    assert any(REDACTED in g["message"] for g in snap.meta["gaps"])
    _assert_nowhere(token, snap.path)
    assert token not in caplog.text


def test_an_echoed_token_is_not_in_the_error_when_every_batch_fails(tiny, tmp_path, token):
    with _echoing(tiny, token, failing_subscriptions=set(SUBS)) as emu:
        with pytest.raises(SourceError) as exc:
            _collect(emu, tmp_path / "snap", token)
    line = exc.value.one_line()
    assert "request had Authorization: Bearer [REDACTED]" in line and token not in line
    assert not (tmp_path / "snap").exists()


def test_a_refused_token_echoed_back_is_not_in_the_auth_error(tiny, tmp_path, token):
    with _echoing(tiny, "the-token-the-service-wants") as emu:
        with pytest.raises(AuthError) as exc:
            _collect(emu, tmp_path / "snap", token)
    line = exc.value.one_line()
    assert REDACTED in line and token not in line


def test_reportgen_collect_verbose_prints_no_echoed_token(tiny, tmp_path, token):
    config = tmp_path / "r.toml"
    with _echoing(tiny, token, failing_subscriptions=set(SUBS)) as emu:
        config.write_text(f"[scope]\nsubscriptions = {json.dumps(list(SUBS))}\n\n[azure]\n"
                          f"log_analytics_workspace_id = \"{emu.workspace_id}\"\nsubscription_batch_size = 2\n",
                          encoding="utf-8")
        env = dict(os.environ, REPORTGEN_ARM_ENDPOINT=emu.url, REPORTGEN_LOGS_ENDPOINT=emu.url, **{ENV_TOKEN: token})
        proc = subprocess.run([sys.executable, "-m", "reportgen", "-v", "collect", "--config", str(config),
                               "--period", "2026-10", "--out", str(tmp_path / "snap")],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" in proc.stderr  # -v: the traceback and the debug log are printed, redacted
    assert proc.stderr.rstrip().splitlines()[-1].startswith("error: collection failed: ")
    assert "request had Authorization: Bearer [REDACTED]" in proc.stderr
    assert token not in proc.stdout + proc.stderr and token[:40] not in proc.stderr
    assert not (tmp_path / "snap").exists()
