/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What TCP knows about a connection (TCP_INFO), in the fields sluice shows.
 * Its own module because glibc's <netinet/tcp.h> struct tcp_info lacks the
 * byte counters and cannot be included beside <linux/tcp.h>.
 */
#ifndef SLUICE_NET_TCPINFO_H
#define SLUICE_NET_TCPINFO_H

#include <stdint.h>

struct sl_tcp_info {
	uint64_t bytes_acked;	 /* sent and acknowledged by the peer */
	uint64_t bytes_received; /* received from the peer */
	uint32_t rtt_us;
	uint32_t retransmits; /* total over the connection's life */
	uint32_t unacked;     /* segments in flight */
	uint32_t notsent_bytes;
};

/* 0, or -errno (not a TCP socket). */
int sl_tcp_info(int fd, struct sl_tcp_info *out);

#endif
