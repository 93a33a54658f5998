"""Writes a run's JSON, a markdown summary and PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def comparisons(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every figure of the server as a ratio of each baseline's (server / baseline)."""
    server = next((r for r in results if r.get("kind") == "server"), None)
    if server is None:
        return []
    out = []
    for base in results:
        if base.get("kind") != "baseline":
            continue

        def ratio(a: Any, b: Any) -> float | None:
            if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
                return None
            return round(a / b, 2)

        lat, blat = server["latency_ms"]["inbound"], base["latency_ms"]["inbound"]
        row = {
            "baseline": base["target"],
            "p50_ratio": ratio(lat.get("p50"), blat.get("p50")),
            "p99_ratio": ratio(lat.get("p99"), blat.get("p99")),
            "delivered_per_s_ratio": ratio(server["delivered_per_s"], base["delivered_per_s"]),
            "server_cpu_ratio": ratio(server["server"]["cpu_mean"], base["server"]["cpu_mean"]),
            "rss_per_connection_ratio": ratio(
                server["server"]["rss_per_connection_kb"], base["server"]["rss_per_connection_kb"]
            ),
        }
        if server.get("ramp") and base.get("ramp"):
            row["max_sustained_rate"] = {
                "server": server["ramp"]["max_sustained_rate"],
                "baseline": base["ramp"]["max_sustained_rate"],
            }
        out.append(row)
    return out


def markdown(run: dict[str, Any]) -> str:
    lines = [
        f"# Load test: {run['scenario']}",
        "",
        f"- started: {run['started_at']} ({run['machine']['cpus']} cores, "
        f"{run['machine']['memory_gb']} GiB)",
        f"- command: `{run['command']}`",
        f"- server source: {run.get('server_source')}",
        f"- load generator: {run['client_processes']} client processes ("
        + (
            "Node, socket.io-client 4"
            if run.get("client") == "node"
            else "Python, python-socketio on uvloop, multiprocessing"
        )
        + ", one share of the connections each) + the coordinator (HTTP sender, monitor)",
        f"- intake: {run.get('intake', 'api')} (baselines always take the API channel)",
        "",
        "| target | conns | offered/s | sent/s | delivered ev/s | p50 ms | p95 ms | p99 ms "
        "| max ms | HTTP err | lost | dup | seq gaps | server CPU % mean/max | server RSS MB "
        "rest/conn | KB/conn | generator CPU % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in run["results"]:
        lat = r["latency_ms"]["inbound"]
        server = r["server"]
        gen = r["generator"]["cpu_percent_all_processes"]
        offered = sorted({p["offered_rate"] for p in r["traffic"]["phases"]})
        lines.append(
            f"| {r['target']} | {r.get('connect', {}).get('connected', 0)}/{r['connections']} "
            f"| {'/'.join(_fmt(o, 0) for o in offered) or '-'} "
            f"| {_fmt(r['traffic']['sent_per_s'])} | {_fmt(r['delivered_per_s'])} "
            f"| {_fmt(lat.get('p50'))} | {_fmt(lat.get('p95'))} | {_fmt(lat.get('p99'))} "
            f"| {_fmt(lat.get('max'))} | {r['traffic']['http_errors']} | {r['lost']} "
            f"| {r['duplicates']} | {r['seq_gaps']} "
            f"| {_fmt(server.get('cpu_mean'))}/{_fmt(server.get('cpu_max'))} "
            f"| {_fmt(server.get('rss_rest_mb'))}/{_fmt(server.get('rss_connected_mb'))} "
            f"| {_fmt(server.get('rss_per_connection_kb'))} | {_fmt(gen.get('cpu_mean'))} |"
        )
    for r in run["results"]:
        extra = []
        reply = r["latency_ms"]["reply"]
        if reply.get("count"):
            ack = r["latency_ms"]["reply_ack"]
            extra.append(
                f"- agent replies: {r['replies']}; reply -> agents p50/p99 "
                f"{_fmt(reply['p50'])}/{_fmt(reply['p99'])} ms; ack p50/p99 "
                f"{_fmt(ack['p50'])}/{_fmt(ack['p99'])} ms"
            )
        if r.get("connect"):
            c = r["connect"]
            extra.append(
                f"- connect: {c['connected']} in {c['seconds']} s ({c['rate_per_s']}/s), "
                f"failed {c['failed']} {c['errors'] or ''}"
            )
        http_ms = r["traffic"]["http_ms"]
        extra.append(
            f"- HTTP intake answer p50/p99 {_fmt(http_ms.get('p50'))}/{_fmt(http_ms.get('p99'))}"
            f" ms; statuses {r['traffic']['http_status']}; generator lag p99 "
            f"{_fmt(r['traffic']['generator_lag_ms'].get('p99'))} ms, skipped "
            f"{r['traffic']['skipped_by_generator']}"
        )
        extra.append(
            f"- unexpected disconnects {r['unexpected_disconnects']} "
            f"{r.get('disconnect_reasons') or ''}, out of order "
            f"{r['out_of_order']}, resume overlap {r['resume_overlap']}, expected deliveries "
            f"{r['expected_deliveries']}; users: {r['users']}"
        )
        machine = r.get("machine", {})
        extra.append(
            f"- machine CPU % mean {_fmt(machine.get('cpu_mean'))} (other processes "
            f"{_fmt(machine.get('other_cpu_mean'))}), load average {machine.get('load_average')}"
        )
        workers = ", ".join(f"{w['cpu_percent']}%" for w in r["generator"]["workers"])
        extra.append(f"- client processes CPU (of one core each): {workers or '-'}")
        cost = r["generator"].get("cost")
        if cost:
            extra.append(
                f"- generator cost ({cost['client']} client): "
                f"{_fmt(cost['client_cpu_ms_per_1000_events'])} CPU ms per 1,000 delivered "
                f"events in the client processes ({cost['client_cpu_seconds']} s for "
                f"{cost['events_delivered']}); coordinator "
                f"{_fmt(cost['coordinator_cpu_ms_per_1000_sent'])} CPU ms per 1,000 sent"
            )
        intake = r.get("intake")
        if intake:
            extra.append(
                f"- intake {intake['mode']}: statuses {intake['http_status']}, HTTP errors "
                f"{intake['http_errors']}, inbound deliveries by intake "
                f"{intake['delivered_inbound']}"
            )
        resumes = r.get("reconnects", {}).get("auto_resumes")
        if resumes:
            extra.append(
                f"- reconnect + resume after a server drop: {resumes}, "
                f"{r['reconnects']['auto_resume_ms']} ms"
            )
        if r.get("ramp"):
            ramp = r["ramp"]
            extra += [
                "",
                f"Ramp ({r['target']}): max sustained {ramp['max_sustained_rate']} msg/s; "
                + (
                    f"saturated at {ramp['saturated_at']} ({ramp['reason']})"
                    if ramp["saturated_at"] is not None
                    else "not saturated within the steps given (--ramp-rates)"
                ),
                "",
                "| offered/s | achieved/s | delivered ev/s | ratio | p50 | p95 | p99 | max "
                "| HTTP p99 | errors | server CPU % | generator CPU % |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|",
            ]
            for s in ramp["steps"]:
                lat = s["latency_ms"]
                extra.append(
                    f"| {_fmt(s['offered_rate'], 0)} | {_fmt(s['achieved_rate'])} "
                    f"| {_fmt(s['delivered_per_s'])} | {_fmt(s['delivery_ratio'], 3)} "
                    f"| {_fmt(lat.get('p50'))} | {_fmt(lat.get('p95'))} | {_fmt(lat.get('p99'))} "
                    f"| {_fmt(lat.get('max'))} | {_fmt(s['http_ms'].get('p99'))} "
                    f"| {s['http_errors']} | {_fmt(s['server']['cpu_mean'])} "
                    f"| {_fmt(s['generator_cpu']['cpu_mean'])} |"
                )
        if r.get("storm"):
            s = r["storm"]
            extra.append(
                f"- storm: {s['resumed']}/{s['connections']} resumed in "
                f"{s['all_resumed_seconds']} s (failed {s['failed']}, resync {s['resync']}, "
                f"{s['resume_events']} events replayed); per connection "
                f"{s['per_connection_reconnect_resume_ms']}"
            )
        if r.get("conversations"):
            c = r["conversations"]
            extra.append(
                f"- conversations: {c['accepted']}/{c['conversations']} accepted in "
                f"{c.get('intake_seconds')} s ({c.get('intake_per_s')}/s); active "
                f"{c['active_before']} -> {c['active_after_burst']} -> {c['active_after_wait']} "
                f"after {c['passivation_waited_s']} s; RSS {c['rss_before_mb']} -> "
                f"{c['rss_after_burst_mb']} -> {c.get('rss_at_passivation_mb')} -> "
                f"{c['rss_after_passivation_mb']} MB {c.get('trim_hold_s', 0)} s later "
                f"({c['rss_per_conversation_kb']} KB per conversation)"
            )
        if r["traffic"].get("http_error_samples"):
            extra.append(f"- HTTP refusals (first): {r['traffic']['http_error_samples'][:3]}")
        if r.get("lost_samples") or r.get("seq_gap_samples") or r.get("duplicate_samples"):
            extra.append(
                f"- samples: lost {r['lost_samples'][:3]} gaps {r['seq_gap_samples'][:3]} "
                f"dups {r['duplicate_samples'][:3]}"
            )
        lines += ["", f"## {r['target']}", "", *extra]
    if run.get("comparisons"):
        lines += ["", "## Server / baseline ratios", ""]
        for c in run["comparisons"]:
            lines.append(f"- vs {c['baseline']}: {json.dumps(c)}")
    if run.get("notes"):
        lines += ["", "## Notes", "", *[f"- {n}" for n in run["notes"]]]
    if run.get("plots"):
        names = [Path(p).name for p in run["plots"]]
        lines += ["", "## Plots", "", *[f"- ![{name}]({name})" for name in names]]
    return "\n".join(lines) + "\n"


def plots(run: dict[str, Any], stem: Path) -> list[str]:
    """latency over time (every run) and latency vs offered load (ramp)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    fig, ax = plt.subplots(figsize=(10, 5))
    drew = False
    for r in run["results"]:
        rows = r["latency_timeline"]
        if not rows:
            continue
        drew = True
        t = [row["t"] for row in rows]
        (line,) = ax.plot(t, [row["p50"] for row in rows], label=f"{r['target']} p50")
        ax.plot(t, [row["p99"] for row in rows], "--", color=line.get_color(),
                label=f"{r['target']} p99")  # fmt: skip
    if drew:
        ax.set_yscale("log")
        ax.set_xlabel("seconds since traffic start (receive time)")
        ax.set_ylabel("intake -> agent latency, ms")
        ax.set_title(f"{run['scenario']}: latency over time")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        path = stem.with_name(stem.name + "-latency-time.png")
        fig.savefig(path, dpi=100, bbox_inches="tight")
        written.append(str(path))
    plt.close(fig)
    ramps = [r for r in run["results"] if r.get("ramp")]
    if ramps:
        fig, ax = plt.subplots(figsize=(10, 5))
        for r in ramps:
            steps = r["ramp"]["steps"]
            x = [s["offered_rate"] for s in steps]
            p50 = [s["latency_ms"]["p50"] for s in steps]
            p99 = [s["latency_ms"]["p99"] for s in steps]
            (line,) = ax.plot(x, p50, "o-", label=f"{r['target']} p50")
            ax.plot(x, p99, "s--", color=line.get_color(), label=f"{r['target']} p99")
        ax.axhline(ramps[0]["ramp"]["p99_limit_ms"], color="red", lw=0.8, label="p99 limit")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered inbound messages / s")
        ax.set_ylabel("intake -> agent latency, ms")
        ax.set_title("latency vs offered load")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        path = stem.with_name(stem.name + "-latency-load.png")
        fig.savefig(path, dpi=100, bbox_inches="tight")
        written.append(str(path))
        plt.close(fig)
    return written


# Paths inside the checkout are recorded relative to it, so a report reads the same anywhere.
CHECKOUT = Path(__file__).resolve().parents[2]


def _portable(text: str) -> str:
    return text.replace(f"{CHECKOUT}/", "")


def write(run: dict[str, Any], results_dir: Path, stem_name: str) -> dict[str, str]:
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = results_dir / stem_name
    run["plots"] = plots(run, stem)
    json_path = stem.with_suffix(".json")
    md_path = stem.with_suffix(".md")
    json_path.write_text(_portable(json.dumps(run, indent=1, default=str)))
    md_path.write_text(_portable(markdown(run)))
    return {"json": str(json_path), "markdown": str(md_path)}
