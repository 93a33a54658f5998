"""Smoke test of the load-test runner: a few seconds at tiny scale against a server it starts.

Checks that the runner works end to end and that its report is sane (every message delivered
to every agent exactly once, no seq gaps); no wall-clock assertions.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "load-tests" / "run.py"
NODE_CLIENT = REPO / "load-tests" / "clients" / "node"


def test_runner_steady_tiny(tmp_path: Path) -> None:
    command = [
        sys.executable, str(RUNNER), "--start", "--scenario", "steady",
        "--agents", "4", "--users", "2", "--procs", "2", "--rate", "10", "--duration", "3",
        "--reply-rate", "2", "--grace", "8", "--max-runtime", "150",
        "--results-dir", str(tmp_path), "--tag", "smoke",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=200, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reports = list(tmp_path.glob("steady-*-smoke.json"))
    assert len(reports) == 1, list(tmp_path.iterdir())
    assert reports[0].with_suffix(".md").exists()
    run = json.loads(reports[0].read_text())
    assert run["scenario"] == "steady"
    assert run["client_processes"] == 2
    (result,) = run["results"]
    assert result["target"] == "server"
    assert result["connect"] == {**result["connect"], "connected": 4, "failed": 0}
    traffic = result["traffic"]
    assert traffic["sent"] == 30
    assert traffic["accepted"] == 30
    assert traffic["http_errors"] == 0
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["seq_gaps"] == 0
    assert result["out_of_order"] == 0
    assert result["unexpected_disconnects"] == 0
    # Every accepted inbound message and every acked reply reached all 4 agents.
    replies_ok = result["replies"].get("ok", 0)
    assert result["expected_deliveries"] == 4 * (30 + replies_ok)
    assert result["delivered_events"] == result["expected_deliveries"]
    inbound = result["latency_ms"]["inbound"]
    assert inbound["count"] == 4 * 30
    assert 0 < inbound["p50"] <= inbound["p99"] <= inbound["max"]
    assert result["server"]["rss_rest_mb"] > 0
    assert result["server"]["cpu_mean"] is not None
    assert len(result["generator"]["workers"]) == 2
    assert result["latency_timeline"]


def _run_tiny(tmp_path: Path, tag: str, *extra: str) -> dict[str, Any]:
    command = [
        sys.executable, str(RUNNER), "--start", "--scenario", "steady",
        "--agents", "4", "--users", "2", "--procs", "2", "--rate", "10", "--duration", "3",
        "--grace", "8", "--max-runtime", "150", "--results-dir", str(tmp_path), "--tag", tag,
        *extra,
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=200, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (report,) = tmp_path.glob(f"steady-*-{tag}.json")
    run: dict[str, Any] = json.loads(report.read_text())
    return run


def test_runner_cloud_webhook_intake(tmp_path: Path) -> None:
    """Inbound traffic as signed WhatsApp Cloud API webhooks into an account the runner made."""
    run = _run_tiny(tmp_path, "cloud", "--intake", "cloud")
    assert run["intake"] == "cloud"
    (result,) = run["results"]
    intake = result["intake"]
    assert intake["mode"] == "cloud"
    (path,) = intake["paths"]
    assert path["intake"] == "cloud"
    assert path["endpoint"].endswith(f"/channels/whatsapp/{path['account_id']}/webhook")
    assert intake["http_status"] == {"cloud": {"200": 30}}
    assert intake["http_errors"] == {"cloud": 0}
    # Every message reached every agent, and through the WhatsApp account only.
    assert intake["delivered_inbound"] == {"cloud": 4 * 30}
    assert result["traffic"]["accepted"] == 30
    assert result["expected_deliveries"] == 4 * 30
    assert result["delivered_events"] == 4 * 30
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["seq_gaps"] == 0


@pytest.mark.skipif(
    shutil.which("node") is None
    or (
        not (NODE_CLIENT / "node_modules" / "socket.io-client").is_dir()
        and shutil.which("npm") is None
    ),
    reason="--client node needs node, and npm unless scripts/install.sh installed "
    "load-tests/clients/node/node_modules",
)
def test_runner_node_client(tmp_path: Path) -> None:
    """The Node socket.io-client agents report the same figures as the Python ones."""
    run = _run_tiny(tmp_path, "node", "--client", "node", "--intake", "mix", "--reply-rate", "2")
    assert run["client"] == "node"
    (result,) = run["results"]
    assert result["connect"] == {**result["connect"], "connected": 4, "failed": 0}
    assert result["intake"]["http_errors"] == {"api": 0, "cloud": 0, "twilio": 0}
    assert result["intake"]["delivered_inbound"] == {"api": 40, "cloud": 40, "twilio": 40}
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["seq_gaps"] == 0
    assert result["out_of_order"] == 0
    replies_ok = result["replies"].get("ok", 0)
    assert result["expected_deliveries"] == 4 * (30 + replies_ok)
    assert result["delivered_events"] == result["expected_deliveries"]
    assert 0 < result["latency_ms"]["inbound"]["p50"] <= result["latency_ms"]["inbound"]["max"]
    cost = result["generator"]["cost"]
    assert cost["client"] == "node"
    assert cost["client_cpu_ms_per_1000_events"] > 0
    assert len(result["generator"]["workers"]) == 2
