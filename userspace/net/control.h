/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The daemon's side of the control socket that sluicectl talks to (see control.c). */
#ifndef SLUICE_NET_CONTROL_H
#define SLUICE_NET_CONTROL_H

#include <stddef.h>

#include <event2/listener.h>

struct sl_gateway;

/* Listens on listeners.control.path with its mode; nothing when the path is empty. */
int sl_control_listen(struct sl_gateway *gw, struct evconnlistener **out, char *err, size_t errlen);

/* Closes the control connections still open (the daemon's exit). */
void sl_control_close_all(struct sl_gateway *gw);

#endif
