"""Who is acting, and what they may touch.

A :class:`Principal` is the acting user (through a login token) or API key. Region
scopes are GB/T 2260 code prefixes: a county operator scoped to ``520381`` may
write records whose region code starts with ``520381`` (the county, its townships
and villages) and nothing else. Province admins are scoped to ``52``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from liangshan.errors import Forbidden
from liangshan.identity.models import Role

#: Roles that may write inside their region scope.
WRITER_ROLES = frozenset({Role.PROVINCE_ADMIN, Role.COUNTY_OPERATOR, Role.DEPARTMENT_STAFF})
#: Roles that may read non-public records everywhere (auditors read, never write).
READER_ROLES = WRITER_ROLES | {Role.AUDITOR}


@dataclass(frozen=True)
class Principal:
    """The actor behind a request or a CLI command."""

    role: Role
    region_code: str | None
    user_id: int | None = None
    username: str = ""
    organisation_id: int | None = None
    api_key_id: int | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    rate_limit_per_minute: int | None = None  # API keys only

    @property
    def label(self) -> str:
        return self.username or f"api-key:{self.api_key_id}"

    def covers_region(self, region_code: str) -> bool:
        """True when ``region_code`` lies inside this principal's scope."""
        if self.role is Role.PROVINCE_ADMIN and not self.region_code:
            return True
        return bool(self.region_code) and region_code.startswith(self.region_code or "")

    def require_role(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(
                f"{self.label} has role {self.role.value}; this action needs one of: {allowed}",
                hint="ask a province admin to grant the role, or act through an account that has it",
            )

    def require_write(self, region_code: str) -> None:
        """Refuse unless this principal may write records of ``region_code``."""
        if self.role not in WRITER_ROLES:
            raise Forbidden(
                f"{self.label} ({self.role.value}) may not change records of region {region_code}",
                hint="only province admins, county operators and department staff write here",
            )
        if not self.covers_region(region_code):
            raise Forbidden(
                f"{self.label} is scoped to region {self.region_code or '(none)'} and may not "
                f"write in region {region_code}",
                hint="log in with an account of that region, or ask a province admin",
            )

    def require_scope(self, scope: str) -> None:
        """API keys carry scopes; users act with their role and are not scope-limited."""
        if self.api_key_id is not None and scope not in self.scopes:
            raise Forbidden(
                f"API key {self.api_key_id} lacks scope '{scope}' "
                f"(it has: {', '.join(sorted(self.scopes)) or 'none'})",
                hint=f"create a key with that scope: POST /identity/api-keys "
                f'{{"name": ..., "scopes": ["{scope}"]}}',
            )


SYSTEM = Principal(role=Role.PROVINCE_ADMIN, region_code=None, username="system")
"""The principal of the CLI and the demo seeding, recorded as such in the audit trail."""
