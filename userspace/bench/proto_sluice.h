/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sluice adapter (SPEC.md): subscribers on GET /v1/ws (subprotocol
 * sluice.v1.msgpack, {op:"sub"} then {op:"ev"} frames) or GET /v1/sse
 * (chunked text/event-stream); the publisher on the native protocol (4-byte
 * big-endian length + msgpack map, hello first, then pub frames without id
 * so that nothing waits for an ack).
 */
#ifndef SLUICE_BENCH_PROTO_SLUICE_H
#define SLUICE_BENCH_PROTO_SLUICE_H

#include "bench/conn.h"

extern const struct sl_bench_proto sl_bench_proto_sluice;

#endif
