"""The webhook connector only talks to public gateways (unless private ones are allowed),
checks every resolved address again at send time, never follows redirects, and never
echoes what a gateway answered back to callers."""
from __future__ import annotations

import ipaddress
import json

import pytest
from sqlalchemy import text
from starlette.responses import PlainTextResponse, Response

from app.publishing import jobs as publishing
from tests.support.posts import person
from tests.support.publishing import (  # noqa: F401 - fixtures
    SECRET,
    approved,
    gateway,
    local_gateway,
    make_due,
    scheduled,
    use_webhook,
)

REFUSED_URLS = [
    "http://127.0.0.1/publish",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://10.0.0.1/publish",
    "http://192.168.1.10/publish",
    "http://100.64.0.1/publish",
    "http://[::1]/publish",
    "http://[::ffff:127.0.0.1]/publish",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://2130706433/publish",
    "http://0x7f.1/publish",
    "http://localhost:8080/publish",
    "http://0.0.0.0/publish",
    "https://user:hunter2@gateway.example.com/publish",
]


async def put_webhook(api, account_id, url):
    return await api.client.put(f"/v1/accounts/{account_id}/connector", headers=api.h(),
                                json={"kind": "webhook", "url": url, "secret": SECRET, "timeout_seconds": 1})


async def insert_connector(session, account_id, url, max_attempts=5):
    """What a name that resolved to a public address at configuration time looks like once it
    resolves to loopback: the row is there, the configuration check is behind us."""
    await session.execute(text(
        "INSERT INTO account_connectors (account_id, kind, url, secret, timeout_seconds, max_attempts, version) "
        "VALUES (:a, 'webhook', :u, :s, 1, :m, 1)"), {"a": account_id, "u": url, "s": SECRET, "m": max_attempts})
    await session.commit()


async def post_view(api, flow, post):
    return (await api.get(f"/v1/posts/{post['id']}", token=flow.room.author.token)).json()


async def audit_of(api, post):
    return (await api.get("/v1/audit", subject_id=post["id"])).json()["items"]


@pytest.mark.usefixtures("refuse_private")
class TestConfigurationRefusesInternalDestinations:
    @pytest.mark.parametrize("url", REFUSED_URLS)
    async def test_refused_with_a_problem_at_url(self, api, flow, url):
        acc = flow.room.account["id"]
        r = await put_webhook(api, acc, url)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        doc = r.json()
        assert doc["code"] == "connector-destination-refused"
        assert doc["errors"][0]["pointer"] == "#/url"
        assert "hunter2" not in r.text
        got = (await api.get(f"/v1/accounts/{acc}/connector")).json()
        assert got["kind"] == "log" and got["version"] == 0

    async def test_the_detail_names_the_reason(self, api, flow):
        r = await put_webhook(api, flow.room.account["id"], "http://169.254.169.254/latest/meta-data/")
        assert "169.254.169.254 is a cloud metadata address" in r.json()["detail"]
        r = await put_webhook(api, flow.room.account["id"], "http://2130706433/")
        assert "127.0.0.1 is a loopback address" in r.json()["detail"]

    async def test_a_public_address_is_accepted(self, api, flow):
        r = await put_webhook(api, flow.room.account["id"], "https://93.184.215.14/publish")
        assert r.status_code == 200, r.text


class TestPrivateDestinationsWhenAllowed:
    @pytest.mark.usefixtures("allow_private")
    async def test_loopback_is_accepted_when_allowed(self, api, flow):
        r = await put_webhook(api, flow.room.account["id"], "http://127.0.0.1:9/publish")
        assert r.status_code == 200, r.text

    @pytest.mark.usefixtures("allow_private")
    async def test_metadata_stays_refused_even_when_private_is_allowed(self, api, flow):
        r = await put_webhook(api, flow.room.account["id"], "http://169.254.169.254/latest/meta-data/")
        assert r.status_code == 422 and r.json()["code"] == "connector-destination-refused"

    async def test_a_name_is_sent_to_its_vetted_address_with_its_own_host_header(
            self, api, flow, maker, session, gateway):
        await use_webhook(api, flow.room.account["id"], f"http://localhost:{gateway.port}/publish")
        post = await scheduled(flow)
        await make_due(session, post["id"])
        await publishing.run_due(maker)
        assert (await post_view(api, flow, post))["status"] == "published"
        assert gateway.hosts == [f"localhost:{gateway.port}"]


@pytest.mark.usefixtures("refuse_private")
class TestSendTimeRefusal:
    async def test_the_scheduler_refuses_a_name_that_now_resolves_to_loopback(
            self, api, flow, maker, session, local_gateway):
        post = await scheduled(flow)
        await insert_connector(session, flow.room.account["id"], f"http://localhost:{local_gateway.port}/publish")
        await make_due(session, post["id"])
        await publishing.run_due(maker)
        assert local_gateway.received == []
        got = await post_view(api, flow, post)
        # refused is final: failed at once, not retried
        assert got["status"] == "failed" and got["publish_attempts"] == 1
        assert got["last_error"] == "gateway address refused: 127.0.0.1 is a loopback address"
        assert not [r for r in await audit_of(api, post) if r["action"] == "post.publish_retry"]

    async def test_manual_publish_to_a_refused_address_is_a_502(self, api, flow, session, local_gateway):
        post = await approved(flow)
        await insert_connector(session, flow.room.account["id"], f"http://2130706433:{local_gateway.port}/publish")
        r = await api.post(f"/v1/posts/{post['id']}/publish", token=flow.room.publisher.token)
        assert r.status_code == 502 and r.json()["code"] == "publish-failed"
        assert "gateway address refused: 127.0.0.1 is a loopback address" in r.json()["detail"]
        assert local_gateway.received == []
        assert (await post_view(api, flow, post))["status"] == "failed"


    async def test_a_name_that_does_not_resolve_is_accepted_then_retried(self, api, flow, maker, session):
        r = await put_webhook(api, flow.room.account["id"], "https://gateway.invalid/publish")
        assert r.status_code == 200, r.text  # not resolvable from here: every send checks it again
        post = await scheduled(flow)
        await make_due(session, post["id"])
        await publishing.run_due(maker)
        got = await post_view(api, flow, post)
        assert got["status"] == "publishing" and got["last_error"] == "gateway name did not resolve"


class TestGatewayAnswers:
    async def test_a_redirect_is_not_followed(self, api, flow, gateway):
        await use_webhook(api, flow.room.account["id"], gateway.url)
        gateway.respond_next = [Response(status_code=302, headers={
            "location": f"http://127.0.0.1:{gateway.port}/landing"})]
        post = await approved(flow)
        r = await api.post(f"/v1/posts/{post['id']}/publish", token=flow.room.publisher.token)
        assert r.status_code == 502 and r.json()["connector_status"] == 302
        assert gateway.landed == []
        got = await post_view(api, flow, post)
        assert got["status"] == "failed"
        assert got["last_error"] == "gateway answered 302 (redirects are not followed)"

    async def test_an_error_body_is_never_echoed(self, api, flow, maker, session, gateway):
        leak = "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        await use_webhook(api, flow.room.account["id"], gateway.url, max_attempts=2)
        gateway.respond_next = [PlainTextResponse(leak, status_code=500) for _ in range(3)]
        post = await scheduled(flow)
        await make_due(session, post["id"])
        await publishing.run_due(maker)  # 500 is retryable: a publish_retry record with the reason
        got = await post_view(api, flow, post)
        assert got["status"] == "publishing" and got["last_error"] == "gateway answered 500"
        await session.execute(text("UPDATE posts SET next_attempt_at = now() - interval '1 ms' WHERE id = :i"),
                              {"i": post["id"]})
        await session.commit()
        await publishing.run_due(maker)  # the last attempt: failed, with the reason
        assert (await post_view(api, flow, post))["status"] == "failed"
        r = await api.post(f"/v1/posts/{post['id']}/publish", token=flow.room.publisher.token)
        assert r.status_code == 502
        assert r.json()["detail"] == "The webhook connector did not publish: gateway answered 500."
        assert len(gateway.received) == 3
        records = await audit_of(api, post)
        assert {r["action"] for r in records} >= {"post.publish_retry", "post.publish_failed"}
        seen = [r.text, json.dumps(await post_view(api, flow, post)), json.dumps(records),
                (await session.execute(text("SELECT last_error FROM posts WHERE id = :i"),
                                       {"i": post["id"]})).scalar()]
        for where in seen:
            assert "wJalrXUtnFEMI" not in where and "aws_secret" not in where


class TestWhoSeesTheConnector:
    async def test_a_publisher_sees_the_kind_and_host_but_no_url_and_no_secret(self, api, flow):
        acc = flow.room.account["id"]
        url = "https://93.184.215.14/publish/tok_3f9a1c"
        r = await put_webhook(api, acc, url)
        assert r.status_code == 200, r.text
        r = await api.get(f"/v1/accounts/{acc}/connector", token=flow.room.publisher.token)
        assert r.status_code == 200
        doc = r.json()
        assert doc["kind"] == "webhook" and doc["url"] is None and doc["url_host"] == "93.184.215.14"
        assert doc["secret"] is None and doc["has_secret"] is True
        assert "tok_3f9a1c" not in r.text and SECRET not in r.text

    async def test_account_admins_and_admins_see_the_url_but_never_the_secret(self, api, flow):
        acc = flow.room.account["id"]
        url = "https://93.184.215.14/publish/tok_3f9a1c"
        assert (await put_webhook(api, acc, url)).status_code == 200
        account_admin = await person(api, "account_admin", account_id=acc)
        for token in (account_admin.token, None):
            r = await api.get(f"/v1/accounts/{acc}/connector", token=token)
            assert r.status_code == 200
            assert r.json()["url"] == url and r.json()["url_host"] == "93.184.215.14"
            assert SECRET not in r.text and r.json()["secret"] is None

    async def test_a_contributor_cannot_read_it(self, api, flow):
        r = await api.get(f"/v1/accounts/{flow.room.account['id']}/connector", token=flow.room.author.token)
        assert r.status_code == 403


REFUSED_ADDRESSES = [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"),
    ("169.254.169.254", "cloud metadata"), ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.0.1", "private"), ("fd12::1", "private"),
    ("100.64.0.1", "shared"), ("100.100.100.200", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("192.0.2.1", "private"),
    ("::ffff:127.0.0.1", "carries 127.0.0.1, a loopback"), ("::ffff:10.0.0.1", "private"), ("::ffff:169.254.169.254", "metadata"),
    ("2002:7f00:1::", "loopback"), ("2002:a9fe:a9fe::", "metadata"), ("64:ff9b::a00:1", "private"),
    ("::127.0.0.1", "reserved"),
]


class TestAddressRule:
    @pytest.mark.parametrize(("address", "why"), REFUSED_ADDRESSES)
    def test_refused(self, address, why):
        from app.publishing.connectors import DestinationRefused, check_address

        with pytest.raises(DestinationRefused, match=why):
            check_address(ipaddress.ip_address(address), allow_private=False)

    @pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
    def test_public_addresses_pass(self, address):
        from app.publishing.connectors import check_address

        check_address(ipaddress.ip_address(address), allow_private=False)

    @pytest.mark.parametrize(("url", "why"), [
        ("file:///etc/passwd", "only http and https"), ("gopher://93.184.215.14:70/", "only http and https"),
        ("http://u:p@93.184.215.14/", "user name or password"), ("http://@93.184.215.14/", "user name"),
        ("http:///publish", "no host|cannot be parsed"),
    ])
    async def test_send_time_refuses_other_schemes_and_userinfo(self, url, why):
        from app.publishing.connectors import DestinationRefused, vet_destination

        with pytest.raises(DestinationRefused, match=why):
            await vet_destination(url, allow_private=True, timeout=1)

    def test_allowed_private_still_refuses_metadata(self):
        from app.publishing.connectors import DestinationRefused, check_address

        check_address(ipaddress.ip_address("10.0.0.5"), allow_private=True)
        with pytest.raises(DestinationRefused, match="metadata"):
            check_address(ipaddress.ip_address("169.254.169.254"), allow_private=True)
