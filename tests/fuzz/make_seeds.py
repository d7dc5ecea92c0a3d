#!/usr/bin/env python3
# Writes the hand-made seed corpora of tests/fuzz/corpus/<name>/ (docs/FUZZING.md): small valid
# and near-valid inputs for each harness. Run from the repository root; the output is committed,
# so run it again only to change the seeds.
import base64, hashlib, hmac, json, os, shutil, struct, sys

try:
    import msgpack
except ImportError:
    sys.exit("make_seeds.py needs python3-msgpack")

OUT = "tests/fuzz/corpus"
HS_SECRET = b"fuzz-secret-fuzz-secret-fuzz-secret!"  # as in fuzz_jwt.c
seeds = {}


def add(name, label, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(name, []).append((label, data))


# ---- http: byte 0 picks the head bound (0: 8192), then the head ----
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
heads = {
    "ws-upgrade": "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
    "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + WS_KEY + "\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sluice.v1.msgpack\r\n"
    "Authorization: Bearer abc.def.ghi\r\n\r\n",
    "sse": "GET /v1/sse?topic=stocks.%3E&topic=trains.*.status&access_token=a+b%20c HTTP/1.1\r\n"
    "Host: gw\r\nAccept: text/event-stream\r\nLast-Event-ID: stocks.nyse:42\r\n\r\n",
    "publish": "POST /v1/publish?topic=demo.x HTTP/1.1\r\nHost: localhost\r\n"
    "X-API-Key: demo-secret\r\nContent-Length: 5\r\n\r\nhello",
    "metrics-http10": "GET /metrics HTTP/1.0\r\n\r\n",
    "asterisk": "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "two-hosts": "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "cl-and-te": "POST /v1/publish HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
    "Transfer-Encoding: chunked\r\n\r\n",
    "cl-twice": "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
    "obs-fold": "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
    "bare-lf": "GET / HTTP/1.1\nHost: a\n\n",
    "partial": "GET /v1/ws HTTP/1.1\r\nHost: a\r\nUpgr",
    "bad-escape": "GET /v1/sse?topic=%zz&x=%00 HTTP/1.1\r\nHost: a\r\n\r\n",
    "origin": "GET /v1/ws HTTP/1.1\r\nHost: a\r\nOrigin: HTTPS://App.Example.com:443\r\n\r\n",
    "origin-ipv6": "GET /v1/sse?topic=a HTTP/1.1\r\nHost: a\r\n"
    "Origin: http://[::ffff:ffff:ffff]:8080\r\n\r\n",
}
for label, h in heads.items():
    add("http", label, b"\x00" + h.encode())
# Near the 8192-byte bound, on both sides.
filler = "X-Pad: " + "a" * 8000 + "\r\n"
add("http", "near-bound", b"\x00" + heads["ws-upgrade"].replace("\r\n\r\n", "\r\n" + filler[:8100 - len(heads["ws-upgrade"])] + "\r\n\r\n").encode())
add("http", "over-bound", b"\x00" + heads["ws-upgrade"].replace("\r\n\r\n", "\r\n" + filler + "\r\n\r\n").encode())
add("http", "small-bound", b"\x01" + heads["ws-upgrade"].encode())

# ---- ws: byte 0 = bound index (low 3 bits) | read size << 3 (0: all at once) ----
def frame(op, payload, fin=True, mask=b"\x37\xfa\x21\x3d", rsv=0, force_len=None):
    b0 = (0x80 if fin else 0) | rsv << 4 | op
    n = len(payload) if force_len is None else force_len
    m = 0x80 if mask is not None else 0
    if force_len is None and n < 126:
        hdr = bytes([b0, m | n])
    elif force_len is None and n < 65536:
        hdr = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        hdr = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask is None:
        return hdr + payload
    return hdr + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


sub = msgpack.packb({"op": "sub", "topic": "stocks.>", "id": 1})
add("ws", "text-2byte", b"\x00" + frame(1, b"hello"))
add("ws", "binary-sub", b"\x00" + frame(2, sub))
add("ws", "binary-4byte", b"\x00" + frame(2, bytes(range(256)) * 1 + b"x" * 44))
add("ws", "binary-10byte", b"\x05" + frame(2, b"w" * 300, force_len=300))
add("ws", "10byte-nonminimal", b"\x00" + frame(2, b"abc", force_len=3))
add("ws", "fragmented-text", b"\x00" + frame(1, "h\u00e9".encode()[:2], fin=False)
    + frame(9, b"ping!") + frame(0, "h\u00e9llo".encode()[2:]))
add("ws", "ping-pong-close", b"\x00" + frame(9, b"p") + frame(10, b"") + frame(8, struct.pack(">H", 1000) + b"bye"))
add("ws", "close-empty", b"\x00" + frame(8, b""))
add("ws", "close-bad-code", b"\x00" + frame(8, struct.pack(">H", 1005)))
add("ws", "unmasked", b"\x00" + frame(2, b"abc", mask=None))
add("ws", "rsv", b"\x00" + frame(2, b"abc", rsv=4))
add("ws", "bad-utf8", b"\x00" + frame(1, b"\xc0\x80"))
add("ws", "byte-by-byte", bytes([1 << 3]) + frame(1, b"split") + frame(2, sub))
add("ws", "small-bound", bytes([3 | 5 << 3]) + frame(2, b"y" * 200))
add("ws", "long-ping", b"\x00" + frame(9, b"z" * 126))

# ---- envelope: one map; frame: byte 0 = bound index, then 4-byte lengths ----
maps = {
    "sub": {"op": "sub", "topic": "stocks.nyse.*", "id": 7},
    "sub-since": {"op": "sub", "topic": "stocks.nyse.ibm", "since": 41, "id": 8},
    "unsub": {"op": "unsub", "topic": "stocks.>"},
    "pub": {"op": "pub", "topic": "stocks.nyse.ibm", "data": b"\x01\x02price", "id": 9},
    "pub-str-data": {"op": "pub", "topic": "demo.x", "data": "text"},
    "hello": {"op": "hello", "token": "demo-secret", "name": "ticker"},
    "ping": {"op": "ping"},
    "unknown-key": {"op": "ping", "extra": [1, {"a": None}], "z": 1.5},
    "bad-op": {"op": "ev", "topic": "x"},
    "negative-id": {"op": "sub", "topic": "x", "id": -1},
}
for label, m in maps.items():
    add("envelope", label, msgpack.packb(m, use_bin_type=True))
add("envelope", "dup-key", b"\x82\xa2op\xa4ping\xa2op\xa4ping")
add("envelope", "str32-bin32", b"\x83\xa2op\xa3pub\xa5topic\xdb\x00\x00\x00\x01a\xa4data\xc6\x00\x00\x00\x02hi")
add("envelope", "huge-array", b"\x82\xa2op\xa4ping\xa1x\xdd\xff\xff\xff\xff")
add("envelope", "deep", b"\x81\xa1x" + b"\x91" * 20 + b"\xc0")
add("envelope", "trailing", msgpack.packb({"op": "ping"}) + b"\xc0")
stream = b"".join(struct.pack(">I", len(msgpack.packb(m, use_bin_type=True))) + msgpack.packb(m, use_bin_type=True)
                  for m in (maps["hello"], maps["pub"], maps["ping"]))
add("frame", "hello-pub-ping", b"\x00" + stream)
add("frame", "partial", b"\x00" + stream[:-3])
add("frame", "over-bound", b"\x03" + struct.pack(">I", 17) + b"\x00" * 17)
add("frame", "empty-frame", b"\x00" + b"\x00\x00\x00\x00" + struct.pack(">I", 1) + b"\xc0")

# ---- control: the payload of one control-socket frame, {op, arg} ----
for label, m in {"stats": {"op": "stats"}, "app-usage": {"op": "app.usage", "arg": "acme"},
                 "series": {"op": "app.series", "arg": "acme\n60"},
                 "extra-keys": {"arg": "x", "op": "conn.kick", "why": [1, {"k": None}]},
                 "no-op": {"arg": "x"}, "op-int": {"op": 7}, "arg-bin": {"op": "topic.show", "arg": b"t"},
                 "nul": {"op": "stats\0"}, "long-arg": {"op": "policy.reload", "arg": "p" * 4096}}.items():
    add("control", label, msgpack.packb(m, use_bin_type=True))
add("control", "op-twice", b"\x82\xa2op\xa5stats\xa2op\xa5stats")
add("control", "huge-map", b"\xdf\xff\xff\xff\xff")
add("control", "trailing", msgpack.packb({"op": "stats"}) + b"\x00")

# ---- sse: a Last-Event-ID value ----
for label, v in {"ok": "stocks.nyse:42", "zero": "a:0", "max": "t:18446744073709551615",
                 "overflow": "t:18446744073709551616", "two-colons": "x:y:5", "no-colon": "abc",
                 "empty-seq": "abc:", "ctl": "a\x01b:3", "long": "a" * 300 + ":1"}.items():
    add("sse", label, v)
# ... and the same input as an event payload
add("sse", "payload-lines", "line1\r\nline2\rline3\n\n")
add("sse", "payload-inject", "x\n\nid: other:1\nevent: sluice.close\ndata: {}\n\n")
add("sse", "payload-binary", b"\xff\xfe\x00\x01binary\r")

# ---- jwt: byte 0 = source (0 token, 1 Authorization, 2 X-API-Key) | 4 to re-sign with HS256 ----
def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(header, claims, key=HS_SECRET, sig=None):
    si = b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(
        json.dumps(claims, separators=(",", ":")).encode() if not isinstance(claims, bytes) else claims)
    if sig is None:
        sig = b64(hmac.new(key, si.encode(), hashlib.sha256).digest())
    return si + "." + sig


NOW = 1767225600
good = {"iss": "https://hs.example", "aud": "sluice", "sub": "acme", "exp": NOW + 3600,
        "iat": NOW - 10, "nbf": NOW - 10, "scope": "stocks.> news.*"}
add("jwt", "hs-valid", b"\x00" + jwt({"alg": "HS256", "typ": "JWT"}, good).encode())
add("jwt", "hs-bearer", b"\x01Bearer " + jwt({"alg": "HS256"}, good).encode())
add("jwt", "hs-resign-aud-list", b"\x04" + jwt({"alg": "HS256", "kid": "k1"},
                                                dict(good, aud=["x", "sluice"], scope=["stocks.>"])).encode())
add("jwt", "hs-resign-expired", b"\x04" + jwt({"alg": "HS256"}, dict(good, exp=NOW - 100)).encode())
add("jwt", "hs-resign-nosub", b"\x04" + jwt({"alg": "HS256"}, {"iss": "https://hs.example", "exp": NOW + 5}).encode())
add("jwt", "rs", b"\x00" + jwt({"alg": "RS256", "typ": "at+jwt"}, dict(good, iss="https://rs.example"),
                               sig=b64(b"\x01" * 256)).encode())
add("jwt", "es", b"\x00" + jwt({"alg": "ES256"}, dict(good, iss="https://es.example"), sig=b64(b"\x02" * 64)).encode())
add("jwt", "none", b"\x00" + jwt({"alg": "none"}, good, sig="").encode())
add("jwt", "crit", b"\x04" + jwt({"alg": "HS256", "crit": ["exp"]}, good).encode())
add("jwt", "cty-jwt", b"\x04" + jwt({"alg": "HS256", "cty": "JWT"}, good).encode())
add("jwt", "dup-claims", b"\x04" + jwt({"alg": "HS256"}, b'{"sub":"acme","sub":"other","exp":1}').encode())
# Near the bounds (SL_JWT_MAX_TOKEN_BYTES 8192), so that inputs that long get tried at all.
big = jwt({"alg": "HS256"}, dict(good, pad="p" * 5900))
add("jwt", "hs-resign-near-bound", b"\x04" + big.encode())
add("jwt", "over-bound", b"\x00" + jwt({"alg": "HS256"}, dict(good, pad="p" * 6200)).encode())
add("jwt", "apikey-header", b"\x01ApiKey acme-key")
add("jwt", "apikey-x", b"\x02acme-key")
add("jwt", "apikey-token", b"\x00acme-key")

# ---- topic: PATTERN \0 TOPIC ----
for label, (p, t) in {"literal": ("stocks.nyse.ibm", "stocks.nyse.ibm"),
                      "star": ("stocks.*.ibm", "stocks.nyse.ibm"),
                      "gt": ("stocks.>", "stocks.nyse.ibm"), "gt-only": (">", "a"),
                      "gt-short": ("stocks.>", "stocks"), "empty-token": ("a..b", "a.b"),
                      "bad-char": ("a.b c", "a.b"), "wild-in-token": ("a*.b", "ab.b"),
                      "many-tokens": (".".join("t" * 17), ".".join("t" * 17)),
                      "long": ("a" * 256, "a" * 255)}.items():
    add("topic", label, p.encode() + b"\x00" + t.encode())

# ---- trie: lines "<op><value><text>", op + add, - remove, other: match ----
add("trie", "sub-match-unsub", "+0stocks.>\n+1stocks.*.ibm\n+2stocks.nyse.ibm\n+0stocks.nyse.ibm\n"
    "?0stocks.nyse.ibm\n?0stocks\n-1stocks.*.ibm\n?0stocks.nyse.ibm\n-0stocks.>\n?0stocks.x\n")
add("trie", "duplicates", "+0a.b\n+0a.b\n-0a.b\n-0a.b\n+3>\n+3*\n?0a\n?0a.b.c\n")
add("trie", "invalid", "+0a..b\n+0a.>.b\n-0a*\n?0a.*\n+7*.*.>\n?0x.y\n?0x.y.z\n")

# ---- utf8 ----
for label, b in {"ascii": b"hello", "two": "\u00e9".encode(), "three": "\u20ac".encode(),
                 "four": "\U0001F600".encode(), "overlong": b"\xc0\x80", "surrogate": b"\xed\xa0\x80",
                 "too-big": b"\xf4\x90\x80\x80", "truncated": b"\xe2\x82", "max": b"\xf4\x8f\xbf\xbf",
                 "mixed": "a\u00e9\u20ac\U0001F600z".encode()}.items():
    add("utf8", label, b)

# ---- meter: byte 0 = framing (1 ws, 2 len4, 3 sse, 4 tls), then a frame's first bytes ----
ev = msgpack.packb({"op": "ev", "topic": "t", "seq": 1, "ts": 2, "data": b"x"}, use_bin_type=True)
add("meter", "ws-event", b"\x01" + frame(2, ev, mask=None))
add("meter", "ws-4byte", b"\x01" + frame(2, ev + b"p" * 200, mask=None)[:24])
add("meter", "ws-10byte", b"\x01" + frame(2, b"q" * 70000, mask=None)[:24])
add("meter", "ws-masked-ping", b"\x01" + frame(9, b"hi"))
add("meter", "ws-continuation", b"\x01" + frame(0, b"rest", mask=None))
add("meter", "len4-event", b"\x02" + struct.pack(">I", len(ev)) + ev)
add("meter", "len4-reply", b"\x02" + struct.pack(">I", 3) + msgpack.packb({"op": "ok"}))
add("meter", "sse-event", b"\x03" + b"0000002a\r\nid: t:1\nevent: t\ndata: x\n\n")
add("meter", "sse-last", b"\x03" + b"00000000\r\n\r\n")
add("meter", "tls-appdata", b"\x04" + bytes([23, 3, 3, 0x40, 0x00]) + b"\x00" * 8)
add("meter", "tls-alert", b"\x04" + bytes([21, 3, 3, 0, 2, 1, 0]))

# ---- units: a duration, size or address ----
for v in ["500ms", "2s", "5m", "1h", "1d", "0", "64KiB", "1MiB", "1GiB", "18446744073709551615",
          "213504d", "1.5h", "1 MB", "127.0.0.1:8080", "0.0.0.0:0", "[::1]:65535", "off", "",
          "[fe80::1%eth0]:80", "1.2.3.4:65536"]:
    add("units", v.replace("/", "_") or "empty", v)

# ---- config and policy: YAML files ----
def read(path):
    with open(path, "rb") as f:
        return f.read()


full = read("docs/CONFIG.md").decode().split("```yaml\n")[1].split("```")[0]
bats_like = """listeners:
  subscribers: {plain: "127.0.0.1:0", auth: open}
  publishers: {plain: "127.0.0.1:0"}
  admin: {plain: "127.0.0.1:0"}
  control: {path: "/tmp/sluice-fuzz/control.sock", mode: "0660"}
bpf: off
bpf_pin_dir: /sys/fs/bpf/sluice-fuzz
cgroup: sluice-fuzz
sse: {heartbeat: 1s}
state_dir: /tmp/sluice-fuzz/state
applications:
  - id: demo
    subscribe: [">"]
    publish: ["demo.>"]
    api_keys: [{sha256: 62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef}]
"""
issuers = """applications:
  - {id: acme, subscribe: ["stocks.>"], publish: [], cert_cn: [backend-1],
     cert_sha256: ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]}
issuers:
  - {name: hs, alg: HS256, secret: "0123456789abcdef0123456789abcdef", issuer: hs, audience: sluice}
  - {name: rs, alg: RS256, public_key_file: /nonexistent.pem}
"""
errors = """listeners: {subscribers: {plain: "1.2.3.4:99999", auth: maybe}, bogus: 1}
limits: {max_frame_bytes: 1.5MiB, max_connections: -1}
retention: {count: 0, age: forever}
log: {level: loud}
&a applications: [*a, {id: x, plan: nope}, {id: x}]
"""
for name in ("config", "policy"):
    add(name, "demo", read("policies/demo.yaml"))
    add(name, "docs-full", full)
    add(name, "bats-like", bats_like)
    add(name, "issuers", issuers)
    add(name, "errors", errors)
for f in sorted(os.listdir("policies/examples")):
    add("policy", f[:-5], read("policies/examples/" + f))
add("config", "combined", read("policies/examples/combined.yaml"))

# ---- journal: state_dir/journal files (route/journal.h) ----
def fnv1a(b):
    h = 2166136261
    for c in b:
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def record(topic, seq, gseq, data, ts=1000000000000):
    body = struct.pack("<QQQH", seq, gseq, ts, len(topic)) + topic + data
    return struct.pack("<II", len(body), fnv1a(body)) + body


def header(floor=0, lost=0):
    tail = struct.pack("<QQ", floor, lost)
    return b"SLJ2" + struct.pack("<I", fnv1a(tail)) + tail


events = (record(b"stocks.x", 1, 1, b"e1") + record(b"stocks.x", 2, 2, b"e2")
          + record(b"trains.ice", 1, 3, b"t1") + record(b"stocks.x", 3, 4, b"e3"))
add("journal", "v2", header() + events)
add("journal", "v2-lost", header(0, 9) + events)
add("journal", "v2-floor", header(7, 0) + events + record(b"late", 1, 12, b"l"))
add("journal", "v1", b"SLJ1" + events)
add("journal", "numbers-only", header() + record(b"stocks.x", 5, 5, b"", ts=2**64 - 1))
add("journal", "hole", header() + record(b"a", 1, 1, b"x") + record(b"a", 4, 6, b"y"))
add("journal", "torn", header() + events[:-3])
add("journal", "bad-check", header()[:4] + b"\0\0\0\0" + header()[8:] + events)

for name, items in seeds.items():
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for label, data in items:
        with open(os.path.join(d, label), "wb") as f:
            f.write(data)
print(" ".join("%s:%d" % (n, len(v)) for n, v in sorted(seeds.items())))
