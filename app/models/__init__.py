"""All SQLAlchemy models. Imports nothing from the domain packages."""
from app.models.access import AccessGrant
from app.models.accounts import PLATFORMS, Account, Brand
from app.models.approvals import Approval, ApprovalPolicy, OrganizationSettings
from app.models.audit import AuditCheckpoint, AuditRecord
from app.models.base import Base
from app.models.crises import Crisis, CrisisEvent, CrisisStatus
from app.models.idempotency import IdempotencyKey
from app.models.posts import POST_STATUSES, ContentRule, Post, PostRevision
from app.models.publishing import AccountConnector, Publication
from app.models.tokens import ApiToken
from app.models.users import ServicePrincipal, User, UserKind, UserStatus

__all__ = [
    "PLATFORMS", "POST_STATUSES", "AccessGrant", "Account", "AccountConnector", "ApiToken", "Approval", "ApprovalPolicy", "AuditCheckpoint", "AuditRecord",
    "Base", "Brand", "ContentRule", "Crisis", "CrisisEvent", "CrisisStatus", "IdempotencyKey", "OrganizationSettings", "Post", "PostRevision", "Publication",
    "ServicePrincipal", "User", "UserKind", "UserStatus",
]
