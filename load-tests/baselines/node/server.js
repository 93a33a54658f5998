// Bare socket.io 4 broadcast server: the Node stack's own ceiling for the load tests.
//
// Same contract as load-tests/baselines/bare_socketio.py: POST /channels/api/{account}/messages
// takes the API channel's body and emits a message.created envelope (type, conversation_id,
// seq, cursor, data.message.text, plus --pad filler bytes) to a room every client joins;
// `message.send` does the same for a reply, `resume` answers with no events.
//
//   node server.js --port 8091 --pad 900
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 && process.argv[index + 1] !== undefined ? process.argv[index + 1] : fallback;
}

const port = Number(option("port", "8091"));
const filler = "x".repeat(Math.max(0, Number(option("pad", "900"))));
const ROOM = "all";
let cursor = 0;
let messages = 0;
const seqs = new Map();

function envelope(conversationId, message) {
  cursor += 1;
  const seq = (seqs.get(conversationId) || 0) + 1;
  seqs.set(conversationId, seq);
  return {
    type: "message.created",
    conversation_id: conversationId,
    account_id: "baseline",
    seq,
    cursor,
    at: Date.now() / 1000,
    data: { message, pad: filler },
  };
}

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/healthz") {
    reply(res, 200, { status: "alive", connections: io.engine.clientsCount });
    return;
  }
  if (req.method === "POST" && /^\/channels\/api\/[^/]+\/messages$/.test(req.url)) {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        reply(res, 400, { error: { code: "invalid", message: "bad JSON" } });
        return;
      }
      messages += 1;
      const message = {
        id: `bm${messages}`,
        kind: "inbound",
        text: body.text || "",
        provider_message_id: body.message_id,
      };
      const conversationId = `b-${body.from && body.from.id}`;
      io.to(ROOM).emit("message.created", envelope(conversationId, message));
      reply(res, 201, { message_id: message.id, conversation_id: conversationId });
    });
    return;
  }
  if (!req.url.startsWith("/socket.io/")) {
    reply(res, 404, { error: { code: "not_found", message: req.url } });
  }
});

const io = new Server(server, { serveClient: false, cors: { origin: false } });

io.on("connection", (socket) => {
  socket.join(ROOM);
  socket.on("message.send", (data, ack) => {
    if (typeof ack !== "function") return;
    if (!data || typeof data.conversation_id !== "string") {
      ack({ ok: false, error: { code: "invalid", message: "conversation_id" } });
      return;
    }
    messages += 1;
    const message = { id: `bm${messages}`, text: String(data.text || "") };
    io.to(ROOM).emit("message.created", envelope(data.conversation_id, message));
    ack({ ok: true, message });
  });
  socket.on("resume", (_data, ack) => {
    if (typeof ack === "function") ack({ ok: true, events: [], cursor });
  });
});

server.listen(port, "127.0.0.1");
process.on("SIGTERM", () => {
  io.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
});
