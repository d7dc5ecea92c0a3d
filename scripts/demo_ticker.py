#!/usr/bin/python3
"""The demo publisher: a stock ticker on the native protocol (4-byte length +
msgpack). Publishes a price for each symbol on stocks.<SYM> every interval,
reconnecting when the gateway restarts."""
import json
import random
import socket
import struct
import sys
import time

import msgpack

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 7070
INTERVAL = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
SYMBOLS = {"ACME": 101.0, "GLOBEX": 47.5, "INITECH": 12.25, "UMBRELLA": 230.0}


def frame(m):
    b = msgpack.packb(m)
    return struct.pack(">I", len(b)) + b


def run():
    s = socket.create_connection((HOST, PORT), timeout=5)
    s.sendall(frame({"op": "hello", "token": "demo-secret", "name": "demo-ticker"}))
    while True:
        for sym in SYMBOLS:
            SYMBOLS[sym] = round(max(1.0, SYMBOLS[sym] * (1 + random.uniform(-0.01, 0.01))), 2)
            data = json.dumps({"symbol": sym, "price": SYMBOLS[sym], "at": time.time()})
            s.sendall(frame({"op": "pub", "topic": "stocks." + sym, "data": data.encode()}))
        s.sendall(frame({"op": "ping"}))
        time.sleep(INTERVAL)


while True:
    try:
        run()
    except OSError:
        time.sleep(1)
