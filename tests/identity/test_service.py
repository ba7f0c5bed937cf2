"""Identity rules on both databases: users, login, region scopes, API keys, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from liangshan.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated
from liangshan.identity import service
from liangshan.identity.access import SYSTEM
from liangshan.identity.models import AuditEvent, Role
from liangshan.identity.schemas import ApiKeyIn, OrganisationIn, UserIn

PASSWORD = "correct horse battery"


def _user(session, username, role, region=None, actor=SYSTEM):
    return service.create_user(session, actor, UserIn(
        username=username, display_name=username, password=PASSWORD, role=role,
        region_code=region))


def test_password_is_hashed_with_argon2_and_login_works(db_session):
    user = _user(db_session, "admin", Role.PROVINCE_ADMIN)
    db_session.commit()
    assert user.password_hash.startswith("$argon2")
    assert PASSWORD not in user.password_hash
    token, _row = service.login(db_session, "admin", PASSWORD)
    principal = service.principal_from_token(db_session, token)
    assert principal.username == "admin" and principal.role is Role.PROVINCE_ADMIN


@pytest.mark.parametrize("username,password", [("admin", "wrong password!"), ("nobody", PASSWORD)])
def test_wrong_credentials_are_refused_with_the_same_message(db_session, username, password):
    _user(db_session, "admin", Role.PROVINCE_ADMIN)
    with pytest.raises(NotAuthenticated, match="wrong username or password"):
        service.login(db_session, username, password)


def test_revoked_token_is_refused(db_session):
    _user(db_session, "admin", Role.PROVINCE_ADMIN)
    token, _ = service.login(db_session, "admin", PASSWORD)
    service.logout(db_session, token)
    with pytest.raises(NotAuthenticated):
        service.principal_from_token(db_session, token)


def test_county_operator_writes_only_inside_its_county(db_session):
    op = service.principal_of(_user(db_session, "chishui", Role.COUNTY_OPERATOR, "520381"))
    op.require_write("520381")
    op.require_write("520381102")  # a township of 赤水市
    with pytest.raises(Forbidden, match="scoped to region 520381"):
        op.require_write("520521")
    with pytest.raises(Forbidden):
        _user(db_session, "dafang-op", Role.COUNTY_OPERATOR, "520521", actor=op)


def test_only_province_admin_creates_admins_and_auditors(db_session):
    op = service.principal_of(_user(db_session, "chishui", Role.COUNTY_OPERATOR, "520381"))
    with pytest.raises(Forbidden):
        _user(db_session, "auditor", Role.AUDITOR, actor=op)


def test_county_roles_need_a_region(db_session):
    with pytest.raises(InvalidInput, match="needs a region_code"):
        _user(db_session, "op", Role.COUNTY_OPERATOR)


def test_duplicate_username_conflicts(db_session):
    _user(db_session, "admin", Role.PROVINCE_ADMIN)
    with pytest.raises(Conflict):
        _user(db_session, "admin", Role.PROVINCE_ADMIN)


def test_government_organisation_needs_region(db_session):
    with pytest.raises(InvalidInput, match="region_code"):
        service.create_organisation(db_session, SYSTEM, OrganisationIn(
            name="赤水市发展和改革局", kind="government"))


def test_api_key_round_trip_scopes_and_revocation(db_session):
    owner = service.principal_of(_user(db_session, "bank", Role.BANK_OFFICER))
    key, row = service.create_api_key(db_session, owner, ApiKeyIn(name="loans",
                                                                  scopes=["read:accounts"]))
    assert row.secret_hash.startswith("$argon2") and key.split("_")[2] not in row.secret_hash
    principal = service.principal_from_api_key(db_session, key)
    principal.require_scope("read:accounts")
    with pytest.raises(Forbidden, match="lacks scope 'read:registry'"):
        principal.require_scope("read:registry")
    with pytest.raises(NotAuthenticated):
        service.principal_from_api_key(db_session, key[:-2] + "xx")
    service.revoke_api_key(db_session, owner, row.id)
    with pytest.raises(NotAuthenticated, match="revoked"):
        service.principal_from_api_key(db_session, key)


def test_unknown_scope_refused(db_session):
    owner = service.principal_of(_user(db_session, "bank", Role.BANK_OFFICER))
    with pytest.raises(InvalidInput, match="unknown API scope"):
        service.create_api_key(db_session, owner, ApiKeyIn(name="x", scopes=["write:everything"]))


def test_every_write_records_its_actor(db_session):
    admin = service.principal_of(_user(db_session, "admin", Role.PROVINCE_ADMIN))
    _user(db_session, "op", Role.COUNTY_OPERATOR, "520381", actor=admin)
    db_session.commit()
    events = db_session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.action, e.target_type) for e in events] == [("create", "user"), ("create", "user")]
    assert events[1].actor_user_id == admin.user_id
    assert events[1].at.tzinfo is not None
