// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/tcp.h>

#include "net/tcpinfo.h"

int sl_tcp_info(int fd, struct sl_tcp_info *out)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(out, 0, sizeof(*out));
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return -errno;
	out->bytes_acked = ti.tcpi_bytes_acked;
	out->bytes_received = ti.tcpi_bytes_received;
	out->rtt_us = ti.tcpi_rtt;
	out->retransmits = ti.tcpi_total_retrans;
	out->unacked = ti.tcpi_unacked;
	out->notsent_bytes = ti.tcpi_notsent_bytes;
	return 0;
}
