"""`socialgov crisis declare | resolve | list`: the real CLI, as a process, against the real
service, as a process (one per module), on a committed database."""
from __future__ import annotations

import http.server
import json
import re
import secrets
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from app.crises import cli as crisis_cli
from app.db import create_engine
from app.errors import PROBLEM_BASE
from tests.support.app import Api
from tests.support.posts import Flow, Person, person
from tests.support.processes import env, free_port, stop, wait_healthy

pytestmark = pytest.mark.committed

ROOT = Path(__file__).resolve().parents[2]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def later(**kw) -> str:
    return (datetime.now(UTC) + timedelta(**kw)).isoformat()


@dataclass
class Service:
    base: str
    api: Api  # the bootstrap admin, over real HTTP
    oncall: str  # a service token with crisis:declare and crisis:resolve
    database: str  # the service's database, for rows the API would not write


@pytest.fixture(scope="module")
async def service(databases, tmp_path_factory):
    name, url = await databases.clone()
    logs = tmp_path_factory.mktemp("crisis-cli") / "serve.log"
    admin = "sgv_" + secrets.token_hex(20)
    port = free_port()
    with logs.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=ROOT,
                                env=env(DATABASE_URL=url, SOCIALGOV_BOOTSTRAP_TOKEN=admin),
                                stdout=subprocess.DEVNULL, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_healthy(base, proc)
        # The runbook's way to make the on-call token.
        made = subprocess.run([sys.executable, "-m", "app.cli", "token", "create", "--service", "oncall",
                               "--scope", "crisis:declare", "--scope", "crisis:resolve"], cwd=ROOT,
                              env=env(DATABASE_URL=url), capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            yield Service(base, Api(client, admin), made.stdout.strip(), url)
    finally:
        stop(proc)
        await databases.drop(name)


@dataclass
class Room:
    brand: dict
    account: dict
    author: Person
    editor: Person
    publisher: Person


@pytest.fixture
async def room(service) -> Room:
    api = service.api
    brand = await api.brand()
    account = await api.account(brand["id"])
    acc = {"account_id": account["id"]}
    return Room(brand, account, await person(api, "contributor", **acc), await person(api, "approver", **acc),
                await person(api, "publisher", **acc))


async def scheduled(service: Service, room: Room, body: str, **when) -> dict:
    flow = Flow(service.api, room)
    post = await flow.submitted(body)
    post = await flow.act(post, "approve", room.editor)
    return await flow.act(post, "schedule", room.publisher, {"scheduled_at": later(**(when or {"hours": 1}))})


async def status_of(service: Service, room: Room, post: dict) -> str:
    return (await service.api.ok("GET", f"/v1/posts/{post['id']}"))["status"]


def crisis(service: Service, *args: str, token: str | None = None, url: str | None = None):
    return subprocess.run([sys.executable, "-m", "app.cli", "crisis", *args], cwd=ROOT,
                          env=env(SOCIALGOV_URL=url or service.base, SOCIALGOV_TOKEN=token or service.oncall),
                          capture_output=True, text=True, timeout=120)


def crisis_id(out: str) -> str:
    found = re.search(rf"\b(?:crisis|window) ({UUID})", out)
    assert found, out
    return found.group(1)


async def crises_on(service: Service, brand: dict) -> list[dict]:
    items = (await service.api.ok("GET", "/v1/crises?limit=200"))["items"]
    return [c for c in items if c["scope"]["brand_ids"] == [brand["id"]]]


async def test_declare_pauses_is_idempotent_and_resume_puts_posts_back(service, room):
    a = await scheduled(service, room, "Spring sale starts Monday")
    b = await scheduled(service, room, "Meet us at the trade fair", hours=3)

    r = crisis(service, "declare", "--reason", "product recall", "--brand", room.brand["id"], "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "would pause 2 scheduled posts" in r.stdout
    assert [await status_of(service, room, p) for p in (a, b)] == ["scheduled", "scheduled"]
    assert await crises_on(service, room.brand) == []

    key = f"incident-{secrets.token_hex(4)}"
    r = crisis(service, "declare", "--reason", "product recall", "--severity", "3", "--brand", room.brand["id"],
               "--responder", room.publisher.id, "--idempotency-key", key)
    assert r.returncode == 0, r.stderr
    cid = crisis_id(r.stdout)
    assert "active" in r.stdout and "paused 2 scheduled posts" in r.stdout
    assert [await status_of(service, room, p) for p in (a, b)] == ["paused", "paused"]
    got = await service.api.ok("GET", f"/v1/crises/{cid}")
    assert got["severity"] == 3 and got["responders"] == [room.publisher.id] and got["reason"] == "product recall"
    me = await service.api.ok("GET", "/v1/me")
    assert cid in [c["id"] for c in me["active_crises"]]

    # The same key again (a script re-run): the same crisis, nothing declared twice.
    r = crisis(service, "declare", "--reason", "product recall", "--severity", "3", "--brand", room.brand["id"],
               "--responder", room.publisher.id, "--idempotency-key", key, "--json")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["id"] == cid and body["status"] == "active" and body["in_flight_published"] == []
    assert "already declared" in r.stderr
    assert [c["id"] for c in await crises_on(service, room.brand)] == [cid]

    r = crisis(service, "list")
    assert r.returncode == 0, r.stderr
    assert any(line.startswith(cid) and "active" in line and "paused 2" in line for line in r.stdout.splitlines())

    r = crisis(service, "resolve", cid, "--resolution", "resume", "--note", "recall was a false alarm")
    assert r.returncode == 0, r.stderr
    assert cid in r.stdout and "resume" in r.stdout and "resumed 2" in r.stdout and "unscheduled 0" in r.stdout
    assert [await status_of(service, room, p) for p in (a, b)] == ["scheduled", "scheduled"]

    r = crisis(service, "resolve", cid, "--resolution", "resume")
    assert r.returncode == 4 and "crisis-already-resolved" in r.stderr
    # The old key now names a resolved crisis: no freeze is in force, so not a success.
    r = crisis(service, "declare", "--reason", "product recall", "--severity", "3", "--brand", room.brand["id"],
               "--responder", room.publisher.id, "--idempotency-key", key)
    assert r.returncode == 4 and "resolved" in r.stderr and "no freeze is in force" in r.stderr
    r = crisis(service, "list")
    assert cid not in r.stdout


async def test_blackout_window_ahead_then_cancel(service, room):
    inside = await scheduled(service, room, "Quarterly results teaser", hours=26)
    outside = await scheduled(service, room, "Hiring fair", hours=1)
    r = crisis(service, "declare", "--reason", "earnings quiet period", "--account", room.account["id"],
               "--starts-at", later(hours=24), "--ends-at", later(hours=48))
    assert r.returncode == 0, r.stderr
    cid = crisis_id(r.stdout)
    assert "scheduled, not yet in force" in r.stdout and "paused 1 post" in r.stdout
    assert await status_of(service, room, inside) == "paused"
    assert await status_of(service, room, outside) == "scheduled"
    r = crisis(service, "list", "--status", "scheduled")
    assert cid in r.stdout
    r = crisis(service, "resolve", cid, "--resolution", "cancel", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"] == {"cancelled": 1, "still_paused": 0}
    assert "cancelled 1" in r.stderr
    assert await status_of(service, room, inside) == "withdrawn"


async def test_errors_map_to_exit_codes(service, room):
    brand = ["--brand", room.brand["id"]]
    r = crisis(service, "declare", "--reason", "x", *brand, token="sgv_" + "x" * 40)
    assert r.returncode == 3 and "unauthenticated" in r.stderr, r.stderr
    reader = (await service.api.ok("POST", "/v1/tokens", {"service_name": "dashboard", "scopes": ["posts:read"]}))
    r = crisis(service, "declare", "--reason", "x", *brand, token=reader["token"])
    assert r.returncode == 3 and "insufficient-scope" in r.stderr, r.stderr

    dead = f"http://127.0.0.1:{free_port()}"
    r = crisis(service, "declare", "--reason", "x", *brand, "--retries", "1", url=dead)
    assert r.returncode == 5 and "nothing was declared" in r.stderr, r.stderr
    r = crisis(service, "resolve", "00000000-0000-0000-0000-000000000001", "--retries", "0", url=dead)
    assert r.returncode == 5

    r = crisis(service, "declare", "--reason", "x", "--brand", "00000000-0000-0000-0000-000000000001")
    assert r.returncode == 4 and "#/scope/brand_ids/0" in r.stderr, r.stderr
    r = crisis(service, "declare", "--reason", "x", *brand, "--ends-at", later(hours=-1))
    assert r.returncode == 2 and "validation-error" in r.stderr, r.stderr
    r = crisis(service, "declare", "--reason", "x", *brand, "--account", room.account["id"])
    assert r.returncode == 2 and "not both" in r.stderr
    r = crisis(service, "declare", "--reason", "x", "--severity", "9")
    assert r.returncode == 2
    r = crisis(service, "resolve", "00000000-0000-0000-0000-000000000001")
    assert r.returncode == 4 and "crisis-not-found" in r.stderr, r.stderr
    r = crisis(service, "resolve", "00000000-0000-0000-0000-000000000001", "--resolution", "ignore")
    assert r.returncode == 2
    assert await crises_on(service, room.brand) == []


class FlakyProxy:
    """Forwards requests to the service, but for the first ``drop`` POSTs it closes the
    connection instead of answering — after the service did the work: a lost response."""

    def __init__(self, upstream: str, drop: int):
        self.upstream, self.drop, self.posts = upstream, drop, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            first, *lines = head.decode("latin-1").split("\r\n")
            method, path, _ = first.split(" ", 2)
            headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines]
            length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
            while len(body) < length:
                body += conn.recv(65536)
            forward = [(k, v) for k, v in headers if k.lower() not in ("host", "content-length", "connection")]
            r = httpx.request(method, self.upstream + path, headers=forward, content=body, timeout=60)
            if method == "POST":
                self.posts += 1
                if self.drop > 0:
                    self.drop -= 1
                    return  # the service answered; the caller never hears it
            keep = "".join(f"{k}: {v}\r\n" for k, v in r.headers.items()
                           if k.lower() not in ("content-length", "connection", "transfer-encoding",
                                                "content-encoding"))
            conn.sendall(f"HTTP/1.1 {r.status_code} {r.reason_phrase}\r\n{keep}content-length: {len(r.content)}"
                         f"\r\nconnection: close\r\n\r\n".encode("latin-1") + r.content)


async def test_lost_responses_are_retried_without_declaring_or_resolving_twice(service, room):
    post = await scheduled(service, room, "Weekend brunch menu")
    proxy = FlakyProxy(service.base, drop=1)
    try:
        r = crisis(service, "declare", "--reason", "outage", "--brand", room.brand["id"], url=proxy.url)
        assert r.returncode == 0, r.stderr
        assert "retrying" in r.stderr and proxy.posts == 2
        cid = crisis_id(r.stdout)
        assert "paused 1 scheduled post" in r.stdout and "already declared" not in r.stdout
        assert [c["id"] for c in await crises_on(service, room.brand)] == [cid]
        assert await status_of(service, room, post) == "paused"

        proxy.drop = 1
        r = crisis(service, "resolve", cid, url=proxy.url)
        assert r.returncode == 0, r.stderr
        assert "retrying" in r.stderr and f"crisis {cid} resolved (review): review 1" in r.stdout
        assert await status_of(service, room, post) == "in_review"
    finally:
        proxy.close()


class Canned:
    """An HTTP server that answers every request the same way: a proxy's 502 page, an SSO
    login page answering 200, a JSON body that is not socialgov's."""

    def __init__(self, status: int, body: bytes, content_type: str):
        answer = (status, body, content_type)

        class Handler(http.server.BaseHTTPRequestHandler):
            def _reply(self):
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                self.send_response(answer[0])
                self.send_header("content-type", answer[2])
                self.send_header("content-length", str(len(answer[1])))
                self.end_headers()
                self.wfile.write(answer[1])

            do_GET = do_POST = _reply

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_answers_that_are_not_socialgovs_exit_5_with_the_key(service, room):
    bad_gateway = Canned(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
    login_page = Canned(200, b"<html><form>Sign in</form></html>", "text/html")
    other_json = Canned(201, b'{"ok": true}', "application/json")
    try:
        # A proxy answering 502 after the service may have committed: the key lets the operator retry safely.
        r = crisis(service, "declare", "--reason", "x", "--retries", "1", "--idempotency-key", "incident-77",
                   url=bad_gateway.url)
        assert r.returncode == 5 and "--idempotency-key incident-77" in r.stderr, r.stderr
        for target in (login_page, other_json):
            r = crisis(service, "declare", "--reason", "x", "--idempotency-key", "incident-78", url=target.url)
            assert r.returncode == 5, r.stderr
            assert "unexpected answer" in r.stderr and "--idempotency-key incident-78" in r.stderr, r.stderr
            assert "Traceback" not in r.stderr
        r = crisis(service, "resolve", "00000000-0000-0000-0000-000000000001", url=login_page.url)
        assert r.returncode == 5 and "unexpected answer" in r.stderr and "Traceback" not in r.stderr, r.stderr
        r = crisis(service, "list", url=other_json.url)
        assert r.returncode == 5 and "unexpected answer" in r.stderr and "Traceback" not in r.stderr, r.stderr
    finally:
        for s in (bad_gateway, login_page, other_json):
            s.close()


# --- control characters, wrong base URLs ------------------------------------------------------

FORGED = "00000000-0000-0000-0000-00000000dead  active     severity 1  since 2026-01-01  paused 0  all clear"


async def test_a_reason_that_forges_a_line_is_refused_by_the_service(service, room):
    r = crisis(service, "declare", "--reason", f"recall\n{FORGED}", "--brand", room.brand["id"])
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "validation-error" in r.stderr and "#/reason" in r.stderr, r.stderr
    assert "U+000A LF at position 6" in r.stderr, r.stderr
    for reason in (f"recall\r{FORGED}", "recall \x1b[2K", "Sale \u202egnirts"):
        r = crisis(service, "declare", "--reason", reason, "--brand", room.brand["id"])
        assert r.returncode == 2 and "#/reason" in r.stderr, r.stderr
    assert await crises_on(service, room.brand) == []


async def test_stored_control_characters_are_printed_escaped(service, room):
    made = await service.api.ok("POST", "/v1/crises", {"scope": {"brand_ids": [room.brand["id"]]},
                                                       "reason": "placeholder"})
    # A row written before the service refused control characters.
    stored = f"recall\r\x1b[2K\u202eevil\t\x85\n{FORGED}"
    engine = create_engine(service.database, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE crises SET reason = :r WHERE id = :id"), {"r": stored, "id": made["id"]})
    finally:
        await engine.dispose()

    r = crisis(service, "list")
    assert r.returncode == 0, r.stderr
    assert not any(line.startswith(FORGED[:36]) for line in r.stdout.splitlines()), r.stdout
    [row] = [line for line in r.stdout.splitlines() if line.startswith(made["id"])]
    assert row.endswith(r"recall\r\x1b[2K\u202eevil\t\x85\n" + FORGED[:80 - 19]), row
    assert not any(char in r.stdout for char in "\r\x1b\u202e\t\x85"), r.stdout
    r = crisis(service, "list", "--json")  # exact JSON: the reason as stored
    [item] = [c for c in json.loads(r.stdout)["items"] if c["id"] == made["id"]]
    assert item["reason"] == stored
    r = crisis(service, "resolve", made["id"], "--resolution", "cancel", "--note", "first line\nsecond line")
    assert r.returncode == 0, r.stderr
    got = await service.api.ok("GET", f"/v1/crises/{made['id']}")
    assert got["resolution_note"] == "first line\nsecond line"


async def test_problem_details_are_printed_escaped():
    problem = {"type": PROBLEM_BASE + "crisis-already-resolved", "title": "Already resolved", "status": 409,
               "code": "crisis-already-resolved", "detail": f"resolved\n{FORGED}", "resolution": "x\r\x1b[1A"}
    canned = Canned(409, json.dumps(problem).encode(), "application/problem+json")
    try:
        r = crisis(None, "resolve", "00000000-0000-0000-0000-000000000001", "--json", token="sgv_" + "x" * 40,
                   url=canned.url)
        assert r.returncode == 4, r.stderr
        assert f"resolved\\n{FORGED}" in r.stderr and "resolution: x\\r\\x1b[1A" in r.stderr, r.stderr
        assert len(r.stderr.splitlines()) == 2 and "\x1b" not in r.stderr, r.stderr
        assert json.loads(r.stdout) == problem  # --json stays exact
    finally:
        canned.close()


async def test_a_wrong_base_url_exits_6_and_says_so(service, room):
    brand = ["--brand", room.brand["id"]]
    wrong = service.base + "/wrong-prefix"
    for args in (["declare", "--reason", "x", *brand], ["resolve", "00000000-0000-0000-0000-000000000001"],
                 ["list"]):
        r = crisis(service, *args, url=wrong)
        assert r.returncode == 6, (args, r.returncode, r.stderr)
        assert f"{wrong} is not a socialgov service" in r.stderr and "route-not-found" in r.stderr, r.stderr
    html_404 = Canned(404, b"<html><body>Not Found</body></html>", "text/html")
    json_404 = Canned(404, b'{"error": "not found"}', "application/json")
    other_problem = Canned(404, b'{"type": "about:blank", "title": "Not Found", "status": 404}',
                           "application/problem+json")
    plain_405 = Canned(405, b"Method Not Allowed", "text/plain")
    try:
        for server in (html_404, json_404, other_problem, plain_405):
            for args in (["declare", "--reason", "x", *brand, "--idempotency-key", "incident-90"],
                         ["resolve", "00000000-0000-0000-0000-000000000001"], ["list"]):
                r = crisis(service, *args, url=server.url)
                assert r.returncode == 6, (server.url, args, r.returncode, r.stderr)
                assert f"{server.url} is not a socialgov service" in r.stderr, r.stderr
                assert "not a socialgov problem" in r.stderr and "Traceback" not in r.stderr, r.stderr
    finally:
        for server in (html_404, json_404, other_problem, plain_405):
            server.close()
    assert await crises_on(service, room.brand) == []
    # socialgov's own 404 about an object is still "not found".
    r = crisis(service, "resolve", "00000000-0000-0000-0000-000000000001")
    assert r.returncode == 4 and "crisis-not-found" in r.stderr, r.stderr
    r = crisis(service, "declare", "--reason", "x", "--brand", "00000000-0000-0000-0000-000000000001")
    assert r.returncode == 4 and "#/scope/brand_ids/0" in r.stderr, r.stderr


def test_the_cli_knows_the_problem_type_base():
    assert crisis_cli.PROBLEM_BASE == PROBLEM_BASE
