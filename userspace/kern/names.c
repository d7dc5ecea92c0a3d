// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Names of the ABI's enums, as logs, metrics and sluicectl print them. */
#include "kern/kern.h"

const char *sl_drop_reason_name(enum sl_drop_reason reason)
{
	switch (reason) {
	case SL_DROP_NONE:
		return "none";
	case SL_DROP_SOCK_EVENT_CAP:
		return "conn_event_cap";
	case SL_DROP_APP_EVENT_CAP:
		return "app_event_cap";
	case SL_DROP_BYTE_RATE:
		return "byte_rate";
	case SL_DROP_CONN_TIME:
		return "conn_time";
	case SL_DROP__MAX:
		break;
	}
	return "unknown";
}

const char *sl_meter_stat_name(enum sl_meter_stat stat)
{
	switch (stat) {
	case SL_STAT_RUNS:
		return "runs";
	case SL_STAT_SELECTED:
		return "selected";
	case SL_STAT_CLOSED:
		return "closed";
	case SL_STAT_REWINDS:
		return "rewinds";
	case SL_STAT_GAPS:
		return "gaps";
	case SL_STAT_DESYNCS:
		return "desyncs";
	case SL_STAT_KILLS:
		return "kills";
	case SL_STAT_HOLDS:
		return "holds";
	case SL_STAT_RINGBUF_LOST:
		return "ringbuf_lost";
	case SL_STAT_FORCED:
		return "forced";
	case SL_STAT__MAX:
		break;
	}
	return "unknown";
}

const char *sl_framing_name(enum sl_framing framing)
{
	switch (framing) {
	case SL_FRAMING_RAW:
		return "raw";
	case SL_FRAMING_WS:
		return "ws";
	case SL_FRAMING_LEN4:
		return "len4";
	case SL_FRAMING_SSE:
		return "sse";
	case SL_FRAMING_TLS:
		return "tls";
	case SL_FRAMING__MAX:
		break;
	}
	return "unknown";
}
