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
"""

from __future__ import annotations

import ipaddress
import os
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


class StaticTokenCredential:
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

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, self._expires_on)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, self._expires_on)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"StaticTokenCredential(from {self.variable}, token hidden)"

    __str__ = __repr__


class GuardedCredential:
    """Wraps a credential: passes the configured tenant, and turns sign-in failures into AuthError."""

    def __init__(self, inner: Any, description: str, tenant_id: str | None = None) -> None:
        self._inner = inner
        self.description = description
        self._tenant_id = tenant_id

    def _fail(self, exc: Exception) -> AuthError:
        text = redact(exc).strip()  # what the identity endpoint said, before it is cut
        first = text.splitlines()[0] if text else type(exc).__name__
        return AuthError(f"Azure sign-in failed with {self.description}: {first[:300]}", hint=SIGN_IN_HINT)

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if self._tenant_id and "tenant_id" not in kwargs:
            kwargs["tenant_id"] = self._tenant_id
        try:
            return self._inner.get_token(*scopes, **kwargs)
        except ClientAuthenticationError as exc:  # CredentialUnavailableError is a subclass
            raise self._fail(exc) from None

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        if not hasattr(self._inner, "get_token_info"):
            tok = self.get_token(*scopes)
            return AccessTokenInfo(tok.token, tok.expires_on)
        options = dict(options or {})
        if self._tenant_id and "tenant_id" not in options:
            options["tenant_id"] = self._tenant_id
        try:
            return self._inner.get_token_info(*scopes, options=options or None)
        except ClientAuthenticationError as exc:
            raise self._fail(exc) from None

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
