"""Credentials, clouds and endpoints for live collection.

``[azure] cloud`` selects the public, US Government or China endpoints and token audiences.
``REPORTGEN_ARM_ENDPOINT`` / ``REPORTGEN_LOGS_ENDPOINT`` (or ``[azure] arm_endpoint`` /
``logs_endpoint``) override the endpoints; plain ``http://`` is accepted only for loopback
hosts, so an emulator can run without TLS but a token is never sent in clear over a
network. ``REPORTGEN_ACCESS_TOKEN`` (and optionally ``REPORTGEN_LOGS_ACCESS_TOKEN``) supply
a bearer token for pipelines; otherwise ``DefaultAzureCredential`` is used. Tokens never
appear in logs, errors or the pack: the static credential hides its token from ``repr``,
every message here names variables, never values, and every configured token or secret is
registered with ``reportgen.redact``, which takes them out of whatever a server sends back.

Who collected: the first token each credential hands out is read for its claims (the JWT
payload, base64url, **not** verified: nothing here checks a signature, and the claims prove
nothing); only the identity claims are kept (``collector``), never the token. A token that is
not a JWT gives nulls and a note, never an error.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import ClientAuthenticationError

from reportgen.config import AzureConfig
from reportgen.errors import AuthError, ConfigError
from reportgen.redact import redact, register_secret

ENV_ARM_ENDPOINT = "REPORTGEN_ARM_ENDPOINT"
ENV_LOGS_ENDPOINT = "REPORTGEN_LOGS_ENDPOINT"
ENV_TOKEN = "REPORTGEN_ACCESS_TOKEN"
ENV_LOGS_TOKEN = "REPORTGEN_LOGS_ACCESS_TOKEN"

# What azure-identity's EnvironmentCredential reads from the environment that is a secret.
AZURE_SECRET_VARIABLES = ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_PASSWORD")

SIGN_IN_HINT = (f"run `az login` (and `az account set --subscription ...`), or set AZURE_TENANT_ID, "
                f"AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal, or set {ENV_TOKEN} "
                f"(and {ENV_LOGS_TOKEN}) to bearer tokens for a pipeline")


@dataclass(frozen=True)
class Cloud:
    """Endpoints and token scopes of one Azure cloud."""

    name: str
    arm_endpoint: str
    arm_scope: str
    logs_endpoint: str
    logs_scope: str
    authority_host: str


CLOUDS: dict[str, Cloud] = {
    "AzureCloud": Cloud(
        "AzureCloud", "https://management.azure.com", "https://management.azure.com/.default",
        "https://api.loganalytics.io", "https://api.loganalytics.io/.default", "login.microsoftonline.com"),
    "AzureUSGovernment": Cloud(
        "AzureUSGovernment", "https://management.usgovcloudapi.net",
        "https://management.core.usgovcloudapi.net/.default",
        "https://api.loganalytics.us", "https://api.loganalytics.us/.default", "login.microsoftonline.us"),
    "AzureChinaCloud": Cloud(
        "AzureChinaCloud", "https://management.chinacloudapi.cn", "https://management.chinacloudapi.cn/.default",
        "https://api.loganalytics.azure.cn", "https://api.loganalytics.azure.cn/.default", "login.chinacloudapi.cn"),
}


@dataclass(frozen=True)
class Endpoints:
    """Where to send requests and which token audience to ask for."""

    cloud: str
    arm: str
    arm_scope: str
    logs: str
    logs_scope: str
    authority_host: str

    @property
    def arm_is_plain_http(self) -> bool:
        return self.arm.startswith("http://")

    @property
    def logs_is_plain_http(self) -> bool:
        return self.logs.startswith("http://")


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, what: str) -> str:
    """Validate an endpoint override; return it without a trailing slash."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigError(f"{what} {url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigError(f"{what} {url!r} is not a valid URL", hint="expected https://host[:port]")
    if parts.username or parts.password:
        raise ConfigError(f"{what}: credentials in the URL are not accepted", hint="use a token variable instead")
    if parts.query or parts.fragment:
        raise ConfigError(f"{what} {url!r}: a query string or fragment is not accepted")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigError(f"{what} {url!r}: plain http:// is accepted only for loopback hosts "
                          f"(127.0.0.1, ::1, localhost)", hint="use https:// for any other host")
    return url.strip().rstrip("/")


def resolve_endpoints(azure: AzureConfig, env: Mapping[str, str] | None = None) -> Endpoints:
    """The cloud's endpoints, with the config's or the environment's overrides applied."""
    env = os.environ if env is None else env
    cloud = CLOUDS.get(azure.cloud)
    if cloud is None:
        raise ConfigError(f"config [azure] cloud: {azure.cloud!r} is not one of {', '.join(CLOUDS)}")
    arm_override = env.get(ENV_ARM_ENDPOINT) or azure.arm_endpoint
    logs_override = env.get(ENV_LOGS_ENDPOINT) or azure.logs_endpoint
    arm_what = ENV_ARM_ENDPOINT if env.get(ENV_ARM_ENDPOINT) else "config [azure] arm_endpoint"
    logs_what = ENV_LOGS_ENDPOINT if env.get(ENV_LOGS_ENDPOINT) else "config [azure] logs_endpoint"
    return Endpoints(
        cloud=cloud.name,
        arm=check_endpoint(arm_override, arm_what) if arm_override else cloud.arm_endpoint,
        arm_scope=cloud.arm_scope,
        logs=check_endpoint(logs_override, logs_what) if logs_override else cloud.logs_endpoint,
        logs_scope=cloud.logs_scope,
        authority_host=cloud.authority_host,
    )


# ---------------------------------------------------------------------------- who collected

CLAIMS_READ_FROM = "access token claims (not verified)"
COLLECTOR_FIELDS = ("tenant_id", "object_id", "app_id", "upn", "identity_type")


def token_claims(token: str) -> dict | None:
    """The payload of a JWT (``header.payload.signature``, base64url) as a dict; None when the token is
    not one. Nothing is verified: the claims say what the token says, not who holds it."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or not parts[1]:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    return claims if isinstance(claims, dict) else None


def _claim(claims: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def identity_type(claims: Mapping[str, Any]) -> str | None:
    """user | app | managed identity, from the claims; None when they do not say.

    ``idtyp`` is "app" or "user" (Microsoft identity platform, "Access token claims reference",
    learn.microsoft.com/entra/identity-platform/access-token-claims-reference). A managed
    identity's token is an app token that also carries ``xms_mirid`` (its resource id): that
    claim is not in the reference, so reading it as "managed identity" is inferred. Without
    ``idtyp``, a token with a delegated scope (``scp``) is a user's."""
    kind = _claim(claims, "idtyp")
    if _claim(claims, "xms_mirid") and kind in (None, "app"):
        return "managed identity"
    if kind in ("user", "app"):
        return kind
    if _claim(claims, "scp"):
        return "user"
    return None


def collector_from_token(token: str | None) -> dict:
    """snapshot.json ``collector`` from an access token: identity claims only, never the token."""
    claims = token_claims(token) if token else None
    if claims is None:
        return {**{f: None for f in COLLECTOR_FIELDS}, "read_from": CLAIMS_READ_FROM,
                "note": ("no access token was used" if not token else
                         "the access token is not a JWT: it carries no readable claims")}
    return {"tenant_id": _claim(claims, "tid"), "object_id": _claim(claims, "oid"),
            "app_id": _claim(claims, "appid", "azp"),
            "upn": _claim(claims, "upn", "preferred_username", "unique_name"),
            "identity_type": identity_type(claims), "read_from": CLAIMS_READ_FROM,
            "note": "read from the access token's claims without verifying its signature; they prove nothing"}


def not_recorded_collector(source: str) -> dict:
    """``collector`` for a source that signs in as nobody (the sample tenant, a test's own source)."""
    return {**{f: None for f in COLLECTOR_FIELDS}, "identity_type": "sample" if source == "sample" else None,
            "read_from": None, "note": f"the {source} source uses no Azure identity"}


class _ClaimsRecorder:
    """Keeps the identity claims of the first token handed out (thread-safe); never the token."""

    def _init_recorder(self) -> None:
        self._collector_lock = threading.Lock()
        self._collector: dict | None = None

    def _observe(self, token: str) -> None:
        with self._collector_lock:
            if self._collector is None:
                self._collector = collector_from_token(token)

    def collector(self) -> dict:
        """The ``collector`` record of the first token this credential handed out."""
        with self._collector_lock:
            return dict(self._collector) if self._collector is not None else collector_from_token(None)


class StaticTokenCredential(_ClaimsRecorder):
    """A bearer token handed in by a pipeline. The token is never shown by ``repr`` or ``str``."""

    def __init__(self, token: str, variable: str, lifetime_s: int = 3600) -> None:
        token = token.strip()
        if not token or any(c.isspace() for c in token):
            raise ConfigError(f"{variable} is set but is not a bearer token (empty or contains spaces)",
                              hint=f"set {variable} to the raw access token, without 'Bearer '")
        self._token = token
        register_secret(token)
        self.variable = variable
        self._expires_on = int(time.time()) + lifetime_s
        self._init_recorder()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self._observe(self._token)
        return AccessToken(self._token, self._expires_on)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        self._observe(self._token)
        return AccessTokenInfo(self._token, self._expires_on)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"StaticTokenCredential(from {self.variable}, token hidden)"

    __str__ = __repr__


class GuardedCredential(_ClaimsRecorder):
    """Wraps a credential: passes the configured tenant, turns sign-in failures into AuthError, and
    keeps the identity claims of the first token (``collector``)."""

    def __init__(self, inner: Any, description: str, tenant_id: str | None = None) -> None:
        self._inner = inner
        self.description = description
        self._tenant_id = tenant_id
        self._init_recorder()

    def _fail(self, exc: Exception) -> AuthError:
        text = redact(exc).strip()  # what the identity endpoint said, before it is cut
        first = text.splitlines()[0] if text else type(exc).__name__
        return AuthError(f"Azure sign-in failed with {self.description}: {first[:300]}", hint=SIGN_IN_HINT)

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if self._tenant_id and "tenant_id" not in kwargs:
            kwargs["tenant_id"] = self._tenant_id
        try:
            token = self._inner.get_token(*scopes, **kwargs)
        except ClientAuthenticationError as exc:  # CredentialUnavailableError is a subclass
            raise self._fail(exc) from None
        self._observe(token.token)
        return token

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        if not hasattr(self._inner, "get_token_info"):
            tok = self.get_token(*scopes)
            return AccessTokenInfo(tok.token, tok.expires_on)
        options = dict(options or {})
        if self._tenant_id and "tenant_id" not in options:
            options["tenant_id"] = self._tenant_id
        try:
            info = self._inner.get_token_info(*scopes, options=options or None)
        except ClientAuthenticationError as exc:
            raise self._fail(exc) from None
        self._observe(info.token)
        return info

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close:
            close()

    def __repr__(self) -> str:
        return f"GuardedCredential({self.description})"


@dataclass(frozen=True)
class Credentials:
    arm: Any
    logs: Any
    description: str


def make_credentials(endpoints: Endpoints, tenant_id: str | None = None,
                     env: Mapping[str, str] | None = None) -> Credentials:
    """Static tokens from the environment when set, else DefaultAzureCredential for the cloud."""
    env = os.environ if env is None else env
    token = env.get(ENV_TOKEN)
    logs_token = env.get(ENV_LOGS_TOKEN)
    if token:
        arm = StaticTokenCredential(token, ENV_TOKEN)
        logs = StaticTokenCredential(logs_token, ENV_LOGS_TOKEN) if logs_token else arm
        return Credentials(arm=arm, logs=logs, description=f"the bearer token in {ENV_TOKEN}")
    if logs_token:
        raise ConfigError(f"{ENV_LOGS_TOKEN} is set but {ENV_TOKEN} is not",
                          hint=f"set {ENV_TOKEN} to a token for {endpoints.arm_scope.removesuffix('/.default')}")
    for variable in AZURE_SECRET_VARIABLES:  # azure-identity reads the process environment itself
        register_secret(env.get(variable))
        register_secret(os.environ.get(variable))
    from azure.identity import DefaultAzureCredential

    inner = DefaultAzureCredential(authority=endpoints.authority_host, exclude_interactive_browser_credential=True)
    guarded = GuardedCredential(inner, "DefaultAzureCredential", tenant_id=tenant_id)
    return Credentials(arm=guarded, logs=guarded, description="DefaultAzureCredential")
