/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * mosquitto adapter, MQTT 3.1.1: subscribers over WebSocket (subprotocol
 * "mqtt", packets carried in binary frames) send CONNECT and SUBSCRIBE at
 * QoS 0 back to back, the SUBACK confirms; the publisher sends QoS 0 PUBLISH
 * packets on the plain TCP listener. Keep-alive is 0 (off), so no PINGREQ.
 */
#ifndef SLUICE_BENCH_PROTO_MQTT_H
#define SLUICE_BENCH_PROTO_MQTT_H

#include "bench/conn.h"

extern const struct sl_bench_proto sl_bench_proto_mqtt;

#endif
