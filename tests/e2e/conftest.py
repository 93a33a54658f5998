"""Fixtures for the browser tests: the real server as a subprocess, the demo's API channel,
and headless Chromium (Debian's /usr/bin/chromium, driven by Playwright's sync API).

The server fixture can stop the process and start it again on the same port and data dir,
which is how the reconnect test takes the server away for a few seconds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CONV_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "docs" / "screenshots"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


@dataclass
class ServerProcess:
    """`python -m server --demo --no-simulator` on a fixed port and data dir."""

    port: int
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    credentials: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 45.0) -> None:
        assert self.proc is None, "already running"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                _python(),
                "-m",
                "server",
                "--demo",
                "--no-simulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"server not ready after {timeout}s:\n{self.tail()}")
        path = self.data_dir / "demo-credentials.json"
        self.credentials = json.loads(path.read_text())

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def restart_after(self, pause: float) -> None:
        """Stop, stay down for `pause` seconds, start again on the same port and data."""
        self.stop()
        time.sleep(pause)
        self.start()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # ---------------------------------------------------------------- demo credentials
    @property
    def admin(self) -> dict[str, str]:
        return dict(self.credentials["admin"])

    def agent(self, name: str) -> dict[str, str]:
        for agent in self.credentials["agents"]:
            if agent["email"].startswith(name.lower() + "@"):
                return dict(agent)
        raise KeyError(name)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    if not (ROOT / "web-client" / "dist" / "index.html").exists():
        pytest.fail("web-client/dist is missing: run `npm run build` in web-client/")
    base = tmp_path_factory.mktemp("web-client-e2e")
    srv = ServerProcess(port=_free_port(), data_dir=base / "data", log_path=base / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@dataclass
class Inbound:
    """Posts customer messages through the demo's API channel door."""

    server: ServerProcess
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0))

    def __call__(
        self,
        sender_id: str,
        text: str = "",
        *,
        name: str | None = None,
        html: str | None = None,
        message_id: str | None = None,
    ) -> str:
        channel = self.server.credentials["api_channel"]
        body: dict[str, Any] = {
            "message_id": message_id or f"e2e-{uuid.uuid4().hex}",
            "from": {"id": sender_id, "name": name or sender_id},
        }
        if text:
            body["text"] = text
        if html is not None:
            body["html"] = html
        response = self.http.post(
            f"{self.server.url}/channels/api/{channel['account_id']}/messages",
            json=body,
            headers={"Authorization": f"Bearer {channel['token']}"},
        )
        assert response.status_code in (200, 201), response.text
        return str(response.json()["conversation_id"])

    def status(self, message_id: str, status: str, reason: str = "") -> None:
        """Report a delivery status for an outbound message, as the external system would."""
        channel = self.server.credentials["api_channel"]
        response = self.http.post(
            f"{self.server.url}/channels/api/{channel['account_id']}/statuses",
            json={"message_id": message_id, "status": status, "reason": reason},
            headers={"Authorization": f"Bearer {channel['token']}"},
        )
        assert response.status_code < 300, response.text

    def conversation_count(self) -> int:
        """How many conversations the admin sees (all tabs, all statuses), up to 200."""
        admin = self.server.admin
        token = self.http.post(f"{self.server.url}/api/tokens", json=admin).json()["token"]
        response = self.http.get(
            f"{self.server.url}/api/conversations?tab=all&limit=200",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        return len(response.json()["conversations"])


@pytest.fixture
def api_inbound(demo_server: ServerProcess) -> Iterator[Inbound]:
    poster = Inbound(demo_server)
    try:
        yield poster
    finally:
        poster.http.close()


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is not installed: run scripts/install.sh")
    from playwright import sync_api

    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the tests save their screenshots: docs/screenshots/ when CONV_SCREENSHOTS=1
    (to refresh the committed pictures), else a temp dir so a test run leaves the tree clean."""
    target = SCREENSHOTS if os.environ.get("CONV_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    return target
