// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "net/ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha.h>
#include <wolfssl/wolfcrypt/coding.h>

/*
 * A reassembly buffer larger than this is freed once its message has been
 * handed out: most connections only ever send small sub/unsub maps, and an
 * idle connection should not keep the memory of its largest publish.
 */
#define WS_KEEP_BUFFER 4096

static bool is_base64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int sl_ws_accept_key(const char *client_key, size_t len, char out[SL_WS_ACCEPT_LEN + 1])
{
	uint8_t digest[WC_SHA_DIGEST_SIZE];
	byte encoded[SL_WS_ACCEPT_LEN + 4];
	word32 encoded_len = sizeof(encoded);
	wc_Sha sha;
	size_t i;
	int rc;

	/* §4.2.1 item 5: base64 of exactly 16 bytes is 22 characters and "==". */
	if (len != 24 || client_key[22] != '=' || client_key[23] != '=')
		return -EINVAL;
	for (i = 0; i < 22; i++)
		if (!is_base64_char(client_key[i]))
			return -EINVAL;

	if (wc_InitSha(&sha))
		return -EIO;
	rc = wc_ShaUpdate(&sha, (const byte *)client_key, (word32)len);
	if (!rc)
		rc = wc_ShaUpdate(&sha, (const byte *)SL_WS_GUID, sizeof(SL_WS_GUID) - 1);
	if (!rc)
		rc = wc_ShaFinal(&sha, digest);
	wc_ShaFree(&sha);
	if (rc)
		return -EIO;
	if (Base64_Encode_NoNl(digest, sizeof(digest), encoded, &encoded_len) ||
	    encoded_len != SL_WS_ACCEPT_LEN)
		return -EIO;
	memcpy(out, encoded, SL_WS_ACCEPT_LEN);
	out[SL_WS_ACCEPT_LEN] = '\0';
	return 0;
}

size_t sl_ws_frame_header(uint8_t out[SL_WS_MAX_SERVER_HEADER], uint8_t opcode, bool fin,
			  uint64_t payload_len)
{
	int i;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	/* §5.2: the minimal length encoding; MASK is 0 for server frames (§5.1). */
	if (payload_len < 126) {
		out[1] = (uint8_t)payload_len;
		return 2;
	}
	if (payload_len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(payload_len >> 8);
		out[3] = (uint8_t)payload_len;
		return 4;
	}
	out[1] = 127;
	for (i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
	return 10;
}

bool sl_ws_close_code_valid(uint16_t code)
{
	/*
	 * §7.4.1 defines 1000-1011 but 1004 is reserved and 1005/1006/1015
	 * must never be sent; 1012-1014 were registered with IANA since
	 * (§11.7). 3000-3999 are registered, 4000-4999 private (§7.4.2).
	 */
	if (code >= 1000 && code <= 1003)
		return true;
	if (code >= 1007 && code <= 1014)
		return true;
	return code >= 3000 && code <= 4999;
}

const char *sl_ws_close_reason_problem(const char *reason)
{
	const char *p;

	if (strlen(reason) > SL_WS_MAX_CLOSE_REASON)
		return "the reason is longer than the 123 bytes a close frame holds";
	if (!sl_utf8_valid((const uint8_t *)reason, strlen(reason)))
		return "the reason is not valid UTF-8";
	for (p = reason; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			return "the reason may not hold control characters, '\"' or '\\'";
	return NULL;
}

size_t sl_ws_close_payload(uint8_t out[SL_WS_MAX_CONTROL_PAYLOAD], uint16_t code,
			   const char *reason)
{
	size_t n = reason ? strlen(reason) : 0, max = SL_WS_MAX_CONTROL_PAYLOAD - 2;

	if (code < 1000 || code == 1004 || code == 1005 || code == 1006 || code == 1015 ||
	    code >= 5000)
		return 0;
	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	if (n > max) {
		/* §5.5.1: the reason must stay valid UTF-8, so never cut inside a character. */
		n = max;
		while (n > 0 && ((uint8_t)reason[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(out + 2, reason, n);
	return 2 + n;
}

void sl_ws_decoder_init(struct sl_ws_decoder *d, size_t max_message)
{
	memset(d, 0, sizeof(*d));
	d->max_message = max_message;
	d->hdr_need = 2;
}

void sl_ws_decoder_fini(struct sl_ws_decoder *d)
{
	free(d->msg);
	d->msg = NULL;
	d->msg_cap = 0;
	d->msg_len = 0;
}

static ssize_t fail(struct sl_ws_decoder *d, struct sl_ws_event *ev, uint16_t code, const char *why,
		    size_t consumed)
{
	d->failed = true;
	d->fail_code = code;
	d->fail_why = why;
	ev->type = SL_WS_EV_ERROR;
	ev->close_code = code;
	ev->why = why;
	return (ssize_t)consumed;
}

static void unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t pos)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] ^= mask[(pos + i) & 3];
}

/* Checks the first two header bytes: everything §5.2 lets us refuse early. */
static const char *check_base_header(struct sl_ws_decoder *d)
{
	uint8_t b0 = d->hdr[0], b1 = d->hdr[1], opcode = b0 & 0x0f, len7 = b1 & 0x7f;
	bool fin = b0 & 0x80;

	if (b0 & 0x70)
		return "reserved bits set without a negotiated extension";
	if (opcode > SL_WS_OP_BINARY && opcode < SL_WS_OP_CLOSE)
		return "unknown data opcode";
	if (opcode > SL_WS_OP_PONG)
		return "unknown control opcode";
	if (!(b1 & 0x80))
		/* §5.1: a server MUST close the connection on an unmasked frame. */
		return "client frame is not masked";
	if (opcode & 0x08) {
		/* §5.5: control frames are never fragmented and carry at most 125 bytes. */
		if (!fin)
			return "fragmented control frame";
		if (len7 > SL_WS_MAX_CONTROL_PAYLOAD)
			return "control frame longer than 125 bytes";
	} else if (opcode == SL_WS_OP_CONTINUATION) {
		if (!d->in_message)
			return "continuation frame without a message in progress";
	} else if (d->in_message) {
		/* §5.4: fragments of one message are not interleaved with another. */
		return "new data message before the previous one ended";
	}
	d->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
	return NULL;
}

static int grow_message(struct sl_ws_decoder *d, size_t need)
{
	size_t cap = d->msg_cap ? d->msg_cap : 256;
	uint8_t *p;

	while (cap < need && cap < d->max_message)
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	if (cap > d->max_message)
		cap = d->max_message;
	if (cap < need)
		cap = need;
	p = realloc(d->msg, cap);
	if (!p)
		return -ENOMEM;
	d->msg = p;
	d->msg_cap = cap;
	return 0;
}

/* A complete control frame (§5.5): ping and pong as they are, close validated. */
static ssize_t control_event(struct sl_ws_decoder *d, struct sl_ws_event *ev, uint8_t opcode,
			     const uint8_t *p, size_t n, size_t consumed)
{
	ev->payload = n ? p : (const uint8_t *)"";
	ev->len = n;
	if (opcode == SL_WS_OP_PING) {
		ev->type = SL_WS_EV_PING;
		return (ssize_t)consumed;
	}
	if (opcode == SL_WS_OP_PONG) {
		ev->type = SL_WS_EV_PONG;
		return (ssize_t)consumed;
	}
	/* §5.5.1: an empty close is allowed and means 1005 "no status" (§7.4.1). */
	ev->type = SL_WS_EV_CLOSE;
	if (n == 0) {
		ev->close_code = SL_WS_CLOSE_NO_STATUS;
		return (ssize_t)consumed;
	}
	if (n == 1)
		return fail(d, ev, SL_WS_CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte body",
			    consumed);
	ev->close_code = (uint16_t)(p[0] << 8 | p[1]);
	if (!sl_ws_close_code_valid(ev->close_code))
		return fail(d, ev, SL_WS_CLOSE_PROTOCOL_ERROR, "close frame with an invalid code",
			    consumed);
	if (!sl_utf8_valid(p + 2, n - 2))
		return fail(d, ev, SL_WS_CLOSE_INVALID_DATA, "close reason is not valid UTF-8",
			    consumed);
	ev->payload = p + 2;
	ev->len = n - 2;
	return (ssize_t)consumed;
}

static ssize_t message_event(struct sl_ws_event *ev, uint8_t opcode, const uint8_t *p, size_t n,
			     size_t consumed)
{
	ev->type = SL_WS_EV_MESSAGE;
	ev->opcode = opcode;
	ev->payload = n ? p : (const uint8_t *)"";
	ev->len = n;
	return (ssize_t)consumed;
}

/*
 * The full header is in d->hdr: reads the length and masking key, applies
 * the length rules, and returns an error sentence or NULL.
 */
static const char *start_frame(struct sl_ws_decoder *d, uint16_t *code)
{
	uint8_t len7 = d->hdr[1] & 0x7f;
	const uint8_t *m = d->hdr + d->hdr_len - 4;
	uint64_t len = len7;
	size_t have;
	int i;

	*code = SL_WS_CLOSE_PROTOCOL_ERROR;
	/*
	 * §5.2 asks senders for the minimal length encoding; receivers are
	 * not required to refuse a longer one, and refusing buys nothing.
	 */
	if (len7 == 126) {
		len = (uint64_t)d->hdr[2] << 8 | d->hdr[3];
	} else if (len7 == 127) {
		if (d->hdr[2] & 0x80)
			return "64-bit payload length with the most significant bit set";
		len = 0;
		for (i = 0; i < 8; i++)
			len = len << 8 | d->hdr[2 + i];
	}
	d->opcode = d->hdr[0] & 0x0f;
	d->fin = d->hdr[0] & 0x80;
	memcpy(d->mask, m, 4);
	d->frame_len = len;
	d->frame_pos = 0;
	d->hdr_len = 0;
	d->hdr_need = 2;
	if (!(d->opcode & 0x08)) {
		/* Checked on the header, before a byte is buffered (§10.4). */
		have = d->opcode == SL_WS_OP_CONTINUATION ? d->msg_len : 0;
		if (len > d->max_message - have) {
			*code = SL_WS_CLOSE_TOO_BIG;
			return "message larger than the configured maximum";
		}
	}
	return NULL;
}

ssize_t sl_ws_decode(struct sl_ws_decoder *d, uint8_t *buf, size_t len, struct sl_ws_event *ev)
{
	size_t off = 0, n;
	const char *why;
	uint16_t code;

	memset(ev, 0, sizeof(*ev));
	if (d->failed)
		return fail(d, ev, d->fail_code, d->fail_why, 0);
	if (d->msg_delivered) {
		d->msg_delivered = false;
		d->msg_len = 0;
		if (d->msg_cap > WS_KEEP_BUFFER) {
			free(d->msg);
			d->msg = NULL;
			d->msg_cap = 0;
		}
	}

	for (;;) {
		if (!d->in_payload) {
			if (off == len)
				break;
			d->hdr[d->hdr_len++] = buf[off++];
			if (d->hdr_len == 2) {
				why = check_base_header(d);
				if (why)
					return fail(d, ev, SL_WS_CLOSE_PROTOCOL_ERROR, why, off);
			}
			if (d->hdr_len < 2 || d->hdr_len < d->hdr_need)
				continue;
			why = start_frame(d, &code);
			if (why)
				return fail(d, ev, code, why, off);

			/*
			 * Fast path: a control frame or a whole unfragmented
			 * message already in buf is unmasked in place and
			 * handed out from there, without a copy.
			 */
			if (d->frame_len <= len - off &&
			    ((d->opcode & 0x08) ||
			     (d->fin && d->opcode != SL_WS_OP_CONTINUATION))) {
				uint8_t *p = buf + off;

				n = (size_t)d->frame_len;
				unmask(p, n, d->mask, 0);
				off += n;
				if (d->opcode & 0x08)
					return control_event(d, ev, d->opcode, p, n, off);
				if (d->opcode == SL_WS_OP_TEXT && !sl_utf8_valid(p, n))
					return fail(d, ev, SL_WS_CLOSE_INVALID_DATA,
						    "text message is not valid UTF-8", off);
				return message_event(ev, d->opcode, p, n, off);
			}
			if (d->opcode == SL_WS_OP_TEXT || d->opcode == SL_WS_OP_BINARY) {
				d->in_message = true;
				d->msg_opcode = d->opcode;
				d->msg_len = 0;
				memset(&d->utf8, 0, sizeof(d->utf8));
			}
			d->in_payload = true;
		}

		n = len - off;
		if (n > d->frame_len - d->frame_pos)
			n = (size_t)(d->frame_len - d->frame_pos);
		unmask(buf + off, n, d->mask, d->frame_pos);
		if (d->opcode & 0x08) {
			memcpy(d->ctl + d->frame_pos, buf + off, n);
		} else if (n) {
			if (d->msg_len + n > d->msg_cap && grow_message(d, d->msg_len + n))
				return fail(d, ev, SL_WS_CLOSE_INTERNAL_ERROR, "out of memory",
					    off);
			/* §8.1: fail as soon as the text stops being UTF-8. */
			if (d->msg_opcode == SL_WS_OP_TEXT && !sl_utf8_feed(&d->utf8, buf + off, n))
				return fail(d, ev, SL_WS_CLOSE_INVALID_DATA,
					    "text message is not valid UTF-8", off + n);
			memcpy(d->msg + d->msg_len, buf + off, n);
			d->msg_len += n;
		}
		off += n;
		d->frame_pos += n;
		if (d->frame_pos < d->frame_len)
			break;

		d->in_payload = false;
		if (d->opcode & 0x08)
			return control_event(d, ev, d->opcode, d->ctl, (size_t)d->frame_len, off);
		if (!d->fin)
			continue;
		d->in_message = false;
		if (d->msg_opcode == SL_WS_OP_TEXT && !sl_utf8_complete(&d->utf8))
			return fail(d, ev, SL_WS_CLOSE_INVALID_DATA,
				    "text message ends inside a UTF-8 character", off);
		d->msg_delivered = true;
		return message_event(ev, d->msg_opcode, d->msg, d->msg_len, off);
	}
	ev->type = SL_WS_EV_NEED_MORE;
	return (ssize_t)off;
}
