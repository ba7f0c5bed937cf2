"""HTTP routes of the identity domain: login, me, organisations, users, API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm
from sqlalchemy import select

from liangshan.api.deps import PrincipalDep, SessionDep
from liangshan.identity import service
from liangshan.identity.models import Organisation, User
from liangshan.identity.schemas import (
    ApiKeyIn,
    ApiKeyOut,
    OrganisationIn,
    OrganisationOut,
    TokenOut,
    UserIn,
    UserOut,
)

router = APIRouter(tags=["identity"])


@router.post("/auth/token", response_model=TokenOut)
def token(session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    raw, row = service.login(session, form.username, form.password)
    return TokenOut(access_token=raw, expires_at=row.expires_at)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    session: SessionDep,
    _actor: PrincipalDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))],
) -> None:
    if bearer is not None:
        service.logout(session, bearer.credentials)


@router.get("/auth/me", response_model=UserOut)
def me(session: SessionDep, actor: PrincipalDep) -> User:
    user = session.get(User, actor.user_id)
    assert user is not None  # a principal always has a live user
    return user


@router.get("/identity/organisations", response_model=list[OrganisationOut])
def list_organisations(session: SessionDep, _actor: PrincipalDep) -> list[Organisation]:
    return list(session.scalars(select(Organisation).order_by(Organisation.id)))


@router.post("/identity/organisations", response_model=OrganisationOut, status_code=201)
def create_organisation(session: SessionDep, actor: PrincipalDep, body: OrganisationIn) -> Organisation:
    return service.create_organisation(session, actor, body)


@router.post("/identity/users", response_model=UserOut, status_code=201)
def create_user(session: SessionDep, actor: PrincipalDep, body: UserIn) -> User:
    return service.create_user(session, actor, body)


@router.post("/identity/api-keys", response_model=ApiKeyOut, status_code=201)
def create_api_key(session: SessionDep, actor: PrincipalDep, body: ApiKeyIn) -> ApiKeyOut:
    key, row = service.create_api_key(session, actor, body)
    return ApiKeyOut(id=row.id, name=row.name, scopes=row.scopes, key=key)


@router.delete("/identity/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_key(session: SessionDep, actor: PrincipalDep, key_id: int) -> None:
    service.revoke_api_key(session, actor, key_id)
