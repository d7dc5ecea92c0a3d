/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * NATS adapter: subscribers speak the NATS text protocol inside WebSocket
 * frames on nats-server's websocket listener (CONNECT, SUB, PING; the PONG
 * confirms the SUB; MSG carries events; server PINGs are answered); the
 * publisher speaks it on the plain TCP port (PUB, no verbose acks).
 */
#ifndef SLUICE_BENCH_PROTO_NATS_H
#define SLUICE_BENCH_PROTO_NATS_H

#include "bench/conn.h"

extern const struct sl_bench_proto sl_bench_proto_nats;

#endif
