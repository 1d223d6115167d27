"""OAuth 2.0 token endpoint (refresh-token grant) and bearer-token checks.

Like Qonto: every refresh returns a NEW refresh token; the old one keeps working for 60 s after
its first use (so a crash between the call and persisting the new token is survivable), then it
is dead. Access tokens live 3600 s. Errors follow RFC 6749 (``{"error", "error_description"}``),
not Qonto's API envelope, because the token endpoint is an OAuth server.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .config import EMULATOR_OAUTH_CLIENT_ID, EMULATOR_OAUTH_CLIENT_SECRET
from .seed import REFRESH_TOKEN_LIFETIME_MS

ACCESS_TOKEN_LIFETIME_S = 3600
REFRESH_GRACE_MS = 60_000


@dataclass(eq=False)
class OAuthError(Exception):
    status: int
    error: str
    description: str

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def granted_scope(scopes: Iterable[str]) -> str:
    """The token response's ``scope``: what the credentials were granted (qonto-api.md §11 names this
    field as the way to learn the granted scopes), plus ``offline_access`` since a refresh token came."""
    return " ".join(["offline_access", *sorted(set(scopes) - {"offline_access"})])


def refresh(
    connection: sqlite3.Connection, form: Mapping[str, str], now_ms: int, scopes: Iterable[str]
) -> dict[str, Any]:
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise OAuthError(400, "invalid_request", "grant_type is required")
    if grant_type != "refresh_token":
        raise OAuthError(400, "unsupported_grant_type", "the emulator supports grant_type=refresh_token only")
    if form.get("client_id") != EMULATOR_OAUTH_CLIENT_ID or not secrets.compare_digest(
        form.get("client_secret", ""), EMULATOR_OAUTH_CLIENT_SECRET
    ):
        raise OAuthError(401, "invalid_client", "unknown client_id or wrong client_secret")
    presented = form.get("refresh_token")
    if not presented:
        raise OAuthError(400, "invalid_request", "refresh_token is required")
    row = connection.execute(
        "SELECT issued_at, first_used_at, expires_at FROM oauth_refresh_tokens WHERE token = ?", (presented,)
    ).fetchone()
    if row is None or now_ms >= row["expires_at"]:
        raise OAuthError(400, "invalid_grant", "the refresh token is unknown or expired")
    if row["first_used_at"] is None:
        connection.execute("UPDATE oauth_refresh_tokens SET first_used_at = ? WHERE token = ?", (now_ms, presented))
    elif now_ms - row["first_used_at"] > REFRESH_GRACE_MS:
        raise OAuthError(400, "invalid_grant", "the refresh token was rotated more than 60 s ago")
    new_refresh = f"emulator-refresh-{secrets.token_urlsafe(24)}"
    access = f"emulator-access-{secrets.token_urlsafe(24)}"
    connection.execute(
        "INSERT INTO oauth_refresh_tokens (token, issued_at, first_used_at, expires_at) VALUES (?, ?, NULL, ?)",
        (new_refresh, now_ms, now_ms + REFRESH_TOKEN_LIFETIME_MS),
    )
    connection.execute(
        "INSERT INTO oauth_access_tokens (token, expires_at) VALUES (?, ?)",
        (access, now_ms + ACCESS_TOKEN_LIFETIME_S * 1000),
    )
    return {
        "access_token": access,
        "expires_in": ACCESS_TOKEN_LIFETIME_S,
        "refresh_token": new_refresh,
        "scope": granted_scope(scopes),
        "token_type": "bearer",
    }


def access_token_valid(connection: sqlite3.Connection, token: str, now_ms: int) -> bool:
    row = connection.execute("SELECT expires_at FROM oauth_access_tokens WHERE token = ?", (token,)).fetchone()
    return row is not None and now_ms < row["expires_at"]
