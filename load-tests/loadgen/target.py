"""What the load runs against: the real server (started here or already running) or a bare
broadcast baseline, plus the agent users and bearer tokens the connections log in with."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

LOAD_TESTS = Path(__file__).resolve().parent.parent
REPO = LOAD_TESTS.parent
AGENT_PASSWORD = "load-test-agent-password"  # the load agents' password (loopback test servers)
MAX_GRANTS = 490  # an account takes at most 500 authorized users


class SetupError(RuntimeError):
    """The target could not be started or prepared."""


@dataclass
class Target:
    name: str  # "server", "python-baseline", "node-baseline"
    kind: str  # "server" or "baseline"
    url: str
    account_id: str = "baseline"
    channel_token: str = "baseline"
    pid: int | None = None
    tokens: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)  # the agents, authorized on every account
    users_note: str = ""
    process: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    log_path: Path | None = None
    owns_workdir: bool = False

    def stop(self) -> None:
        """Stop what we started: SIGTERM, then SIGKILL after 15 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        if self.owns_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_loopback(url: str) -> None:
    """Load goes to this machine only."""
    host = httpx.URL(url).host
    if host not in {"127.0.0.1", "localhost", "::1"} and not host.startswith("127."):
        raise SetupError(f"refusing to load {host}: only loopback targets (127.0.0.0/8, ::1)")


def _wait_ready(
    url: str, process: subprocess.Popen[bytes] | None, path: str, timeout: float
) -> None:
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise SetupError(f"{url}: the process exited with {process.returncode}")
        try:
            response = httpx.get(f"{url}{path}", timeout=2.0)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise SetupError(f"{url}{path} not ready after {timeout:.0f} s ({last})")


def start_server(keep_data: bool = False, data_dir: Path | None = None) -> Target:
    """`python -m server --demo --no-simulator` on a free port with a fresh data dir."""
    owns = data_dir is None
    workdir = Path(tempfile.mkdtemp(prefix="conv-load-")) if data_dir is None else data_dir
    data = workdir / "data"
    port = free_port()
    log_path = workdir / "server.log"
    env = dict(os.environ, CONV_LOG_LEVEL="warning")
    command = [
        sys.executable, "-m", "server", "--demo", "--no-simulator",
        "--data-dir", str(data), "--port", str(port), "--host", "127.0.0.1",
    ]  # fmt: skip
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    target = Target(
        name="server",
        kind="server",
        url=url,
        pid=process.pid,
        process=process,
        workdir=workdir,
        log_path=log_path,
        owns_workdir=owns and not keep_data,
    )
    try:
        _wait_ready(url, process, "/readyz", 60)
        credentials = data / "demo-credentials.json"
        deadline = time.time() + 30
        while not credentials.exists() and time.time() < deadline:
            time.sleep(0.1)
        if not credentials.exists():
            raise SetupError(f"{credentials} was not written")
    except BaseException:
        tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
        target.stop()
        raise SetupError(f"the server did not start:\n{tail}") from None
    return target


def start_baseline(kind: str, pad: int) -> Target:
    """A bare broadcast server: `python` (aiohttp + python-socketio) or `node` (socket.io 4)."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"conv-load-{kind}-"))
    log_path = workdir / "baseline.log"
    if kind == "python":
        command = [
            sys.executable, str(LOAD_TESTS / "baselines" / "bare_socketio.py"),
            "--port", str(port), "--pad", str(pad),
        ]  # fmt: skip
        cwd = LOAD_TESTS
    elif kind == "node":
        node_dir = LOAD_TESTS / "baselines" / "node"
        ensure_node_modules(node_dir)
        command = ["node", str(node_dir / "server.js"), "--port", str(port), "--pad", str(pad)]
        cwd = node_dir
    else:
        raise SetupError(f"unknown baseline {kind}")
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    target = Target(
        name=f"{kind}-baseline",
        kind="baseline",
        url=url,
        pid=process.pid,
        process=process,
        workdir=workdir,
        log_path=log_path,
        owns_workdir=True,
        users_note="baseline: no authentication",
    )
    try:
        _wait_ready(url, process, "/healthz", 30)
    except BaseException:
        tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
        target.stop()
        raise SetupError(f"the {kind} baseline did not start:\n{tail}") from None
    return target


def ensure_node_modules(node_dir: Path) -> None:
    if (node_dir / "node_modules" / "socket.io").is_dir():
        return
    if shutil.which("npm") is None:
        raise SetupError("npm is not installed: the node baseline needs node and npm")
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=node_dir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise SetupError(f"npm ci failed in {node_dir}:\n{result.stderr[-2000:]}")


def read_credentials(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def server_credentials(target: Target, credentials_path: Path | None) -> dict[str, Any]:
    if credentials_path is None and target.workdir is not None:
        credentials_path = target.workdir / "data" / "demo-credentials.json"
    if credentials_path is None:
        raise SetupError("--url needs --credentials (the server's demo-credentials.json)")
    credentials = read_credentials(credentials_path)
    target.account_id = credentials["api_channel"]["account_id"]
    target.channel_token = credentials["api_channel"]["token"]
    return credentials


async def _token(http: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await http.post("/api/tokens", json={"email": email, "password": password})
    if response.status_code != 200:
        raise SetupError(f"login {email}: {response.status_code} {response.text[:200]}")
    data: dict[str, Any] = response.json()
    return data


async def prepare_agents(
    target: Target, credentials: dict[str, Any], users: int, prefix: str = "load-agent"
) -> None:
    """Create `users` agents (admin API), authorize them on the API account, log each in.

    Falls back to the demo agents' own logins (several connections per user) when the users
    API is missing or refuses.
    """
    users = max(1, min(users, MAX_GRANTS))
    async with httpx.AsyncClient(base_url=target.url, timeout=60.0) as http:
        admin = await _token(http, credentials["admin"]["email"], credentials["admin"]["password"])
        headers = {"Authorization": f"Bearer {admin['token']}"}
        gate = asyncio.Semaphore(4)
        emails = [f"{prefix}-{i}@load.test" for i in range(users)]

        async def create(email: str) -> str:
            async with gate:
                body = {"email": email, "name": email.split("@")[0], "role": "agent",
                        "password": AGENT_PASSWORD}  # fmt: skip
                response = await http.post("/api/users", json=body, headers=headers)
                if response.status_code in (200, 201):
                    return "created"
                if response.status_code in (400, 409) and "exist" in response.text.lower():
                    return "exists"
                return f"{response.status_code} {response.text[:160]}"

        outcomes = await asyncio.gather(*(create(e) for e in emails))
        # A refusal we did not recognize (e.g. the user exists already) is settled by login.
        refused = [o for o in outcomes if o not in ("created", "exists")]

        async def login(email: str) -> dict[str, Any] | None:
            async with gate:
                with contextlib.suppress(SetupError):
                    return await _token(http, email, AGENT_PASSWORD)
                return None

        logins = [x for x in await asyncio.gather(*(login(e) for e in emails)) if x]
        if not logins:
            demo = [await _token(http, a["email"], a["password"]) for a in credentials["agents"]]
            target.tokens = [d["token"] for d in demo]
            target.user_ids = [d["user"]["id"] for d in demo]
            target.users_note = (
                f"users API refused ({refused[:1]}): reusing the {len(demo)} demo agents' logins"
            )
            return
        response = await http.get(f"/api/accounts/{target.account_id}", headers=headers)
        if response.status_code != 200:
            raise SetupError(f"GET account: {response.status_code} {response.text[:200]}")
        grants: list[dict[str, Any]] = response.json()["account"]["authorized"]
        known = {g["user_id"] for g in grants}
        added = [{"user_id": x["user"]["id"]} for x in logins if x["user"]["id"] not in known]
        if added:
            response = await http.patch(
                f"/api/accounts/{target.account_id}",
                json={"authorized": grants + added},
                headers=headers,
            )
            if response.status_code != 200:
                raise SetupError(f"PATCH account: {response.status_code} {response.text[:200]}")
        target.tokens = [x["token"] for x in logins]
        target.user_ids = [x["user"]["id"] for x in logins]
        created = outcomes.count("created")
        target.users_note = (
            f"{len(logins)} agent users ({created} created through POST /api/users, "
            f"{len(added)} newly authorized on the account)"
        )
