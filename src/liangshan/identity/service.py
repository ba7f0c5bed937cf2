"""Identity rules: creating organisations and users, logging in, API keys, the audit trail."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.config import get_settings
from liangshan.db import utcnow
from liangshan.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from liangshan.identity.access import Principal
from liangshan.identity.models import ApiKey, AuditEvent, LoginToken, Organisation, Role, User
from liangshan.identity.schemas import ApiKeyIn, OrganisationIn, UserIn

_hasher = PasswordHasher()

#: API scopes understood by the open data API and machine clients.
KNOWN_SCOPES = frozenset({
    "read:public", "read:registry", "read:catalog", "read:monitoring", "read:accounts",
    "write:monitoring", "write:trace", "write:market",
})


def record(
    session: Session,
    actor: Principal,
    action: str,
    target_type: str,
    target_id: object = None,
    *,
    region_code: str | None = None,
    detail: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEvent:
    """Append one audit row: every write in every domain calls this."""
    event = AuditEvent(
        at=utcnow(),
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        region_code=region_code,
        detail=detail,
        reason=reason,
    )
    session.add(event)
    return event


def create_organisation(session: Session, actor: Principal, data: OrganisationIn) -> Organisation:
    if data.kind == "government" and not data.region_code:
        raise InvalidInput(
            f"government organisation '{data.name}' has no region_code",
            hint="give the GB/T 2260 code of the region it governs, e.g. 520381",
        )
    if data.region_code:
        actor.require_write(data.region_code)
    if session.scalar(select(Organisation).where(Organisation.name == data.name)):
        raise Conflict(f"an organisation named '{data.name}' already exists",
                       hint="use the existing one or choose another name")
    org = Organisation(**data.model_dump(mode="json"))
    session.add(org)
    session.flush()
    record(session, actor, "create", "organisation", org.id, region_code=org.region_code)
    return org


def create_user(session: Session, actor: Principal, data: UserIn) -> User:
    """Create a user; only a province admin creates users outside its own region scope."""
    if data.role in (Role.COUNTY_OPERATOR, Role.DEPARTMENT_STAFF) and not data.region_code:
        raise InvalidInput(
            f"user '{data.username}' with role {data.role.value} needs a region_code",
            hint="give the county code the user works in, e.g. --region 520381",
        )
    if data.role is Role.PROVINCE_ADMIN or data.role is Role.AUDITOR:
        actor.require_role(Role.PROVINCE_ADMIN)
    else:
        actor.require_write(data.region_code or "52")
    if session.scalar(select(User).where(User.username == data.username)):
        raise Conflict(f"user '{data.username}' already exists", hint="choose another username")
    if data.organisation_id is not None and session.get(Organisation, data.organisation_id) is None:
        raise NotFound(f"organisation {data.organisation_id} does not exist",
                       hint="list organisations with GET /identity/organisations")
    user = User(
        username=data.username,
        display_name=data.display_name,
        password_hash=_hasher.hash(data.password),
        role=data.role.value,
        region_code=data.region_code,
        organisation_id=data.organisation_id,
    )
    session.add(user)
    session.flush()
    record(session, actor, "create", "user", user.id, region_code=user.region_code,
           detail={"username": user.username, "role": user.role})
    return user


def principal_of(user: User) -> Principal:
    return Principal(role=Role(user.role), region_code=user.region_code, user_id=user.id,
                     username=user.username, organisation_id=user.organisation_id)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_BAD_LOGIN = "wrong username or password"


def login(session: Session, username: str, password: str) -> tuple[str, LoginToken]:
    """Check a password and issue a bearer token; returns (token, row)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active:
        raise NotAuthenticated(_BAD_LOGIN, hint="check the username and password")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise NotAuthenticated(_BAD_LOGIN, hint="check the username and password") from None
    token = secrets.token_urlsafe(32)
    ttl = timedelta(minutes=get_settings().token_ttl_minutes)
    row = LoginToken(token_hash=_sha256(token), user_id=user.id, expires_at=utcnow() + ttl)
    session.add(row)
    session.flush()
    return token, row


def principal_from_token(session: Session, token: str) -> Principal:
    row = session.scalar(select(LoginToken).where(LoginToken.token_hash == _sha256(token)))
    if row is None or row.revoked_at is not None:
        raise NotAuthenticated("the bearer token is not valid", hint="log in again: POST /auth/token")
    if row.expires_at <= utcnow():
        raise NotAuthenticated("the bearer token has expired", hint="log in again: POST /auth/token")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("the token's user is disabled", hint="ask a province admin")
    return principal_of(user)


def logout(session: Session, token: str) -> None:
    row = session.scalar(select(LoginToken).where(LoginToken.token_hash == _sha256(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


def create_api_key(session: Session, actor: Principal, data: ApiKeyIn) -> tuple[str, ApiKey]:
    """Issue an API key for the acting user; the full key is returned once and never stored."""
    if actor.user_id is None:
        raise NotAuthenticated("API keys are created by a logged-in user",
                               hint="log in first: POST /auth/token")
    unknown = sorted(set(data.scopes) - KNOWN_SCOPES)
    if unknown:
        raise InvalidInput(f"unknown API scope(s): {', '.join(unknown)}",
                           hint="known scopes: " + ", ".join(sorted(KNOWN_SCOPES)))
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(prefix=prefix, secret_hash=_hasher.hash(secret), name=data.name,
                 scopes=sorted(set(data.scopes)), owner_id=actor.user_id,
                 rate_limit_per_minute=data.rate_limit_per_minute)
    session.add(row)
    session.flush()
    record(session, actor, "create", "api_key", row.id, detail={"scopes": row.scopes})
    return f"ls_{prefix}_{secret}", row


def principal_from_api_key(session: Session, key: str) -> Principal:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "ls":
        raise NotAuthenticated("the API key is malformed",
                               hint="keys look like ls_<prefix>_<secret>; copy it whole")
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if row is None or row.revoked_at is not None:
        raise NotAuthenticated("the API key is unknown or revoked", hint="create a new key")
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise NotAuthenticated("the API key has expired", hint="create a new key")
    try:
        _hasher.verify(row.secret_hash, parts[2])
    except (VerificationError, InvalidHashError):
        raise NotAuthenticated("the API key is unknown or revoked", hint="create a new key") from None
    owner = session.get(User, row.owner_id)
    if owner is None or not owner.is_active:
        raise NotAuthenticated("the API key's owner is disabled", hint="ask a province admin")
    return Principal(role=Role(owner.role), region_code=owner.region_code, user_id=owner.id,
                     username=owner.username, organisation_id=owner.organisation_id,
                     api_key_id=row.id, scopes=frozenset(row.scopes),
                     rate_limit_per_minute=row.rate_limit_per_minute)


def revoke_api_key(session: Session, actor: Principal, key_id: int) -> None:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} does not exist", hint="list your keys")
    if row.owner_id != actor.user_id:
        actor.require_role(Role.PROVINCE_ADMIN)
    row.revoked_at = utcnow()
    record(session, actor, "revoke", "api_key", key_id)
