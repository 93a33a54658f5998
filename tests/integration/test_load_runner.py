"""Smoke test of the load-test runner: a few seconds at tiny scale against a server it starts.

Checks that the runner works end to end and that its report is sane (every message delivered
to every agent exactly once, no seq gaps); no wall-clock assertions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "load-tests" / "run.py"


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
