#!/usr/bin/env python3
"""Load tests for the conversations server (loopback only; every loop bounded; stops by itself).

Targets a running server (--url, with --credentials and --server-pid) or starts one itself
(--start: `python -m server --demo --no-simulator` on a free port with a fresh data dir, logging
at warning). Creates agent users through the admin API (POST /api/users, then PATCH
/api/accounts/{id} to authorize them), opens N authenticated Socket.IO connections (websocket,
bearer token) spread over several client processes, drives customer messages through the API
channel or signed WhatsApp webhooks (--intake) at a fixed open-loop rate, optionally lets agents
reply, and reports:

  latency intake -> agent event (p50/p95/p99/max over every delivered message.created),
  throughput (sent/s, delivered events/s), HTTP errors, lost events (an agent that should have
  received a message.created and did not within --grace s), duplicated events (same cursor
  twice at one agent), seq gaps per conversation per agent, server CPU % and RSS (psutil),
  RSS per connection, and the load generator's own CPU (coordinator + each client process).

Scenarios (defaults in brackets):
  steady           [200 agents, 100 msg/s, 60 s] a fixed rate.
  ramp             [100 agents, --ramp-rates 25..800, 15 s each] steps up until p99 >
                   --p99-limit (250 ms), an HTTP error, a generator backlog, or < 99 % delivered:
                   the saturation point.
  idle             [5,000 connections, hold 10 s] RSS growth per idle connection.
  conversations    [10 agents, 10,000 conversations at 250 msg/s] 10,000 distinct senders with
                   one message each (10,000 conversation actors at once): RSS growth; then
                   waits up to --passivation-wait s for GET /readyz active_conversations to
                   fall back (actors passivate after 120 s idle), holds --trim-hold s more (the
                   server's heap trim runs every 30 s) and reports RSS after.
  reconnect-storm  [200 agents, 10 msg/s, 30 s] traffic for a third, then every agent drops
                   and reconnects at once and sends `resume` with its last cursor while traffic
                   goes on: time until all resumed; lost / seq gaps must stay 0.
  cluster          as steady, against --url (e.g. an nginx in front of several nodes).

Intake (--intake, default api): api = POST /channels/api/{account}/messages; cloud = a WhatsApp
Cloud API account created for the run (own app secret and verify token, its Graph base URL on a
local fake Graph API) fed Meta's `messages` webhooks signed with X-Hub-Signature-256 over the raw
body, unique wamid each; twilio = a Twilio WhatsApp account (auth token, the exact webhook URL)
fed Twilio's inbound form signed with X-Twilio-Signature, unique MessageSid each; mix = the three
in turn. The send time is in every message's text. HTTP errors are counted per intake.

Agent client (--client, default python): python = python-socketio clients in --procs processes
(uvloop); node = socket.io-client 4 in --procs Node processes (load-tests/clients/node, pinned by
its package-lock, `npm ci` by scripts/install.sh or on first use). Both record the same figures
and reconnect + `resume` from their last cursor when the server drops them. The report gives
the generator's CPU per 1,000 delivered events.

Baselines (--baseline python|node|all): the same scenario, connection count, rate and client
against a bare python-socketio broadcast server (load-tests/baselines/bare_socketio.py) and a
bare Node socket.io 4 one (load-tests/baselines/node/, `npm ci` on first use): every figure is
also a ratio against the stack's own ceiling. Baselines run steady, ramp, idle and cluster, and
always take the api intake (they have no WhatsApp webhooks).

Output: load-tests/results/<scenario>-<timestamp>.json, .md (summary) and PNG plots (latency
over time; latency vs offered load for ramp). Examples:

  .venv/bin/python load-tests/run.py --start --scenario steady --agents 10 --rate 50 --duration 20
  .venv/bin/python load-tests/run.py --start --scenario steady --baseline all --client node
  .venv/bin/python load-tests/run.py --start --scenario steady --intake cloud --client node
  .venv/bin/python load-tests/run.py --url http://127.0.0.1:8080 \\
      --credentials data/demo-credentials.json --server-pid 12345 --scenario ramp
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
from loadgen import report
from loadgen.intake import INTAKES, prepare_intakes
from loadgen.scenarios import BASELINE_SCENARIOS, SCENARIOS, Options, Run
from loadgen.target import (
    SetupError,
    Target,
    check_loopback,
    prepare_agents,
    server_credentials,
    start_baseline,
    start_server,
)
from loadgen.worker import run_loop

DEFAULTS: dict[str, dict[str, float]] = {
    "steady": {"agents": 200, "rate": 100, "duration": 60},
    "ramp": {"agents": 100, "rate": 0, "duration": 0},
    "idle": {"agents": 5000, "rate": 0, "duration": 10},
    "conversations": {"agents": 10, "rate": 250, "duration": 0},
    "reconnect-storm": {"agents": 200, "rate": 10, "duration": 30},
    "cluster": {"agents": 200, "rate": 100, "duration": 60},
}
RESULTS = Path(__file__).resolve().parent / "results"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="load-tests/run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_argument_group("target")
    mode = where.add_mutually_exclusive_group(required=True)
    mode.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8080 (loopback)")
    mode.add_argument(
        "--start", action="store_true", help="start `python -m server --demo --no-simulator`"
    )
    where.add_argument(
        "--credentials",
        type=Path,
        help="with --url: the server's demo-credentials.json (admin login, API channel account "
        "id and token)",
    )
    where.add_argument("--server-pid", type=int, help="with --url: pid to sample CPU / RSS of")
    where.add_argument(
        "--keep-data", action="store_true", help="with --start: keep the server's data dir"
    )
    load = parser.add_argument_group("load")
    load.add_argument("--scenario", choices=SCENARIOS, default="steady")
    load.add_argument("--agents", type=int, help="Socket.IO connections (scenario default)")
    load.add_argument(
        "--users",
        type=int,
        help="distinct agent users the connections log in as, round-robin (default: "
        "min(agents, 50); several connections per user are allowed; at most 490)",
    )
    load.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    load.add_argument(
        "--client",
        choices=["python", "node"],
        default="python",
        help="agent connections: python-socketio (default) or Node socket.io-client processes",
    )
    load.add_argument(
        "--intake",
        choices=INTAKES,
        default="api",
        help="inbound path: api channel (default), signed WhatsApp Cloud API webhooks, signed "
        "Twilio webhooks, or a mix of the three",
    )
    load.add_argument("--rate", type=float, help="inbound messages per second")
    load.add_argument("--duration", type=float, help="seconds of traffic (idle: hold time)")
    load.add_argument(
        "--reply-rate", type=float, default=0.0, help="agent replies per second (message.send)"
    )
    load.add_argument(
        "--senders", type=int, default=1000, help="distinct customers (= conversations) to spread "
        "inbound messages over (default 1000)",
    )  # fmt: skip
    load.add_argument(
        "--grace", type=float, default=10.0, help="s after the last send before a missing "
        "delivery counts as lost (default 10)",
    )  # fmt: skip
    load.add_argument(
        "--ramp-rates",
        default="25,50,100,200,400,800",
        help="ramp: comma-separated msg/s steps (default 25,50,100,200,400,800)",
    )
    load.add_argument("--step-duration", type=float, default=15.0, help="ramp: s per step")
    load.add_argument(
        "--p99-limit", type=float, default=250.0, help="ramp: stop when p99 exceeds this, ms"
    )
    load.add_argument(
        "--conversations", type=int, default=10_000, help="conversations: how many at once"
    )
    load.add_argument(
        "--passivation-wait",
        type=float,
        default=150.0,
        help="conversations: s to wait for actors to passivate (they do after 120 s idle); 0 skips",
    )
    load.add_argument(
        "--trim-hold",
        type=float,
        default=35.0,
        help="conversations: s to keep sampling RSS once every actor has passivated (the "
        "server trims its heap every 30 s after a passivation wave); 0 reports at once",
    )
    load.add_argument(
        "--connect-concurrency", type=int, default=50, help="connects in flight, all processes"
    )
    load.add_argument(
        "--storm-concurrency",
        type=int,
        default=10_000,
        help="reconnect-storm: reconnects in flight, all processes (default: all at once)",
    )
    load.add_argument(
        "--max-inflight", type=int, default=256, help="outstanding inbound HTTP requests"
    )
    load.add_argument(
        "--max-runtime",
        type=float,
        default=1800.0,
        help="hard limit for the whole run in s (default 1800)",
    )
    load.add_argument(
        "--priority",
        type=int,
        default=0,
        help="nice value for the server, the baselines and every load process (e.g. -10 as "
        "root, so that other work on a shared machine disturbs the measurement less)",
    )
    out = parser.add_argument_group("baselines and output")
    out.add_argument(
        "--baseline",
        choices=["none", "python", "node", "all"],
        default="none",
        help="also run the same load against bare broadcast servers",
    )
    out.add_argument(
        "--baseline-pad",
        type=int,
        default=900,
        help="filler bytes in each baseline event, so its size matches the server's "
        "message.created (~1.2 kB)",
    )
    out.add_argument("--results-dir", type=Path, default=RESULTS)
    out.add_argument("--tag", default="", help="added to the result file names")
    args = parser.parse_args(argv)
    defaults = DEFAULTS[args.scenario]
    for name in ("agents", "rate", "duration"):
        if getattr(args, name) is None:
            setattr(args, name, defaults[name])
    args.agents = int(args.agents)
    if args.users is None:
        args.users = min(args.agents, 50)
    if args.scenario == "cluster" and not args.url:
        parser.error("cluster targets --url (the load balancer in front of the nodes)")
    if args.scenario in ("steady", "cluster", "reconnect-storm", "conversations") and (
        args.rate <= 0
    ):
        parser.error("--rate must be > 0")
    args.ramp_rates = [float(x) for x in str(args.ramp_rates).split(",") if x.strip()]
    return args


def raise_fd_limit(needed: int) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    note = f"open files limit {soft} (hard {hard})"
    if soft < needed:
        note += f": below the {needed} this run needs"
    return note


def options(args: argparse.Namespace, prefix: str) -> Options:
    return Options(
        scenario=args.scenario,
        agents=args.agents,
        users=args.users,
        procs=max(1, args.procs),
        rate=float(args.rate),
        duration=float(args.duration),
        reply_rate=args.reply_rate,
        senders=args.senders,
        grace=args.grace,
        ramp_rates=args.ramp_rates,
        step_duration=args.step_duration,
        p99_limit_ms=args.p99_limit,
        conversations=args.conversations,
        passivation_wait=args.passivation_wait,
        trim_hold=args.trim_hold,
        connect_concurrency=args.connect_concurrency,
        storm_concurrency=args.storm_concurrency,
        max_inflight=args.max_inflight,
        prefix=prefix,
        max_lifetime=args.max_runtime + 120,
        priority=args.priority,
        client=args.client,
    )


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def server_source() -> dict[str, Any]:
    """The commit the started server runs and whether server/ has uncommitted changes (the
    numbers belong to that code)."""
    repo = Path(__file__).resolve().parent.parent

    def git(*argv: str) -> str:
        try:
            done = subprocess.run(
                ["git", *argv], cwd=repo, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "server")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "server_dirty_files": len(changed.splitlines()) if changed else 0,
    }


def set_priority(pid: int | None, value: int) -> None:
    if pid is None or value == 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, pid, value)
    except OSError as exc:
        log(f"could not set priority {value} on {pid}: {exc}")


def set_autogroup_nice(value: int) -> str:
    """With the kernel's autogroup scheduling, a process's nice only weighs within its session:
    the session's own nice (/proc/self/autogroup) is what counts against other sessions'
    work on a shared machine. Everything this run starts is in this session."""
    path = Path("/proc/self/autogroup")
    if not path.exists():
        return "no autogroup scheduling: process nice values apply machine-wide"
    try:
        before = path.read_text().split("nice")[-1].strip()
        path.write_text(str(value))
    except OSError as exc:
        return f"could not set the session's autogroup nice to {value}: {exc}"
    atexit.register(_restore_autogroup, path, before)
    return f"session autogroup nice set to {value} for the run ({path.read_text().strip()})"


def _restore_autogroup(path: Path, value: str) -> None:
    with contextlib.suppress(OSError):
        path.write_text(value)


async def run_one(
    target: Target, opts: Options, intake: str, credentials: dict[str, Any] | None
) -> dict[str, Any]:
    set_priority(target.pid, opts.priority)
    senders = opts.conversations if opts.scenario == "conversations" else opts.senders
    intakes = await prepare_intakes(
        intake, target, credentials or {}, f"{opts.prefix}-{target.name}", senders
    )
    log(
        f"{target.name}: {opts.scenario}, {opts.agents} connections ({opts.client} client) at "
        f"{target.url}, intake {intakes.mode}"
    )
    try:
        result = await Run(target, opts, intakes).execute()
    finally:
        await intakes.stop()
    lat = result["latency_ms"]["inbound"]
    log(
        f"{target.name}: delivered {result['delivered_events']} "
        f"({result['delivered_per_s']}/s), p50 {lat.get('p50')} p99 {lat.get('p99')} ms, "
        f"lost {result['lost']}, dup {result['duplicates']}, gaps {result['seq_gaps']}"
    )
    return result


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    prefix = f"lt{int(time.time())}"
    opts = options(args, prefix)
    notes = [raise_fd_limit(args.agents * 2 + 200)]
    if args.priority:
        set_priority(os.getpid(), args.priority)
        notes.append(f"server, baselines and load processes ran at nice {args.priority}")
        notes.append(set_autogroup_nice(args.priority))
    results: list[dict[str, Any]] = []
    run: dict[str, Any] = {
        "scenario": args.scenario,
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": "load-tests/run.py " + shlex.join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "server_source": server_source(),
        "client_processes": max(1, min(args.procs, args.agents)) if args.agents else 0,
        "client": args.client,
        "intake": args.intake,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "results": results,
        "notes": notes,
        "stamp": stamp,
    }
    target: Target | None = None
    try:
        if args.start:
            log("starting the server (--demo --no-simulator)")
            target = start_server(keep_data=args.keep_data)
        else:
            check_loopback(args.url)
            target = Target(name="server", kind="server", url=args.url.rstrip("/"))
            target.pid = args.server_pid
            if target.pid is None:
                notes.append("no --server-pid: server CPU / RSS not measured")
        credentials = server_credentials(target, args.credentials)
        log(f"preparing {args.users} agent users")
        started = time.time()
        await prepare_agents(target, credentials, args.users)
        notes.append(f"{target.users_note} in {time.time() - started:.1f} s")
        results.append(await run_one(target, opts, args.intake, credentials))
    finally:
        if target is not None:
            target.stop()
    kinds = {"python": ["python"], "node": ["node"], "all": ["python", "node"]}.get(
        args.baseline, []
    )
    if kinds and args.scenario not in BASELINE_SCENARIOS:
        notes.append(f"baselines skipped: {args.scenario} needs the real server")
        kinds = []
    for kind in kinds:
        baseline: Target | None = None
        try:
            baseline = start_baseline(kind, args.baseline_pad)
            results.append(await run_one(baseline, opts, "api", None))
        except SetupError as exc:
            notes.append(f"{kind} baseline skipped: {exc}")
            log(f"{kind} baseline skipped: {exc}")
        finally:
            if baseline is not None:
                baseline.stop()
    run["comparisons"] = report.comparisons(results)
    return run


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)

    async def bounded() -> dict[str, Any]:
        async with asyncio.timeout(args.max_runtime):
            return await main_async(args)

    try:
        run = run_loop(bounded())
    except SetupError as exc:
        log(f"setup failed: {exc}")
        return 2
    except TimeoutError:
        log(f"the run took longer than --max-runtime {args.max_runtime:.0f} s: stopped")
        return 3
    name = f"{args.scenario}-{run['stamp']}" + (f"-{args.tag}" if args.tag else "")
    paths = report.write(run, args.results_dir, name)
    print(Path(paths["markdown"]).read_text())
    log(f"wrote {paths['json']} and {paths['markdown']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
