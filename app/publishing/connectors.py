"""Connectors: how a post leaves socialgov. One interface; ``log`` (default) and ``webhook``.

``log`` publishes by recording the exact content in the ``publications`` table (written by
the service in the same transaction as the post's new status). ``webhook`` POSTs the post to
a company publishing gateway, signed with Standard Webhooks headers; 2xx = published. The
``webhook-id`` is stable per post revision, so a gateway that dedupes on it (as the
standard asks) never publishes a retried delivery twice.

Where a webhook may go: only http(s) URLs without userinfo whose host resolves, every
address of it, to public addresses (``check_address``) unless private destinations are
allowed (``Settings.connector_allow_private``, a gateway on the same host or network); cloud
metadata addresses never. The check runs when the connector is configured and again at every
send, which then connects to the very address it vetted (the name goes in ``Host`` and, for
https, in SNI so the certificate is still verified against it): a name that re-resolves
between the check and the connect (DNS rebinding) cannot move the request elsewhere.
Redirects are never followed, and what a gateway answers never reaches callers: errors carry
the status only.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
# A 2xx body is read for its ``id`` only; a gateway cannot make us buffer more than this.
MAX_ANSWER_BYTES = 64 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata and platform endpoints: refused even where private destinations are allowed.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
    "169.254.170.2",    # AWS ECS task metadata
    "169.254.169.253",  # AWS DNS
    "169.254.169.123",  # AWS time
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",      # Oracle Cloud
    "168.63.129.16",    # Azure wireserver (a public address)
    "fd00:ec2::254",    # AWS IPv6
    "fd00:ec2::253",
))
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefused(ValueError):
    """A gateway URL, or an address its name resolves to, that socialgov does not send to.
    The message is a short reason ("10.0.0.5 is a private address"), safe to show."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo client, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: IPAddress) -> str | None:
    """What makes an address internal, or None for a public one."""
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.version == 4 and ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


def check_address(ip: IPAddress, *, allow_private: bool) -> None:
    """Raise DestinationRefused unless a webhook may connect to ``ip``."""
    ip = ipaddress.ip_address(str(ip).split("%", 1)[0])  # an IPv6 zone does not change the address
    inner = _embedded_ipv4(ip) if ip.version == 6 else None
    if inner is None:
        candidates: tuple[IPAddress, ...] = (ip,)
    elif ip.ipv4_mapped is not None:  # a socket to ::ffff:a.b.c.d is a socket to a.b.c.d
        candidates = (inner,)
    else:  # 6to4, Teredo, NAT64: a relay reaches the inner address; neither may be internal
        candidates = (inner, ip)
    for candidate in candidates:
        why = _kind(candidate)
        if why is None or (allow_private and candidate not in METADATA_ADDRESSES):
            continue
        if candidate is ip:
            raise DestinationRefused(f"{ip} is {why}")
        raise DestinationRefused(f"{ip} carries {candidate}, {why}")


@dataclass(frozen=True)
class Destination:
    url: httpx.URL
    host: str            # IDNA-encoded, lower case, for SNI; an IP literal without brackets
    literal: bool        # the URL names an address, not a host name
    addresses: tuple[IPAddress, ...]


def parse_gateway_url(url: str) -> tuple[httpx.URL, str, IPAddress | None]:
    """The URL, its host, and the address when the host is an IP literal. Refuses other
    schemes, userinfo and a missing host. Names are judged by what they resolve to, never by
    their spelling."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise DestinationRefused("the url cannot be parsed") from None
    if parsed.scheme not in ("http", "https"):
        raise DestinationRefused("only http and https urls are allowed")
    if parsed.userinfo or "@" in (urlsplit(url).netloc or ""):
        raise DestinationRefused("a url with a user name or password is not allowed")
    host = parsed.raw_host.decode("ascii").lower()
    if not host:
        raise DestinationRefused("the url has no host")
    try:
        literal = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None  # a name, or a numeric form only the resolver reads (2130706433, 0x7f.1)
    return parsed, host, literal


async def resolve(host: str, port: int, timeout: float) -> tuple[IPAddress, ...]:
    """Every address the system resolver gives for ``host`` (numeric forms such as
    ``2130706433`` or ``0x7f.1`` included), in its order. Raises OSError or TimeoutError."""
    infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), timeout)
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]), None)
    if not seen:
        raise OSError(f"{host} has no address")
    return tuple(seen)


async def vet_destination(url: str, *, allow_private: bool, timeout: float) -> Destination:
    """Parse, resolve and check every address. Raises DestinationRefused, or OSError /
    TimeoutError when the name does not resolve."""
    parsed, host, literal = parse_gateway_url(url)
    if literal is not None:
        addresses: tuple[IPAddress, ...] = (literal,)
    else:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        addresses = await resolve(host, port, timeout)
    for ip in addresses:
        check_address(ip, allow_private=allow_private)
    return Destination(parsed, host, literal is not None, addresses)


def url_host(url: str | None) -> str | None:
    """Just the host of a gateway URL (what publishers may see)."""
    if not url:
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


@dataclass(frozen=True)
class Outgoing:
    post_id: uuid.UUID
    account_id: uuid.UUID
    platform: str
    handle: str
    revision: int
    content_hash: str
    body: str
    link: str | None
    media: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    attempt: int = 1

    @property
    def message_id(self) -> str:
        return f"post_{self.post_id}_r{self.revision}"

    def payload(self, event: str) -> dict:
        data = {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in asdict(self).items()}
        return {"type": event, "data": data}


@dataclass(frozen=True)
class SendResult:
    ok: bool
    retryable: bool = False
    status: int | None = None
    external_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ConnectorConfig:
    kind: str = "log"
    url: str | None = None
    secret: str | None = None
    timeout_seconds: float = 10.0
    max_attempts: int = 5


class Connector(Protocol):
    kind: str

    async def send(self, out: Outgoing) -> SendResult: ...

    async def retract(self, out: Outgoing) -> SendResult: ...


class LogConnector:
    kind = "log"

    async def send(self, out: Outgoing) -> SendResult:
        return SendResult(ok=True, external_id=f"log:{out.message_id}")

    async def retract(self, out: Outgoing) -> SendResult:
        return SendResult(ok=True)


class WebhookConnector:
    kind = "webhook"

    def __init__(self, config: ConnectorConfig, *, allow_private: bool = False):
        assert config.url and config.secret
        self.url = config.url
        self.signer = Webhook(config.secret)
        self.timeout = config.timeout_seconds
        self.allow_private = allow_private

    async def _post(self, msg_id: str, payload: dict) -> SendResult:
        try:
            dest = await vet_destination(self.url, allow_private=self.allow_private, timeout=self.timeout)
        except DestinationRefused as exc:
            return SendResult(ok=False, retryable=False, error=f"gateway address refused: {exc}")
        except (OSError, TimeoutError, UnicodeError):
            return SendResult(ok=False, retryable=True, error="gateway name did not resolve")
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        now = datetime.now(UTC)
        headers = {
            "host": dest.url.netloc.decode("ascii"),
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.signer.sign(msg_id, now, body),
        }
        # TLS verifies the certificate against the name, while the socket goes to the address
        # that was checked: no second lookup an attacker's DNS could answer differently.
        extensions = {"sni_hostname": dest.host} if dest.url.scheme == "https" and not dest.literal else {}
        last: httpx.HTTPError | None = None
        # trust_env=False: no proxy from the environment (it would connect elsewhere) and no .netrc.
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False) as client:
            for ip in dest.addresses:
                try:
                    async with client.stream("POST", dest.url.copy_with(host=str(ip)), content=body.encode(),
                                             headers=headers, extensions=extensions) as r:
                        return await _answer(r)
                except httpx.ConnectError as exc:  # nothing was sent: the next address may answer
                    last = exc
                except httpx.TimeoutException:
                    return SendResult(ok=False, retryable=True, error=f"gateway timed out after {self.timeout}s")
                except httpx.HTTPError as exc:
                    return SendResult(ok=False, retryable=True, error=f"gateway unreachable: {type(exc).__name__}")
        return SendResult(ok=False, retryable=True, error=f"gateway unreachable: {type(last).__name__}")

    async def send(self, out: Outgoing) -> SendResult:
        return await self._post(out.message_id, out.payload("post.publish"))

    async def retract(self, out: Outgoing) -> SendResult:
        return await self._post(out.message_id + "_retract", out.payload("post.retract"))


async def _answer(r: httpx.Response) -> SendResult:
    """The outcome of a gateway's answer. Its body never leaves this function, except the
    ``id`` of a 2xx answer (the platform's id of the post)."""
    status = r.status_code
    if 200 <= status < 300:
        raw = b""
        async for chunk in r.aiter_bytes():
            raw += chunk
            if len(raw) > MAX_ANSWER_BYTES:
                raw = b""
                break
        external = None
        try:
            doc = json.loads(raw) if raw else None
            if isinstance(doc, dict) and doc.get("id") is not None:
                external = str(doc["id"])[:200]
        except ValueError:
            pass
        return SendResult(ok=True, status=status, external_id=external)
    if 300 <= status < 400:
        return SendResult(ok=False, retryable=False, status=status,
                          error=f"gateway answered {status} (redirects are not followed)")
    return SendResult(ok=False, retryable=status in RETRYABLE_STATUS, status=status,
                      error=f"gateway answered {status}")


def connector_for(config: ConnectorConfig, *, allow_private: bool = False) -> Connector:
    if config.kind == "webhook":
        return WebhookConnector(config, allow_private=allow_private)
    return LogConnector()


def backoff_seconds(attempt: int) -> float:
    """1, 2, 4, 8 ... seconds, capped at five minutes."""
    return float(min(300, 2 ** max(0, attempt - 1)))
