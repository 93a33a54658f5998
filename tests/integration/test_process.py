"""The server as an operator runs it: a real process, signals, health endpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.fixtures.services import free_port


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            if _get(f"{url}/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server never became ready")


def test_demo_process_serves_then_drains_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CONV_LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server",
            "--demo",
            "--no-simulator",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        status, health = _get(f"{url}/healthz")
        assert status == 200 and health["status"] == "alive"
        status, ready = _get(f"{url}/readyz")
        assert ready["store"] is True and ready["actors"] is True
        credentials = json.loads((tmp_path / "demo-credentials.json").read_text())
        assert credentials["admin"]["email"] == "admin@demo.test"
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0
    stdout = process.stdout.read().decode() if process.stdout else ""
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert "alice@demo.test / demo-alice" in stdout  # credentials printed for the newcomer
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(line.get("event") == "server.stopped" for line in lines)
    # The demo channel token and password hashes never reach the logs.
    assert credentials["api_channel"]["token"] not in stderr + stdout
    assert "argon2" not in stderr


def test_data_survives_a_restart(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        sys.executable,
        "-m",
        "server",
        "--demo",
        "--no-simulator",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path),
    ]
    counts = []
    for _ in range(2):
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_ready(url, process)
            credentials = json.loads((tmp_path / "demo-credentials.json").read_text())
            request = urllib.request.Request(
                f"{url}/api/tokens",
                data=json.dumps(credentials["admin"]).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                token = json.loads(response.read())["token"]
            listing = urllib.request.Request(
                f"{url}/api/conversations?limit=200", headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(listing, timeout=5) as response:
                counts.append(len(json.loads(response.read())["conversations"]))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
    assert counts[0] > 0
    assert counts == [counts[0], counts[0]]  # reseeding did not duplicate, nothing was lost
