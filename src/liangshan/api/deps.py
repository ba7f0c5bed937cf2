"""FastAPI dependencies shared by every router: the database session and the actor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from liangshan.errors import NotAuthenticated
from liangshan.identity import service
from liangshan.identity.access import Principal

_bearer = HTTPBearer(auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_session(request: Request) -> Iterator[Session]:
    """One session per request: committed if the handler returns, rolled back if it raises."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def optional_principal(
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal | None:
    """The actor if credentials were sent (and are valid); None for anonymous requests."""
    if bearer is not None:
        return service.principal_from_token(session, bearer.credentials)
    if api_key:
        return service.principal_from_api_key(session, api_key)
    return None


def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise NotAuthenticated(
            "this endpoint needs credentials",
            hint="send 'Authorization: Bearer <token>' (POST /auth/token) or 'X-API-Key: <key>'",
        )
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]
OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]
