"""`socialgov crisis declare|resolve|list`: for scripts and on-call people, over HTTP against a
running service (a token with crisis:declare / crisis:resolve; see README "Crisis runbook")."""
from __future__ import annotations

import enum
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, NoReturn

import typer

from app.types import UNSAFE

crisis_app = typer.Typer(help="Declare, resolve and list crises over HTTP against a running service.",
                         no_args_is_help=True)


EXIT_USAGE, EXIT_AUTH, EXIT_CONFLICT, EXIT_UNAVAILABLE, EXIT_NOT_SOCIALGOV = 2, 3, 4, 5, 6
_TRANSIENT = {429, 500, 502, 503, 504}
# app.errors.PROBLEM_BASE, not imported: app.errors pulls FastAPI and SQLAlchemy into a CLI start.
PROBLEM_BASE = "https://socialgov.dev/problems/"
_PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "instance", "pointer", "errors",
                   "parameter", "header", "path_parameter"}


class Resolution(str, enum.Enum):
    review = "review"
    resume = "resume"
    cancel = "cancel"


class CrisisStatus(str, enum.Enum):
    active = "active"
    scheduled = "scheduled"
    resolved = "resolved"


Url = Annotated[str, typer.Option("--url", envvar="SOCIALGOV_URL", help="The service's base URL.",
                                  rich_help_panel="Connection")]
Token = Annotated[str | None, typer.Option("--token", envvar="SOCIALGOV_TOKEN", show_default=False,
                                           help="Bearer token (crisis:declare / crisis:resolve scope, or a "
                                                "crisis lead's or admin's token).", rich_help_panel="Connection")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the full response body as JSON on stdout "
                                                     "(the human line goes to stderr).")]
Retries = Annotated[int, typer.Option(min=0, max=10, help="Retries on network errors and 5xx, with backoff.",
                                      rich_help_panel="Connection")]
Timeout = Annotated[float, typer.Option(min=1, help="Seconds to wait for each answer (a declaration waits for "
                                                    "publishes in flight).", rich_help_panel="Connection")]
DEFAULT_URL = "http://127.0.0.1:8000"


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match) -> str:
    char = match.group()
    cp = ord(char)
    return _ESCAPES.get(char) or (f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}")


def _safe(text: str) -> str:
    """One terminal line whatever the server sent: a reason stored before the API refused
    control characters (or a hostile server) cannot forge a line, rewrite one or reorder it."""
    return UNSAFE.sub(_escaped, text)


def _err(message: str) -> None:
    typer.echo(_safe(message), err=True)


def _out(line: str) -> None:
    typer.echo(_safe(line))


class _Unreachable(Exception):
    def __init__(self, why: str, maybe_sent: bool):
        super().__init__(why)
        self.maybe_sent = maybe_sent  # False: no attempt ever got a connection, nothing was sent


class _Http:
    """One client for one command: bearer token, retries with backoff on connection errors,
    5xx, 429 and an Idempotency-Key still in flight (the first attempt is still running)."""

    def __init__(self, url: str, token: str | None, timeout: float, retries: int):
        if not token:
            _err("error: no token: pass --token or set SOCIALGOV_TOKEN "
                 "(e.g. `socialgov token create --service oncall --scope crisis:declare --scope crisis:resolve`).")
            raise typer.Exit(EXIT_AUTH)
        import httpx

        self.httpx = httpx
        self.base = url.rstrip("/")
        self.retries = retries
        try:
            self.client = httpx.Client(base_url=self.base, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                       headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                                                "User-Agent": "socialgov-cli"})
        except (httpx.InvalidURL, ValueError) as exc:
            _err(f"error: bad --url {url!r}: {exc}")
            raise typer.Exit(EXIT_USAGE) from None

    def send(self, method: str, path: str, *, json_body=None, params=None, headers=None):
        """(response, retried): the last response, or _Unreachable when no answer ever came."""
        httpx = self.httpx
        attempt, maybe_sent = 0, False
        while True:
            try:
                response = self.client.request(method, path, json=json_body, params=params, headers=headers)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                _err(f"error: bad --url {self.base!r}: {exc}")
                raise typer.Exit(EXIT_USAGE) from None
            except httpx.TransportError as exc:
                response, why = None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                maybe_sent |= not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
            else:
                maybe_sent = True
                if not _transient(response):
                    return response, attempt > 0
                why = f"HTTP {response.status_code} {_problem(response).get('code', '')}".rstrip()
            if attempt >= self.retries:
                if response is not None:
                    return response, attempt > 0
                raise _Unreachable(why, maybe_sent)
            delay = min(0.5 * 2 ** attempt, 8.0)
            if response is not None and response.headers.get("retry-after", "").isdigit():
                delay = min(max(delay, float(response.headers["retry-after"])), 30.0)
            _err(f"{method} {path}: {why}; retrying in {delay:g}s ({attempt + 1}/{self.retries})")
            time.sleep(delay)
            attempt += 1


def _transient(response) -> bool:
    if response.headers.get("idempotent-replayed") == "true":
        return False  # a stored answer: asking again gives the same one
    if response.status_code == 409 and _problem(response).get("code") == "idempotency-key-in-flight":
        return True  # our own earlier attempt is still running (a retry after a timeout)
    return response.status_code in _TRANSIENT


def _socialgov(response, fields: tuple[str, ...] = ()) -> dict | None:
    """The body if this is socialgov's answer, else None. A success is a JSON object with the
    fields the command reads; anything else is a problem whose ``type`` is socialgov's. An SSO
    login page, a proxy's own page, another web server's 404: not socialgov's, whatever the status."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if response.status_code < 300:
        return body if all(f in body for f in fields) else None
    kind = body.get("type")
    return body if isinstance(kind, str) and kind.startswith(PROBLEM_BASE) else None


def _problem(response) -> dict:
    """socialgov's problem, or {} (a success, or an answer that is not socialgov's)."""
    return (_socialgov(response) or {}) if response.status_code >= 300 else {}


def _exit_code(status: int) -> int:
    if status in (401, 403):
        return EXIT_AUTH
    if status in (404, 409, 410, 412, 423, 428):
        return EXIT_CONFLICT
    if status >= 500 or status == 429:
        return EXIT_UNAVAILABLE
    return EXIT_USAGE


# socialgov's own answers for a path it has no route for: the base URL's path is wrong.
_NO_ROUTE = {"route-not-found", "method-not-allowed"}


def _answer(response, fields: tuple[str, ...], base: str, hint: str | None, as_json: bool) -> dict:
    """A success's JSON body with these fields; otherwise the command ends with an exit code
    that says what came back (see README "CLI exit codes"). ``hint`` is printed whenever the
    answer leaves open whether the change was made."""
    body = _socialgov(response, fields)
    status = response.status_code
    if body is not None and status < 300:
        return body
    if (body is not None and body.get("code") in _NO_ROUTE) or (body is None and status in (404, 405)):
        _not_socialgov(response, base, body, as_json)
    if body is None:
        _unexpected(response, base, hint)
    if hint and (status >= 500 or status == 429):
        _err(hint)  # a 5xx after the service committed (a proxy's 502/504) is the classic case
    _fail(body, status, as_json)


def _not_socialgov(response, base: str, problem: dict | None, as_json: bool) -> NoReturn:
    """No such route (socialgov's route-not-found, or another server's 404/405): --url is wrong.
    Nothing reached a socialgov route, so nothing was changed."""
    request = response.request
    said = (f"socialgov has no such route: {problem['code']}" if problem else
            f"{response.headers.get('content-type') or 'no content type'}, not a socialgov problem")
    _err(f"error: {base} is not a socialgov service: {request.method} {request.url.path} answered "
         f"HTTP {response.status_code} {response.reason_phrase} ({said}). Check --url / SOCIALGOV_URL: the base "
         f"URL the service answers /v1/... under (e.g. {DEFAULT_URL}).")
    if as_json and problem:
        typer.echo(json.dumps(problem, indent=2))
    raise typer.Exit(EXIT_NOT_SOCIALGOV)


def _unexpected(response, base: str, hint: str | None) -> NoReturn:
    """An answer that is not socialgov's says nothing about what happened: exit 5."""
    status = response.status_code
    kind = response.headers.get("content-type") or "no content type"
    if status >= 500 or status == 429:
        _err(f"error: HTTP {status} {response.reason_phrase} from {base} ({kind}), not a socialgov answer: "
             f"a proxy or gateway in front of the service answered.")
    else:
        moved = response.headers.get("location") if 300 <= status < 400 else None
        _err(f"error: unexpected answer from {base} (HTTP {status}, {kind}"
             f"{', redirected to ' + moved if moved else ''}): not a socialgov answer — is --url the socialgov "
             f"service (not a login page or a proxy)?")
    if hint:
        _err(hint)
    raise typer.Exit(EXIT_UNAVAILABLE)


def _fail(problem: dict, status: int, as_json: bool) -> NoReturn:
    """socialgov's problem: detail and code on stderr (escaped, as every line printed)."""
    detail = problem.get("detail") or problem.get("title") or "no detail"
    code = problem.get("code")
    errors = [e for e in problem.get("errors") or [] if isinstance(e, dict)]
    where = [e.get("pointer") or e.get("parameter") or e.get("header") or "" for e in errors]
    at = f" [{where[0]}]" if len(errors) == 1 and where[0] and where[0] not in str(detail) else ""
    _err(f"error: {detail}{at} ({f'{code}, ' if code else ''}HTTP {status})")
    for e, w in zip(errors if len(errors) > 1 else [], where):
        _err(f"  {w + ': ' if w else ''}{e.get('detail', '')}")
    for key, value in problem.items():  # what the error adds: resolution, crisis_ids ...
        if key not in _PROBLEM_FIELDS and isinstance(value, (str, int, float, list)):
            _err(f"  {key}: {', '.join(map(str, value)) if isinstance(value, list) else value}")
    if as_json:
        typer.echo(json.dumps(problem, indent=2))
    raise typer.Exit(_exit_code(status))


def _emit(body: dict, line: str, as_json: bool) -> None:
    if as_json:
        _err(line)
        typer.echo(json.dumps(body, indent=2))
    else:
        _out(line)


def _scope_text(scope: dict) -> str:
    if scope.get("organization"):
        return "organisation-wide"
    for key, noun in (("brand_ids", "brand"), ("account_ids", "account")):
        ids = scope.get(key) or []
        if ids:
            shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
            return f"{noun}{'s' if len(ids) > 1 else ''} {shown}"
    return "?"


def _passed(when: str | None) -> bool:
    try:
        return when is not None and datetime.fromisoformat(when.replace("Z", "+00:00")) <= datetime.now(UTC)
    except ValueError:
        return False


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@crisis_app.command("declare")
def crisis_declare(
    reason: Annotated[str, typer.Option(help="Why: shown to everyone in scope and audited.")],
    severity: Annotated[int, typer.Option(min=1, max=4, help="1 (low) – 4 (critical).")] = 2,
    brand: Annotated[list[uuid.UUID] | None, typer.Option(
        "--brand", help="Repeatable: freeze these brands' accounts. Neither --brand nor --account: "
                        "the whole organisation.", show_default=False)] = None,
    account: Annotated[list[uuid.UUID] | None, typer.Option(
        "--account", help="Repeatable: freeze these accounts.", show_default=False)] = None,
    responder: Annotated[list[uuid.UUID] | None, typer.Option(
        "--responder", help="Repeatable: user id allowed to publish crisis responses (crisis leads always are).",
        show_default=False)] = None,
    starts_at: Annotated[str | None, typer.Option(help="RFC 3339: a blackout window ahead of time.")] = None,
    ends_at: Annotated[str | None, typer.Option(help="RFC 3339: the crisis resolves itself (review) then.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would pause; change nothing.")] = False,
    idempotency_key: Annotated[str | None, typer.Option(
        help="Declare at most once per key (default: a fresh key, reused across this command's retries). "
             "Ignored with --dry-run.", show_default=False)] = None,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
    retries: Retries = 4,
    timeout: Timeout = 60.0,
) -> None:
    """Freeze publishing in scope: every scheduled post pauses before this returns.

    Exit 0 only when the freeze is in force (or, for a window ahead, scheduled)."""
    if brand and account:
        _err("error: give --brand or --account, not both (neither = the whole organisation).")
        raise typer.Exit(EXIT_USAGE)
    scope = ({"brand_ids": [str(b) for b in brand]} if brand else
             {"account_ids": [str(a) for a in account]} if account else {"organization": True})
    body: dict = {"severity": severity, "scope": scope, "reason": reason,
                  "responders": [str(r) for r in responder or []]}
    if starts_at:
        body["starts_at"] = starts_at
    if ends_at:
        body["ends_at"] = ends_at
    http = _Http(url, token, timeout, retries)
    key = None if dry_run else (idempotency_key or f"cli-{uuid.uuid4()}")
    try:
        response, retried = http.send("POST", "/v1/crises", json_body=body,
                                      params={"dry_run": "true"} if dry_run else None,
                                      headers={"Idempotency-Key": key} if key else None)
    except _Unreachable as exc:
        _err(f"error: no answer from {http.base}: {exc}.")
        if key and exc.maybe_sent:
            _err(f"The crisis may or may not have been declared. Run the same command again with "
                 f"--idempotency-key {key} : it declares at most once.")
        elif key:
            _err("The service was never reached: nothing was declared.")
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    maybe_declared = (f"The crisis may or may not have been declared. Run the same command again with "
                      f"--idempotency-key {key} : it declares at most once.") if key else None
    result = _answer(response, ("would_pause", "scope") if dry_run else ("id", "status", "paused_count", "scope"),
                     http.base, maybe_declared, as_json)
    if dry_run:
        _emit(result, f"dry run: would pause {_plural(result['would_pause'], 'scheduled post')} "
                      f"({_scope_text(result['scope'])}); nothing changed", as_json)
        return
    replayed = response.headers.get("idempotent-replayed") == "true"
    if replayed:  # declared earlier with this key: say what it is now
        try:
            now, _ = http.send("GET", f"/v1/crises/{result['id']}")
        except _Unreachable:
            now = None
        current = _socialgov(now, ("id", "status")) if now is not None and now.status_code == 200 else None
        if current is not None:
            result.update({k: v for k, v in current.items() if k in result and k != "in_flight_published"})
    # A replay after our own retry is our own declaration whose first answer was lost.
    prefix = "already declared with this idempotency key: " if replayed and not retried else ""
    cid, status, paused = result["id"], result["status"], result["paused_count"]
    if status == "active":
        line = (f"{prefix}crisis {cid} active ({_scope_text(result['scope'])}, severity {result['severity']}): "
                f"paused {_plural(paused, 'scheduled post')}")
        in_flight = result.get("in_flight_published") or []
        if in_flight:
            line += (f"; {_plural(len(in_flight), 'post')} in flight published before the freeze took hold: "
                     + ", ".join(in_flight))
        _emit(result, line, as_json)
    elif status == "scheduled" and _passed(result["starts_at"]):
        _emit(result, f"{prefix}blackout window {cid} in force since {result['starts_at']} "
                      f"({_scope_text(result['scope'])}) until {result['ends_at'] or 'resolved'}: "
                      f"paused {_plural(paused, 'post')} so far (a worker pauses the rest)", as_json)
    elif status == "scheduled":
        _emit(result, f"{prefix}blackout window {cid} scheduled, not yet in force "
                      f"({_scope_text(result['scope'])}): from {result['starts_at']} until "
                      f"{result['ends_at'] or 'resolved'}; paused {_plural(paused, 'post')} already scheduled "
                      f"inside it, the rest freezes at the start", as_json)
    else:
        _err(f"error: crisis {cid} (declared earlier with this idempotency key) is {status}"
             f"{' (' + result['resolution'] + ')' if result.get('resolution') else ''}: no freeze is in force. "
             f"Declare again with a new key if one is needed.")
        if as_json:
            typer.echo(json.dumps(result, indent=2))
        raise typer.Exit(EXIT_CONFLICT)


@crisis_app.command("resolve")
def crisis_resolve(
    crisis_id: Annotated[uuid.UUID, typer.Argument(help="The crisis to resolve.", show_default=False)],
    resolution: Annotated[Resolution, typer.Option(
        help="review: paused posts back to review, approvals voided; resume: future slots scheduled again, "
             "passed ones approved but unscheduled; cancel: withdrawn.")] = Resolution.review,
    note: Annotated[str | None, typer.Option(help="Why / what was decided (audited).")] = None,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
    retries: Retries = 4,
    timeout: Timeout = 60.0,
) -> None:
    """End a crisis and decide what happens to the posts it paused; prints the count per outcome."""
    http = _Http(url, token, timeout, retries)
    body = {"resolution": resolution.value, **({"note": note} if note is not None else {})}
    path = f"/v1/crises/{crisis_id}"
    try:
        response, retried = http.send("POST", path + "/resolve", json_body=body)
        confirmed = False
        if retried and response.status_code == 409 and _problem(response).get("code") == "crisis-already-resolved":
            # An earlier attempt whose answer was lost may have done it: check.
            now, _ = http.send("GET", path)
            current = _socialgov(now, ("id", "resolution")) if now.status_code == 200 else None
            if current is not None and current["resolution"] == resolution.value:
                response, confirmed = now, True
    except _Unreachable as exc:
        _err(f"error: no answer from {http.base}: {exc}. Check with `socialgov crisis list` or GET {path} "
             f"whether it was resolved; resolving twice is refused, never applied twice.")
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    result = _answer(response, ("id", "resolution"), http.base,
                     f"Check with `socialgov crisis list` or GET {path} whether it was resolved.", as_json)
    counts = result.get("counts") or result.get("outcome") or {}
    if confirmed:
        result["counts"] = counts
    shown = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items())
    _emit(result, f"crisis {result['id']} resolved ({result['resolution']}): {shown or 'nothing was paused'}",
          as_json)


@crisis_app.command("list")
def crisis_list(
    status: Annotated[list[CrisisStatus] | None, typer.Option(
        "--status", help="Repeatable. Default: active and scheduled (windows ahead).", show_default=False)] = None,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
    retries: Retries = 2,
    timeout: Timeout = 30.0,
) -> None:
    """Crises in force and windows ahead (or --status resolved), newest first."""
    http = _Http(url, token, timeout, retries)
    wanted = [s.value for s in status] if status else ["active", "scheduled"]
    items: list[dict] = []
    cursor = None
    try:
        while True:
            params = {"status": wanted, "limit": 200, **({"cursor": cursor} if cursor else {})}
            response, _ = http.send("GET", "/v1/crises", params=params)
            page = _answer(response, ("items",), http.base, None, as_json)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor or len(items) >= 10_000:
                break
    except _Unreachable as exc:
        _err(f"error: no answer from {http.base}: {exc}.")
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    if as_json:
        typer.echo(json.dumps({"items": items}, indent=2))
        return
    if not items:
        _out(f"no crises ({' or '.join(wanted)})")
    for c in items:
        when = (c.get("resolved_at") if c["status"] == "resolved" else
                c.get("activated_at") or c.get("starts_at") or c["declared_at"])
        _out(f"{c['id']}  {c['status']:<9}  severity {c['severity']}  since {when}  "
             f"paused {c['paused_count']}  {_scope_text(c['scope'])}  {c['reason'][:80]}")
