from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.db import current_revision_of
from app.errors import PROBLEM_JSON, ServiceUnavailable

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and its schema is at the migrations' head",
            responses={503: {"content": {PROBLEM_JSON: {}}}})
async def readyz(request: Request):
    maker = request.app.state.sessionmaker
    head = request.app.state.head_revision
    try:
        async with maker() as session:
            await session.execute(text("SELECT 1"))
            current = await current_revision_of(session)
    except Exception:
        err = ServiceUnavailable("The database does not answer.")
        return JSONResponse(err.problem(request.url.path), status_code=503, media_type=PROBLEM_JSON)
    if current != head:
        err = ServiceUnavailable(f"The database schema is at {current}, the code expects {head}.",
                                 database_revision=current, expected_revision=head)
        return JSONResponse(err.problem(request.url.path), status_code=503, media_type=PROBLEM_JSON)
    return {"status": "ready", "database": "ok", "revision": current}


