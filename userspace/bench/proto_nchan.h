/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * nginx + Nchan adapter: subscribers are WebSockets on /sub/<channel> (each
 * message one frame, the body as published); the publisher POSTs to
 * /pub/<channel> over one keep-alive HTTP/1.1 connection, pipelined up to
 * max_inflight requests deep so that request round trips do not pace it.
 */
#ifndef SLUICE_BENCH_PROTO_NCHAN_H
#define SLUICE_BENCH_PROTO_NCHAN_H

#include "bench/conn.h"

extern const struct sl_bench_proto sl_bench_proto_nchan;

#endif
