"""GraphQL context: built from the same ``authenticate`` dependency as REST."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.fastapi import BaseContext

from app.db import request_session
from app.errors import Unauthenticated
from app.security import Principal, optional_principal


class Context(BaseContext):
    def __init__(self, request: Request, principal: Principal | None):
        super().__init__()
        self._request = request
        self._principal = principal

    @property
    def principal(self) -> Principal:
        if self._principal is None:
            raise Unauthenticated("This query needs a bearer token.")
        return self._principal

    @property
    def session(self) -> AsyncSession:
        return request_session(self._request)


async def get_context(request: Request,
                      principal: Annotated[Principal | None, Depends(optional_principal)]) -> Context:
    return Context(request, principal)
