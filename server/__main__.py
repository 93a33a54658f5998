"""`python -m server`: run one node. See `python -m server --help`."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from server import config, logs
from server.app import build_app


def main(argv: list[str] | None = None) -> int:
    settings = config.parse(argv)
    logs.configure(settings.log_format, settings.log_level)
    if settings.cluster:
        from server.cluster.node import ClusterConfigError, check_reachable, check_settings

        try:
            check_settings(settings)
            asyncio.run(check_reachable(settings))
        except ClusterConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    app = build_app(settings)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        shutdown_timeout=settings.drain_timeout,
        access_log=None,
        print=lambda text: print(text, file=sys.stderr),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
