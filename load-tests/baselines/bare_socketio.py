"""Bare python-socketio broadcast server: the Python stack's own ceiling.

aiohttp + python-socketio (the same stack and JSON codec as the real server), no store, no
actors, no auth: `POST /channels/api/{account}/messages` takes the same body as the API channel
and emits a `message.created` envelope shaped like the real one (type, conversation_id, seq,
cursor, data.message.text) to a room every client joins at connect. `message.send` does the
same for an agent's reply, `resume` answers with no events. `--pad` adds that many bytes so
the payload is as large as the real server's (about 1.2 kB per message.created).

    python load-tests/baselines/bare_socketio.py --port 8090
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson
import socketio
from aiohttp import web

ROOM = "all"


class OrjsonCodec:
    @staticmethod
    def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(data: str | bytes, *args: Any, **kwargs: Any) -> Any:
        return orjson.loads(data)


def build(pad: int) -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", json=OrjsonCodec, cors_allowed_origins=[])
    app = web.Application()
    sio.attach(app)
    state = {"cursor": 0, "messages": 0}
    seqs: dict[str, int] = {}
    filler = "x" * max(0, pad)

    def envelope(conversation_id: str, message: dict[str, Any]) -> dict[str, Any]:
        state["cursor"] += 1
        seq = seqs[conversation_id] = seqs.get(conversation_id, 0) + 1
        return {
            "type": "message.created",
            "conversation_id": conversation_id,
            "account_id": "baseline",
            "seq": seq,
            "cursor": state["cursor"],
            "at": time.time(),
            "data": {"message": message, "pad": filler},
        }

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await sio.enter_room(sid, ROOM)

    async def send(sid: str, data: Any = None) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("conversation_id"), str):
            return {"ok": False, "error": {"code": "invalid", "message": "conversation_id"}}
        state["messages"] += 1
        message = {"id": f"bm{state['messages']}", "text": str(data.get("text", ""))}
        await sio.emit("message.created", envelope(data["conversation_id"], message), room=ROOM)
        return {"ok": True, "message": message}

    async def resume(sid: str, data: Any = None) -> dict[str, Any]:
        return {"ok": True, "events": [], "cursor": state["cursor"]}

    sio.on("connect", connect)
    sio.on("message.send", send)
    sio.on("resume", resume)

    async def inbound(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        state["messages"] += 1
        message = {
            "id": f"bm{state['messages']}",
            "kind": "inbound",
            "text": body.get("text", ""),
            "provider_message_id": body.get("message_id"),
        }
        conversation_id = f"b-{body['from']['id']}"
        await sio.emit("message.created", envelope(conversation_id, message), room=ROOM)
        answer = {"message_id": message["id"], "conversation_id": conversation_id}
        return web.Response(body=orjson.dumps(answer), status=201, content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "alive", "connections": len(sio.manager.rooms)})

    app.router.add_post("/channels/api/{account_id}/messages", inbound)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--pad", type=int, default=900, help="filler bytes per event")
    args = parser.parse_args()
    try:  # the real server runs on uvloop when it is installed: so does this baseline
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass
    web.run_app(build(args.pad), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
