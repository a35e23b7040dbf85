"""Bearer tokens out of every text that came from a server, before it is logged or stored.

A server (or a proxy in front of it) may echo the request it was sent, Authorization header
included, in an error body; the SDKs put that body in their exception messages, and those
become warnings, gaps, failed-batch reasons, log lines and the CLI's error line. ``redact``
replaces, in one pass over such a text: the secrets this process was configured with
(``register_secret``: the pipeline tokens and the service principal's secret, registered
where credentials are made), anything shaped like a JWT, and the credential after
``Bearer`` or an ``Authorization:`` header. Redact before truncating: a token cut in half
no longer matches.
"""

from __future__ import annotations

import re
import threading
from typing import Iterable

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 8   # shorter "secrets" would blank ordinary words out of every message

# A JWS is three base64url segments (header, payload, signature; the last may be empty), a JWE
# five; the header is a JSON object, so the first segment starts with "eyJ" ('{"').
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+=*\.[A-Za-z0-9_-]+=*\.[A-Za-z0-9_-]*=*(?:\.[A-Za-z0-9_-]+=*){0,2}")
# An Authorization (or Proxy-Authorization) header as text, a dict repr or JSON: its value is a
# credential whatever the scheme. The separator must follow the word at once, so that an error
# code such as "AuthorizationFailed:" or prose such as "the 'Authorization' header" stays.
_AUTH_HEADER = re.compile(
    r"""(\bauthorization["']?\s*[:=]\s*["']?)(?:(bearer|basic|negotiate|pop|sharedkey|token)\s+)?[^\s"',;]+""",
    re.IGNORECASE)
# RFC 6750 b64token after "Bearer". A word such as "bearer tokens" in our own hints is not a
# credential: a token has a digit or one of -._~+/= in it.
_BEARER = re.compile(r"\b(bearer\s+)(?=[A-Za-z0-9._~+/-]*[0-9._~+/-])[A-Za-z0-9._~+/-]{8,}=*", re.IGNORECASE)

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()


def register_secret(value: str | None) -> None:
    """Remember a configured secret for the rest of the process (values too short to be one are ignored)."""
    global _secrets
    value = (value or "").strip()
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets = _secrets | {value}


def _header(match: re.Match) -> str:
    scheme = match.group(2)
    return f"{match.group(1)}{scheme + ' ' if scheme else ''}{REDACTED}"


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    """``text`` with the registered secrets, ``secrets``, JWTs and bearer credentials replaced by [REDACTED]."""
    text = "" if text is None else str(text)
    if not text:
        return text
    known = {s for s in (*_secrets, *(s.strip() for s in secrets if s)) if len(s) >= MIN_SECRET_LENGTH}
    for secret in sorted(known, key=len, reverse=True):  # longest first: one secret may contain another
        text = text.replace(secret, REDACTED)
    text = _JWT.sub(REDACTED, text)
    text = _AUTH_HEADER.sub(_header, text)
    return _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
