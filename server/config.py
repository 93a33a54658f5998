"""Settings from the command line, else the environment (CONV_*), else defaults."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    demo: bool = False
    simulator: bool = True  # with demo: a simulated customer keeps writing
    log_format: str = "auto"  # "auto" | "console" | "json"
    log_level: str = "info"
    mongodb_url: str = ""
    redis_url: str = ""
    max_body: int = 1_048_576  # JSON bodies
    max_upload: int = 25 * 1_048_576
    web_root: Path = Path(__file__).resolve().parent.parent / "web-client" / "dist"
    drain_timeout: float = 8.0
    node_id: str = ""  # cluster: defaults to <hostname>:<port>
    internal_url: str = ""  # cluster: how other nodes reach this one; defaults to http://host:port
    cluster_secret: str = ""  # cluster: signs node-to-node requests
    event_retention: int = 200_000  # events kept for resume
    assistant: bool = True  # analyze inbound messages into private notes (server/assistant.py)

    @property
    def cluster(self) -> bool:
        return bool(self.mongodb_url or self.redis_url)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "conversations.sqlite3"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def parse(argv: list[str] | None = None) -> Settings:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    parser.add_argument("--host", default=env.get("CONV_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("CONV_PORT", "8080")))
    parser.add_argument("--data-dir", type=Path, default=Path(env.get("CONV_DATA_DIR", "./data")))
    parser.add_argument(
        "--demo",
        action="store_true",
        default=_env_bool("CONV_DEMO", False),
        help="seed a demo workspace and run a simulated customer",
    )
    parser.add_argument(
        "--no-simulator",
        dest="simulator",
        action="store_false",
        default=_env_bool("CONV_SIMULATOR", True),
        help="with --demo: seed only, no simulated customer traffic",
    )
    parser.add_argument(
        "--log-format",
        choices=["auto", "console", "json"],
        default=env.get("CONV_LOG_FORMAT", "auto"),
    )
    parser.add_argument("--log-level", default=env.get("CONV_LOG_LEVEL", "info"))
    parser.add_argument("--mongodb-url", default=env.get("MONGODB_URL", ""))
    parser.add_argument("--redis-url", default=env.get("REDIS_URL", ""))
    parser.add_argument("--node-id", default=env.get("CONV_NODE_ID", ""))
    parser.add_argument("--internal-url", default=env.get("CONV_INTERNAL_URL", ""))
    parser.add_argument(
        "--assistant",
        choices=["on", "off"],
        default="on" if _env_bool("CONV_ASSISTANT", True) else "off",
        help="analyze inbound messages into private notes (every account; default on)",
    )
    args = parser.parse_args(argv)
    return Settings(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        demo=args.demo,
        simulator=args.simulator,
        log_format=args.log_format,
        log_level=args.log_level,
        mongodb_url=args.mongodb_url,
        redis_url=args.redis_url,
        node_id=args.node_id,
        internal_url=args.internal_url,
        cluster_secret=env.get("CONV_CLUSTER_SECRET", ""),
        assistant=args.assistant == "on",
    )
