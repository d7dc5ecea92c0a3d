#!/usr/bin/python3
"""Independent test clients for sluiced: python3-websockets, python3-msgpack
and plain sockets, nothing from the project. Subcommands print one JSON
document on stdout so that bats tests can assert on content, order, counts.

  ws-sub   URL TOPIC... [--count N] [--since S] [--timeout T] [--pub TOPIC DATA]
  ws-many  URL TOPIC --clients N --count N [--timeout T]
  ws-raw   URL            send raw frames given as hex on --frames, print what comes back
  pub      HOST PORT TOPIC --count N [--size B] [--start I]
  sse      URL [--count N] [--last-event-id ID] [--timeout T]
  control  SOCKET OP [ARG]  one request on sluiced's control socket: its result, or "error: ..."
"""
import argparse
import asyncio
import json
import os
import socket
import struct
import sys
import time

import msgpack
import websockets

SUBPROTO = "sluice.v1.msgpack"


def ev_json(m):
    data = m.get("data", b"")
    return {"op": m.get("op"), "topic": m.get("topic"), "seq": m.get("seq"),
            "ts": m.get("ts"), "data": data.decode("utf-8", "replace") if isinstance(data, bytes) else data,
            "code": m.get("code"), "id": m.get("id"), "msg": m.get("msg")}


def ssl_context(args):
    if not args.url.startswith("wss:"):
        return None
    import ssl
    ctx = ssl.create_default_context(cafile=args.ca)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    return ctx


def ws_wire_len(payload):
    n = len(payload)
    return n + (2 if n < 126 else 4 if n < 65536 else 10)


async def ws_sub(args):
    # Wire bytes of the frames received (server frames are unmasked: 2/4/10-byte headers).
    out = {"events": [], "replies": [], "close": None, "local_port": None,
           "event_bytes": 0, "reply_bytes": 0}
    headers = {}
    if args.header:
        for h in args.header:
            k, _, v = h.partition(":")
            headers[k.strip()] = v.strip()
    try:
        async with websockets.connect(args.url, subprotocols=[SUBPROTO], max_size=None,
                                      open_timeout=5, close_timeout=2, ssl=ssl_context(args),
                                      extra_headers=headers) as ws:
            out["local_port"] = ws.transport.get_extra_info("sockname")[1]
            out["subprotocol"] = ws.subprotocol
            for i, t in enumerate(args.topic):
                m = {"op": "sub", "id": i + 1, "topic": t}
                if args.since is not None:
                    m["since"] = args.since
                await ws.send(msgpack.packb(m))
            if args.pub:
                await ws.send(msgpack.packb({"op": "pub", "id": 99, "topic": args.pub[0],
                                             "data": args.pub[1].encode()}))
            if args.ready_file:
                open(args.ready_file, "w").write("ready\n")
            deadline = time.monotonic() + args.timeout
            while len(out["events"]) < args.count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=left)
                except asyncio.TimeoutError:
                    break
                m = msgpack.unpackb(raw)
                (out["events"] if m.get("op") == "ev" else out["replies"]).append(ev_json(m))
                out["event_bytes" if m.get("op") == "ev" else "reply_bytes"] += ws_wire_len(raw)
            if args.unsub:
                await ws.send(msgpack.packb({"op": "unsub", "id": 50, "topic": args.topic[0]}))
                try:
                    while True:
                        raw = await asyncio.wait_for(ws.recv(), timeout=args.linger)
                        m = msgpack.unpackb(raw)
                        (out["events"] if m.get("op") == "ev" else out["replies"]).append(ev_json(m))
                except asyncio.TimeoutError:
                    pass
    except websockets.ConnectionClosed as e:
        out["close"] = {"code": e.rcvd.code if e.rcvd else None,
                        "reason": e.rcvd.reason if e.rcvd else None}
    except websockets.exceptions.InvalidStatusCode as e:
        # python3-websockets 10 (Debian 12): the legacy client's exception
        out["http_status"] = e.status_code
        out["www_authenticate"] = e.headers.get("WWW-Authenticate")
    except (OSError, websockets.exceptions.InvalidHandshake) as e:
        # TLS refused, connection reset, no HTTP answer: the handshake never completed
        out["error"] = repr(e)
    print(json.dumps(out))


async def ws_many(args):
    ready = 0
    all_ready = asyncio.Event()

    async def one(i):
        nonlocal ready
        seqs = []
        async with websockets.connect(args.url, subprotocols=[SUBPROTO], max_size=None,
                                      open_timeout=30) as ws:
            await ws.send(msgpack.packb({"op": "sub", "id": 1, "topic": args.topic}))
            m = msgpack.unpackb(await ws.recv())
            assert m["op"] == "ack", m
            ready += 1
            if ready == args.clients:
                all_ready.set()
                if args.ready_file:
                    open(args.ready_file, "w").write("ready\n")
            deadline = time.monotonic() + args.timeout
            while len(seqs) < args.count and time.monotonic() < deadline:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=deadline - time.monotonic())
                except asyncio.TimeoutError:
                    break
                m = msgpack.unpackb(raw)
                if m.get("op") == "ev":
                    seqs.append(m["seq"])
        return seqs

    results = await asyncio.gather(*(one(i) for i in range(args.clients)), return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    good = [r for r in results if not isinstance(r, BaseException)]
    want = list(range(1, args.count + 1))
    exact = sum(1 for r in good if r == want)
    print(json.dumps({"clients": args.clients, "exact": exact, "errors": errors[:5],
                      "sample": good[0][:10] if good else None}))


async def ws_raw(args):
    out = {"frames": [], "close": None}
    async with websockets.connect(args.url, subprotocols=[SUBPROTO], max_size=None) as ws:
        for h in args.frames:
            ws.transport.write(bytes.fromhex(h))
        try:
            while True:
                raw = await asyncio.wait_for(ws.recv(), timeout=args.timeout)
                out["frames"].append(ev_json(msgpack.unpackb(raw)))
        except websockets.ConnectionClosed as e:
            out["close"] = {"code": e.rcvd.code if e.rcvd else None}
        except asyncio.TimeoutError:
            pass
    print(json.dumps(out))


def raw_ws_sub(url, topic, key=None, rcvbuf=4096):
    """A WebSocket subscriber on a raw socket, by default with a 4 KiB receive
    buffer (so that not reading pushes back on the gateway at once; 0 or None
    keeps the kernel's autotuning): handshake, then one `sub`. Returns the socket;
    the handshake is read byte by byte, so nothing after it has been consumed."""
    import base64, os
    host, rest = url.split("//", 1)[1].split("/", 1)
    h, p = host.rsplit(":", 1)
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect((h, int(p)))
    extra = "X-API-Key: %s\r\n" % key if key else ""
    s.sendall(("GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
               % (rest, host, base64.b64encode(os.urandom(16)).decode(), extra)).encode())
    resp = b""
    while b"\r\n\r\n" not in resp:
        resp += s.recv(1)
    s.sendall(client_op({"op": "sub", "id": 1, "topic": topic}))
    return s


def client_frame(opcode, payload):
    """One masked WebSocket frame from a client (RFC 6455 §5.2), FIN set."""
    import os
    mask, n = os.urandom(4), len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def client_op(m):
    """A client's op (a msgpack map) as one masked binary frame."""
    return client_frame(0x2, msgpack.packb(m))


def ws_split(buf):
    """The whole server frames at the start of buf as (opcode, payload), and the rest."""
    frames, i = [], 0
    while len(buf) - i >= 2:
        op, n, j = buf[i] & 0x0f, buf[i + 1] & 0x7f, i + 2
        if n == 126:
            if len(buf) - j < 2:
                break
            n = struct.unpack(">H", buf[j:j + 2])[0]; j += 2
        elif n == 127:
            if len(buf) - j < 8:
                break
            n = struct.unpack(">Q", buf[j:j + 8])[0]; j += 8
        if len(buf) - j < n:
            break
        frames.append((op, buf[j:j + n]))
        i = j + n
    return frames, buf[i:]


def frames_to_eof(s):
    """Reads a raw WebSocket socket until the server closes it; returns its frames."""
    frames, buf = [], b""
    while True:
        c = s.recv(1 << 16)
        if not c:
            return frames
        f, buf = ws_split(buf + c)
        frames += f


def close_code(payload):
    return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005


def ws_stall(args):
    """A subscriber that stops reading: handshake, sub, then nothing for --hold
    seconds; afterwards drain and report the close code the gateway sent."""
    s = raw_ws_sub(args.url, args.topic, args.key)
    if args.ready_file:
        open(args.ready_file, "w").write("ready\n")
    time.sleep(args.hold)
    s.settimeout(10)
    buf = b""
    try:
        while True:
            c = s.recv(1 << 20)
            if not c:
                break
            buf += c
    except OSError:
        pass
    frames, _ = ws_split(buf)
    code, reason = None, None
    for op, body in frames:
        if op == 8 and len(body) >= 2:
            code, reason = close_code(body), body[2:].decode("utf-8", "replace")
    print(json.dumps({"close_code": code, "close_reason": reason, "bytes": len(buf)}))


def ws_late(args):
    """A subscriber that reads nothing for --hold seconds (small receive
    buffer), then reads until it has --count events or --timeout passes.
    Reports how many events came, whether their seqs were 1..count in order,
    and the close code if the gateway closed it."""
    s = raw_ws_sub(args.url, args.topic)
    if args.ready_file:
        open(args.ready_file, "w").write("ready\n")
    time.sleep(args.hold)
    seqs, code, _ = read_events(s, args.count, time.monotonic() + args.timeout, [], b"")
    print(json.dumps({"events": len(seqs), "in_order": seqs == list(range(1, len(seqs) + 1)),
                      "close_code": code}))


def ws_resume_stall(args):
    """A resume whose reader stops: raw socket (4 KiB receive buffer), `sub`
    on another topic, then `sub` TOPIC with `since`; writes --ready-file and
    reads nothing until --go-file exists, then reads --count events or for
    --timeout seconds. Reports the events that came (count, first and last
    seq, whether they were consecutive) and the close code."""
    s = raw_ws_sub(args.url, "other.t")
    s.sendall(client_op({"op": "sub", "id": 7, "topic": args.topic, "since": args.since}))
    open(args.ready_file, "w").write("ready\n")
    while not os.path.exists(args.go_file):
        time.sleep(0.05)
    seqs, code, _ = read_events(s, args.count, time.monotonic() + args.timeout, [], b"")
    print(json.dumps({"events": len(seqs), "close_code": code,
                      "in_order": seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else None,
                      "first": seqs[0] if seqs else None, "last": seqs[-1] if seqs else None}))


def read_events(s, count, deadline, seqs, buf):
    """Reads from a raw_ws_sub socket until seqs holds count events, a close
    frame comes or the deadline passes; returns (seqs, close code, unread rest)."""
    code = None
    while len(seqs) < count and code is None and time.monotonic() < deadline:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            c = s.recv(1 << 20)
        except OSError:
            break
        if not c:
            break
        frames, buf = ws_split(buf + c)
        for op, body in frames:
            if op == 8:
                code = close_code(body)
            elif op == 2:
                m = msgpack.unpackb(body, raw=False)
                if m.get("op") == "ev":
                    seqs.append(m["seq"])
    return seqs, code, buf


def ws_pause(args):
    """A subscriber that reads at full speed (receive buffer --rcvbuf bytes,
    0 = autotuned) until it has --first events, stops reading for --hold
    seconds (writing --paused-file when it stops), then reads until it has
    --count. Reports like ws-late."""
    s = raw_ws_sub(args.url, args.topic, rcvbuf=args.rcvbuf)
    if args.ready_file:
        open(args.ready_file, "w").write("ready\n")
    deadline = time.monotonic() + args.timeout
    seqs, code, buf = read_events(s, args.first, deadline, [], b"")
    if args.paused_file:
        open(args.paused_file, "w").write("%d\n" % len(seqs))
    if code is None:
        time.sleep(args.hold)
        seqs, code, _ = read_events(s, args.count, deadline + args.hold, seqs, buf)
    print(json.dumps({"events": len(seqs), "in_order": seqs == list(range(1, len(seqs) + 1)),
                      "close_code": code}))


def native_frame(m):
    b = msgpack.packb(m)
    return struct.pack(">I", len(b)) + b


def read_frame(s):
    hdr = b""
    while len(hdr) < 4:
        c = s.recv(4 - len(hdr))
        if not c:
            return None
        hdr += c
    n = struct.unpack(">I", hdr)[0]
    body = b""
    while len(body) < n:
        c = s.recv(n - len(body))
        if not c:
            return None
        body += c
    return msgpack.unpackb(body)


def pub(args):
    s = socket.create_connection((args.host, args.port), timeout=10)
    s.sendall(native_frame({"op": "hello", "token": args.token, "name": "test-publisher"}))
    hello = read_frame(s)
    if not hello or hello.get("op") != "ok":
        print(json.dumps({"hello": ev_json(hello) if hello else None, "seqs": [], "errors": []}))
        return
    seqs, errors = [], []
    for i in range(args.start, args.start + args.count):
        data = (args.prefix + str(i)).encode()
        if args.size:
            data = data.ljust(args.size, b".")
        s.sendall(native_frame({"op": "pub", "topic": args.topic, "data": data, "id": i}))
        r = read_frame(s)
        if r and r.get("op") == "ack":
            seqs.append(r["seq"])
        else:
            errors.append(r)
    s.sendall(native_frame({"op": "ping"}))
    pong = read_frame(s)
    s.close()
    print(json.dumps({"hello": hello, "seqs": seqs, "errors": [ev_json(e) if e else None for e in errors],
                      "pong": pong}))


def sse(args):
    """A raw-socket SSE reader that also checks the chunked framing."""
    host, rest = args.url.split("//", 1)[1].split("/", 1)
    h, p = host.rsplit(":", 1)
    s = socket.create_connection((h, int(p)), timeout=args.timeout)
    req = "GET /%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n" % (rest, host)
    if args.last_event_id is not None:
        req += "Last-Event-ID: %s\r\n" % args.last_event_id
    s.sendall((req + "\r\n").encode())
    buf = b""
    events, notices = [], []
    status = None
    deadline = time.monotonic() + args.timeout
    while len(events) < args.count and time.monotonic() < deadline:
        try:
            c = s.recv(65536)
        except socket.timeout:
            break
        if not c:
            break
        buf += c
        if status is None and b"\r\n\r\n" in buf:
            head, buf = buf.split(b"\r\n\r\n", 1)
            status = int(head.split(b" ")[1])
            if status != 200:
                break
        while status == 200 and len(buf) >= 10:
            size = int(buf[:8], 16)
            assert buf[8:10] == b"\r\n"
            if len(buf) < 10 + size + 2:
                break
            rec = buf[10:10 + size].decode()
            assert buf[10 + size:12 + size] == b"\r\n"
            buf = buf[12 + size:]
            fields = {}
            for line in rec.split("\n"):
                if line.startswith(":") or not line:
                    continue
                k, _, v = line.partition(":")
                fields.setdefault(k, []).append(v[1:] if v.startswith(" ") else v)
            if "id" in fields:
                events.append({"id": fields["id"][0], "event": fields["event"][0],
                               "data": "\n".join(fields.get("data", []))})
            elif "event" in fields:
                notices.append({"event": fields["event"][0], "data": fields.get("data", [""])[0]})
    print(json.dumps({"status": status, "events": events, "notices": notices,
                      "local_port": s.getsockname()[1]}))
    s.close()


async def ws_resume(args):
    """Follows a topic across gateway restarts: on every disconnect it
    reconnects and subscribes with since=<last seq seen>. Stops when
    --done-file holds a seq it has reached, or at the timeout."""
    seqs, reconnects, closes, last = [], 0, [], 0
    deadline = time.monotonic() + args.timeout

    def target():
        try:
            return int(open(args.done_file).read().strip())
        except (OSError, ValueError):
            return None

    while time.monotonic() < deadline:
        t = target()
        if t is not None and last >= t:
            break
        try:
            async with websockets.connect(args.url, subprotocols=[SUBPROTO], max_size=None,
                                          open_timeout=2, close_timeout=1) as ws:
                m = {"op": "sub", "id": 1, "topic": args.topic}
                if last:
                    m["since"] = last
                await ws.send(msgpack.packb(m))
                if args.ready_file:
                    open(args.ready_file, "w").write("ready\n")
                while time.monotonic() < deadline:
                    t = target()
                    if t is not None and last >= t:
                        break
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=0.2)
                    except asyncio.TimeoutError:
                        continue
                    m = msgpack.unpackb(raw)
                    if m.get("op") == "ev":
                        seqs.append(m["seq"])
                        last = max(last, m["seq"])
                    elif m.get("op") == "err":
                        closes.append({"err": m.get("code"), "msg": m.get("msg")})
        except websockets.ConnectionClosed as e:
            closes.append({"code": e.rcvd.code if e.rcvd else None})
        except (OSError, asyncio.TimeoutError, websockets.exceptions.InvalidHandshake):
            pass
        reconnects += 1
        await asyncio.sleep(0.05)
    print(json.dumps({"seqs": seqs, "last": last, "reconnects": reconnects - 1,
                      "closes": closes[:10]}))


def control(args):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(args.socket)
    m = {"op": args.op}
    if args.arg is not None:
        m["arg"] = args.arg
    b = msgpack.packb(m)
    s.sendall(struct.pack(">I", len(b)) + b)
    f = s.makefile("rb")
    r = msgpack.unpackb(f.read(struct.unpack(">I", f.read(4))[0]))
    print(r["result"] if r.get("ok") else "error: " + r.get("error", ""))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("ws-sub")
    a.add_argument("url")
    a.add_argument("topic", nargs="+")
    a.add_argument("--count", type=int, default=1)
    a.add_argument("--since", type=int)
    a.add_argument("--timeout", type=float, default=5)
    a.add_argument("--pub", nargs=2)
    a.add_argument("--unsub", action="store_true")
    a.add_argument("--linger", type=float, default=1)
    a.add_argument("--ready-file")
    a.add_argument("--ca")
    a.add_argument("--cert")
    a.add_argument("--key")
    a.add_argument("--header", action="append")
    a = sub.add_parser("ws-many")
    a.add_argument("url")
    a.add_argument("topic")
    a.add_argument("--clients", type=int, default=10)
    a.add_argument("--count", type=int, default=10)
    a.add_argument("--timeout", type=float, default=30)
    a.add_argument("--ready-file")
    a = sub.add_parser("ws-stall")
    a.add_argument("url")
    a.add_argument("topic")
    a.add_argument("--hold", type=float, default=5)
    a.add_argument("--key")
    a.add_argument("--ready-file")
    a = sub.add_parser("ws-late")
    a.add_argument("url")
    a.add_argument("topic")
    a.add_argument("--hold", type=float, default=2)
    a.add_argument("--count", type=int, default=1)
    a.add_argument("--timeout", type=float, default=60)
    a.add_argument("--ready-file")
    a = sub.add_parser("ws-pause")
    a.add_argument("url")
    a.add_argument("topic")
    a.add_argument("--first", type=int, required=True)
    a.add_argument("--rcvbuf", type=int, default=0)
    a.add_argument("--hold", type=float, default=2)
    a.add_argument("--count", type=int, default=1)
    a.add_argument("--timeout", type=float, default=60)
    a.add_argument("--ready-file")
    a.add_argument("--paused-file")
    a = sub.add_parser("ws-resume")
    a.add_argument("url")
    a.add_argument("topic")
    a.add_argument("--done-file", required=True)
    a.add_argument("--ready-file")
    a.add_argument("--timeout", type=float, default=30)
    a = sub.add_parser("ws-resume-stall")
    a.add_argument("url")
    a.add_argument("topic")
    a.add_argument("--since", type=int, default=0)
    a.add_argument("--ready-file", required=True)
    a.add_argument("--go-file", required=True)
    a.add_argument("--count", type=int, default=1 << 30)
    a.add_argument("--timeout", type=float, default=10)
    a = sub.add_parser("ws-raw")
    a.add_argument("url")
    a.add_argument("--frames", nargs="*", default=[])
    a.add_argument("--timeout", type=float, default=2)
    a = sub.add_parser("pub")
    a.add_argument("host")
    a.add_argument("port", type=int)
    a.add_argument("topic")
    a.add_argument("--count", type=int, default=1)
    a.add_argument("--start", type=int, default=0)
    a.add_argument("--size", type=int, default=0)
    a.add_argument("--prefix", default="event-")
    a.add_argument("--token", default="")
    a = sub.add_parser("sse")
    a.add_argument("url")
    a.add_argument("--count", type=int, default=1)
    a.add_argument("--last-event-id")
    a.add_argument("--timeout", type=float, default=5)
    a = sub.add_parser("control")
    a.add_argument("socket")
    a.add_argument("op")
    a.add_argument("arg", nargs="?")
    args = ap.parse_args()
    if args.cmd == "control":
        control(args)
    elif args.cmd == "ws-sub":
        asyncio.run(ws_sub(args))
    elif args.cmd == "ws-many":
        asyncio.run(ws_many(args))
    elif args.cmd == "ws-stall":
        ws_stall(args)
    elif args.cmd == "ws-late":
        ws_late(args)
    elif args.cmd == "ws-pause":
        ws_pause(args)
    elif args.cmd == "ws-resume":
        asyncio.run(ws_resume(args))
    elif args.cmd == "ws-resume-stall":
        ws_resume_stall(args)
    elif args.cmd == "ws-raw":
        asyncio.run(ws_raw(args))
    elif args.cmd == "pub":
        pub(args)
    elif args.cmd == "sse":
        sse(args)


if __name__ == "__main__":
    main()
