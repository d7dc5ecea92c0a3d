/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The gateway's data path on one libevent loop: subscriber listener
 * (WebSocket and SSE), publisher listener (native framing), admin listener
 * (health, metrics, HTTP publish), fan-out through the router, output queues
 * flushed with one writev per connection per loop iteration, and the kernel
 * meter told about every subscriber socket.
 */
#ifndef SLUICE_NET_GATEWAY_H
#define SLUICE_NET_GATEWAY_H

#include <stdint.h>

#include "config/config.h"

struct sl_auth;
struct sl_kern;
struct sl_policy;
struct sl_gateway;

/* Binds the listeners (the caller has joined the meter's cgroup already). */
int sl_gateway_new(struct sl_gateway **out, const struct sl_config *cfg, struct sl_kern *kern,
		   struct sl_auth *auth, struct sl_policy *policy, char *err, size_t errlen);

/* Runs until SIGTERM/SIGINT, then closes clients with 1001, flushes, and returns. */
int sl_gateway_run(struct sl_gateway *gw);

void sl_gateway_free(struct sl_gateway *gw);

/* Ports actually bound (listeners configured with port 0 get an ephemeral one). */
uint16_t sl_gateway_port(const struct sl_gateway *gw, char which);

#endif
