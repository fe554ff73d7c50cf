"""Shared test helpers (moved out of test modules: no test module imports another)."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra) -> dict:
    e = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SOCIALGOV_BOOTSTRAP_TOKEN")}
    e.update(extra)
    return e


async def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as c:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "exited"
            try:
                if (await c.get(url + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("service did not become healthy")


def stop(proc) -> None:
    """SIGTERM (a graceful shutdown), then kill if it does not end within 30 s."""
    import signal
    import subprocess

    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
