"""All SQLAlchemy models. Imports nothing from the domain packages."""
from app.models.access import AccessGrant
from app.models.accounts import PLATFORMS, Account, Brand
from app.models.audit import AuditRecord
from app.models.base import Base
from app.models.idempotency import IdempotencyKey
from app.models.tokens import ApiToken
from app.models.users import ServicePrincipal, User, UserKind, UserStatus

__all__ = [
    "PLATFORMS", "AccessGrant", "Account", "ApiToken", "AuditRecord", "Base", "Brand",
    "IdempotencyKey", "ServicePrincipal", "User", "UserKind", "UserStatus",
]
