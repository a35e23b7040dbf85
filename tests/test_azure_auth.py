"""Credentials, clouds and endpoints: overrides, the loopback-only http rule, token secrecy."""

from __future__ import annotations

import pytest
from azure.identity import CredentialUnavailableError

from reportgen.collect.azure_auth import (CLOUDS, GuardedCredential, StaticTokenCredential, check_endpoint,
                                          make_credentials, resolve_endpoints)
from reportgen.config import AzureConfig
from reportgen.errors import AuthError, ConfigError

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi.secret-token-value"


@pytest.mark.parametrize("cloud, arm, scope, logs", [
    ("AzureCloud", "https://management.azure.com", "https://management.azure.com/.default", "https://api.loganalytics.io"),
    ("AzureUSGovernment", "https://management.usgovcloudapi.net", "https://management.core.usgovcloudapi.net/.default",
     "https://api.loganalytics.us"),
    ("AzureChinaCloud", "https://management.chinacloudapi.cn", "https://management.chinacloudapi.cn/.default",
     "https://api.loganalytics.azure.cn"),
])
def test_cloud_selects_endpoints_and_audiences(cloud, arm, scope, logs):
    ep = resolve_endpoints(AzureConfig(cloud=cloud), env={})
    assert (ep.arm, ep.arm_scope, ep.logs, ep.logs_scope) == (arm, scope, logs, logs + "/.default")
    assert ep.authority_host == CLOUDS[cloud].authority_host


def test_environment_overrides_config_and_cloud():
    cfg = AzureConfig(cloud="AzureUSGovernment", arm_endpoint="https://arm.example.test/")
    ep = resolve_endpoints(cfg, env={})
    assert ep.arm == "https://arm.example.test" and ep.arm_scope.endswith("usgovcloudapi.net/.default")
    ep = resolve_endpoints(cfg, env={"REPORTGEN_ARM_ENDPOINT": "http://127.0.0.1:8080",
                                     "REPORTGEN_LOGS_ENDPOINT": "http://localhost:9"})
    assert ep.arm == "http://127.0.0.1:8080" and ep.arm_is_plain_http
    assert ep.logs == "http://localhost:9" and ep.logs_is_plain_http


@pytest.mark.parametrize("url", ["http://127.0.0.1:1234", "http://127.9.9.9", "http://localhost:80/", "http://[::1]:5000",
                                 "https://management.azure.com", "https://10.1.2.3:443"])
def test_accepted_endpoints(url):
    assert check_endpoint(url, "REPORTGEN_ARM_ENDPOINT") == url.rstrip("/")


@pytest.mark.parametrize("url, message", [
    ("http://10.0.0.5:8080", "plain http:// is accepted only for loopback hosts"),
    ("http://management.azure.com", "plain http:// is accepted only for loopback hosts"),
    ("http://localhost.evil.test", "plain http:// is accepted only for loopback hosts"),
    ("ftp://127.0.0.1", "not a valid URL"),
    ("https://user:pw@arm.example.test", "credentials in the URL"),
    ("https://arm.example.test/?x=1", "query string"),
    ("127.0.0.1:8080", "not a valid URL"),
])
def test_refused_endpoints_say_why(url, message):
    with pytest.raises(ConfigError) as exc:
        resolve_endpoints(AzureConfig(), env={"REPORTGEN_ARM_ENDPOINT": url})
    assert message in exc.value.one_line() and "REPORTGEN_ARM_ENDPOINT" in exc.value.one_line()


def test_static_tokens_from_the_environment_and_their_secrecy():
    ep = resolve_endpoints(AzureConfig(), env={})
    creds = make_credentials(ep, env={"REPORTGEN_ACCESS_TOKEN": TOKEN})
    assert creds.arm.get_token(ep.arm_scope).token == TOKEN
    assert creds.logs is creds.arm  # no separate logs token: the same one
    assert TOKEN not in repr(creds.arm) and TOKEN not in str(creds.arm) and TOKEN not in repr(creds)
    assert TOKEN not in creds.description
    creds = make_credentials(ep, env={"REPORTGEN_ACCESS_TOKEN": TOKEN, "REPORTGEN_LOGS_ACCESS_TOKEN": "logs-token"})
    assert creds.logs.get_token_info(ep.logs_scope).token == "logs-token"
    with pytest.raises(ConfigError, match="REPORTGEN_LOGS_ACCESS_TOKEN is set but REPORTGEN_ACCESS_TOKEN is not"):
        make_credentials(ep, env={"REPORTGEN_LOGS_ACCESS_TOKEN": "x"})
    with pytest.raises(ConfigError) as exc:
        make_credentials(ep, env={"REPORTGEN_ACCESS_TOKEN": "Bearer " + TOKEN})
    assert TOKEN not in exc.value.one_line()


def test_default_credential_is_used_without_a_token_variable():
    creds = make_credentials(resolve_endpoints(AzureConfig(cloud="AzureChinaCloud"), env={}), tenant_id="t1", env={})
    assert isinstance(creds.arm, GuardedCredential) and creds.description == "DefaultAzureCredential"


def test_sign_in_failure_says_what_to_do():
    class NoCredential:
        def get_token(self, *scopes, **kwargs):
            raise CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token.\nAttempted: ...")

        def get_token_info(self, *scopes, options=None):
            raise CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token.\nAttempted: ...")

    guarded = GuardedCredential(NoCredential(), "DefaultAzureCredential", tenant_id="tenant-1")
    for call in (lambda: guarded.get_token("s"), lambda: guarded.get_token_info("s")):
        with pytest.raises(AuthError) as exc:
            call()
        line = exc.value.one_line()
        assert "az login" in line and "REPORTGEN_ACCESS_TOKEN" in line and "AZURE_CLIENT_ID" in line
        assert "\n" not in line


def test_guarded_credential_passes_the_configured_tenant():
    seen = {}

    class Recorder:
        def get_token_info(self, *scopes, options=None):
            seen.update(options or {})
            return StaticTokenCredential("t", "X").get_token_info(*scopes)

    GuardedCredential(Recorder(), "test", tenant_id="tenant-42").get_token_info("scope")
    assert seen["tenant_id"] == "tenant-42"


# ---------------------------------------------------------------------------- who collected

def _jwt(claims: dict, header: dict | None = None) -> str:
    import base64
    import json

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    return f"{part(header or {'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.mark.parametrize("claims, expected", [
    ({"idtyp": "user", "upn": "a@contoso.com"}, "user"),
    ({"idtyp": "app", "appid": "x"}, "app"),
    ({"idtyp": "app", "xms_mirid": "/subscriptions/s/resourcegroups/r/providers/Microsoft.ManagedIdentity/"
                                   "userAssignedIdentities/mi"}, "managed identity"),
    ({"xms_mirid": "/subscriptions/s/providers/Microsoft.Compute/virtualMachines/vm"}, "managed identity"),
    ({"scp": "user_impersonation"}, "user"),   # v1 tokens without idtyp: a delegated scope means a user
    ({"roles": ["x"]}, None),                   # nothing says which
])
def test_identity_type_from_the_claims(claims, expected):
    from reportgen.collect.azure_auth import identity_type
    assert identity_type(claims) == expected


def test_claims_are_read_without_a_signature_check_and_the_token_is_not_kept():
    from reportgen.collect.azure_auth import collector_from_token, token_claims
    # payload length 4n+2 and 4n+3 (base64url without padding), non-ASCII text
    for upn in ("é@contoso.com", "ab@contoso.com", "abc@contoso.com"):
        assert token_claims(_jwt({"upn": upn}))["upn"] == upn
    token = _jwt({"tid": "t", "oid": "o", "azp": "a", "unique_name": "u@contoso.com", "idtyp": "user"})
    record = collector_from_token(token)
    assert (record["tenant_id"], record["object_id"], record["app_id"], record["upn"], record["identity_type"]) == \
        ("t", "o", "a", "u@contoso.com", "user")
    assert record["read_from"] == "access token claims (not verified)"
    assert token not in repr(record) and "c2lnbmF0dXJl" not in repr(record)
    # appid wins over azp, upn over preferred_username over unique_name
    record = collector_from_token(_jwt({"appid": "A", "azp": "B", "preferred_username": "p", "unique_name": "u"}))
    assert (record["app_id"], record["upn"]) == ("A", "p")


@pytest.mark.parametrize("token", ["opaque", "a.b", "a.!!!.c", "a..c", "a.b.c.d",
                                   "eyJhIjoxfQ.WzEsMl0.c2ln"])  # the last: the payload is a JSON list
def test_a_token_that_is_not_a_jwt_gives_nulls_and_a_note(token):
    from reportgen.collect.azure_auth import collector_from_token, token_claims
    assert token_claims(token) is None
    record = collector_from_token(token)
    assert [record[k] for k in ("tenant_id", "object_id", "app_id", "upn", "identity_type")] == [None] * 5
    assert record["note"] == "the access token is not a JWT: it carries no readable claims"


def test_credentials_record_the_first_token_they_hand_out():
    from azure.core.credentials import AccessToken
    first, second = _jwt({"oid": "first", "tid": "t"}), _jwt({"oid": "second"})

    class Inner:
        def __init__(self):
            self.tokens = [first, second]

        def get_token(self, *scopes, **kwargs):
            return AccessToken(self.tokens.pop(0), 0)

    guarded = GuardedCredential(Inner(), "test")
    assert guarded.collector()["note"] == "no access token was used"
    assert guarded.get_token("s").token == first and guarded.get_token("s").token == second
    assert guarded.collector()["object_id"] == "first"
    static = StaticTokenCredential(_jwt({"oid": "static"}), "REPORTGEN_ACCESS_TOKEN")
    static.get_token_info("s")
    assert static.collector()["object_id"] == "static"
