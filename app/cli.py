"""socialgov command line: serve, worker, migrate, token, audit (straight to the database) and
crisis (over HTTP, against a running service: for on-call people and scripts)."""
from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import datetime
from typing import Annotated

import typer

from app.config import Settings, get_settings
from app.crises.cli import crisis_app

app = typer.Typer(help="socialgov: who may say what, on which account, when — and who can stop it.",
                  no_args_is_help=True)
token_app = typer.Typer(help="Operator tokens, straight to the database.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit chain tools.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
app.add_typer(crisis_app, name="crisis")


def _settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


async def _with_session(url: str, fn, name: str = "cli"):
    """One CLI command's unit of work (app/uow.py), committed when ``fn`` returns."""
    from app.db import create_engine, create_sessionmaker
    from app.uow import job

    engine = create_engine(url, pool_size=2, max_overflow=0)
    try:
        async with job(create_sessionmaker(engine), name) as uow:
            return await fn(uow.session)
    finally:
        await engine.dispose()


@app.command()
def migrate() -> None:
    """Run database migrations to head (embedded PostgreSQL when DATABASE_URL is unset)."""
    from app.db import database, migrate as run_migrations

    with database(_settings()) as url:
        run_migrations(url)
        typer.echo("migrations at head")


def _exit_cleanly(signum, frame) -> None:
    raise SystemExit(0)


def _bootstrap(url: str, settings: Settings) -> bool:
    from app.bootstrap import bootstrap_admin

    token = asyncio.run(_with_session(url, lambda s: bootstrap_admin(s, settings.bootstrap_token)))
    if token is None:
        return False
    if settings.bootstrap_token:
        typer.echo("Nobody could administer: the bootstrap admin works again with the token from "
                   "SOCIALGOV_BOOTSTRAP_TOKEN.", err=True)
    else:
        typer.echo("\n  Bootstrap admin token (shown once, store it now):\n\n"
                   f"    {token}\n", err=True)
        typer.echo(f"SOCIALGOV_BOOTSTRAP_ADMIN_TOKEN={token}")
    sys.stdout.flush()
    return True


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (SOCIALGOV_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SOCIALGOV_PORT)")] = None,
) -> None:
    """Start the API: embedded PostgreSQL unless DATABASE_URL is set, migrate, bootstrap, serve."""
    import uvicorn

    from app.db import database, migrate as run_migrations
    from app.main import create_app
    from app.observability import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    with database(settings) as url:
        run_migrations(url)
        _bootstrap(url, settings)
        settings = settings.model_copy(update={"database_url": url})
        config = uvicorn.Config(
            create_app(settings), host=host or settings.host, port=port or settings.port,
            log_config=None, access_log=False, timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        )
        # uvicorn finishes in-flight requests on SIGTERM/SIGINT, then re-raises the signal
        # to the handler installed before it started: ours turns it into SystemExit so the
        # `with` block stops the embedded database cleanly instead of dying mid-way.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        uvicorn.Server(config).run()


@app.command()
def worker() -> None:
    """Background processes: audit sealing, idempotency-key expiry (later issues add more)."""
    from app.db import database
    from app.observability import configure_logging
    from app.worker import run_worker

    settings = _settings()
    configure_logging(settings.log_level)
    with database(settings) as url:
        asyncio.run(run_worker(url, settings))


@app.command()
def bootstrap() -> None:
    """Break-glass: if nobody can administer, restore the bootstrap admin now (what every start
    does) and print its token (SOCIALGOV_BOOTSTRAP_TOKEN's, if set, is restored instead)."""
    from app.bootstrap import check_bootstrap_token
    from app.db import database, migrate as run_migrations

    settings = _settings()
    check_bootstrap_token(settings.bootstrap_token)
    with database(settings) as url:
        run_migrations(url)
        if not _bootstrap(url, settings):
            typer.echo("An admin can still administer; nothing to do "
                       "(`socialgov token create --user EMAIL --scope admin` makes another token).", err=True)


@token_app.command("create")
def token_create(
    scope: Annotated[list[str], typer.Option("--scope", "-s", help="Repeatable: admin, posts:read ...")],
    user: Annotated[str | None, typer.Option(help="User email or id")] = None,
    service: Annotated[str | None, typer.Option(help="Service principal name (created if new)")] = None,
    name: Annotated[str | None, typer.Option(help="A label for the token")] = None,
    expires_at: Annotated[datetime | None, typer.Option(help="RFC 3339 expiry")] = None,
) -> None:
    """Create a token directly in the database (operators; the action is audited as system)."""
    import uuid

    from app.db import database
    from app.security import SYSTEM, Scope
    from app.tokens import service as tokens_service
    from app.users import service as users_service

    if (user is None) == (service is None):
        raise typer.BadParameter("give exactly one of --user or --service")
    try:
        scopes = [Scope(s) for s in scope]
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}; scopes: {', '.join(s.value for s in Scope)}") from None

    async def run(session):
        user_id = None
        if user is not None:
            try:
                user_id = uuid.UUID(user)
            except ValueError:
                found = await users_service.find_by_email(session, user)
                if found is None:
                    raise typer.BadParameter(f"no user {user!r}") from None
                user_id = found.id
        made = await tokens_service.create_token(session, SYSTEM, user_id=user_id, service_name=service,
                                                 scopes=scopes, name=name, expires_at=expires_at)
        return made.secret

    with database(_settings()) as url:
        typer.echo(asyncio.run(_with_session(url, run)))


@audit_app.command("verify")
def audit_verify(
    seal: Annotated[bool, typer.Option(help="Seal pending records first")] = True,
    checkpoint: Annotated[str | None, typer.Option(
        metavar="FILE|URL",
        help="A checkpoint saved earlier outside the database: a JSON file as GET /v1/audit/checkpoints"
             " answers (one checkpoint, or a page {\"items\": [...]}: the highest seq counts) or an http(s) URL"
             " to fetch it from (bearer token from SOCIALGOV_TOKEN). The chain must reach it and agree with it.",
    )] = None,
    public_key: Annotated[str | None, typer.Option(
        help="base64 Ed25519 public key of the checkpoints (default: derived from SOCIALGOV_AUDIT_CHECKPOINT_KEY);"
             " when one is known, the --checkpoint must carry a valid signature by it.",
    )] = None,
) -> None:
    """Walk the hash chain and compare it with every stored checkpoint (and --checkpoint); exit 1 and
    name the first broken link if it is broken, or if the saved checkpoint's signature is bad
    (exit 2 if the checkpoint or the key cannot be read)."""
    import dataclasses
    import os
    from pathlib import Path

    from app.audit import service as audit_service
    from app.audit import signing
    from app.db import database

    def as_json(value):
        return value.isoformat() if isinstance(value, datetime) else str(value)

    def read(source: str):
        if source.startswith(("http://", "https://")):
            import httpx

            token = os.environ.get("SOCIALGOV_TOKEN")
            headers = {"Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
            try:
                response = httpx.get(source, headers=headers, timeout=30)
            except httpx.HTTPError as exc:
                raise ValueError(f"cannot fetch {source}: {exc}") from None
            if response.status_code != 200:
                raise ValueError(f"{source} answered HTTP {response.status_code}")
            body = response.text
        else:
            try:
                body = Path(source).read_text(encoding="utf-8")
            except (OSError, UnicodeError) as exc:
                raise ValueError(f"cannot read {source}: {exc}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise ValueError(f"{source} is not JSON") from None

    settings = _settings()
    try:
        key = signing.public_key(public_key) if public_key else audit_service.checkpoint_public_key(settings)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--public-key / SOCIALGOV_AUDIT_CHECKPOINT_KEY") from None
    saved = None
    if checkpoint is not None:
        try:
            saved = audit_service.parse_checkpoint(read(checkpoint))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--checkpoint") from None
        if key is None:
            typer.echo(f"warning: the signature of {saved.name} is not checked: no public key"
                       " (--public-key or SOCIALGOV_AUDIT_CHECKPOINT_KEY)", err=True)
        elif (problem := audit_service.signature_problem(saved, key)) is not None:
            typer.echo(f"refused: {problem}", err=True)
            shown = {k: v for k, v in dataclasses.asdict(saved).items() if k != "saved"}
            typer.echo(json.dumps({"ok": False, "error": problem, "saved_checkpoint": shown}, indent=2, default=as_json))
            raise typer.Exit(1)

    async def run(session):
        while seal and await audit_service.seal_pending(session):
            await session.commit()
        return await audit_service.verify(session, public_key=key, saved=saved)

    with database(settings) as url:
        result = asyncio.run(_with_session(url, run))
    typer.echo(json.dumps(dataclasses.asdict(result), indent=2, default=as_json))
    if not result.ok:
        broken = result.first_broken or {}
        typer.echo(f"audit chain broken at seq {broken.get('seq')}: {broken.get('reason')}", err=True)
    raise typer.Exit(0 if result.ok else 1)


@audit_app.command("keygen")
def audit_keygen() -> None:
    """Print a new Ed25519 checkpoint key: private_key for SOCIALGOV_AUDIT_CHECKPOINT_KEY (the sealers
    only), public_key for auditors (`socialgov audit verify --public-key`)."""
    from app.audit import signing

    private, public, key_id = signing.generate()
    typer.echo(json.dumps({"private_key": private, "public_key": public, "key_id": key_id}, indent=2))
    typer.echo("Set SOCIALGOV_AUDIT_CHECKPOINT_KEY=<private_key> in every API process and worker (a secret, kept"
               " out of the database); give auditors public_key.", err=True)


# --- crisis: over HTTP, for on-call people and scripts ---------------------------------------
#
# Exit codes (README "Crisis runbook"): 0 the freeze is in force (or scheduled, or the dry run
# / resolve / list answered); 2 usage or validation; 3 no token, or the token is refused;
# 4 not found or conflict; 5 server error or network (after retries).


def main() -> None:
    app()


if __name__ == "__main__":
    main()
