// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdbool.h>
#include <stdint.h>

#include "net/marks.h"
#include "tap.h"

int main(void)
{
	struct sl_marks m = { 0 };
	uint64_t next = 100, want = 100;
	bool in_order = true;
	uint32_t i, round;

	TAP_OK(sl_marks_push(&m, 10) == 0 && sl_marks_push(&m, 20) == 0 && m.count == 2 &&
		   sl_marks_at(&m, 0) == 10 && sl_marks_at(&m, 1) == 20,
	       "push keeps the oldest first");
	sl_marks_drop_below(&m, 20);
	TAP_OK(m.count == 1 && sl_marks_at(&m, 0) == 20,
	       "drop_below forgets the marks written past");
	sl_marks_drop_below(&m, 21);
	TAP_OK(m.count == 0 && !m.at && !m.cap, "an empty ring keeps no array");

	/* Pushes and drops interleaved, across the ring's wrap and growth, 3,000 at a time. */
	for (round = 0; round < 5; round++) {
		for (i = 0; i < 3000; i++)
			sl_marks_push(&m, next += 7);
		for (i = 0; i < m.count; i += 97)
			in_order &= sl_marks_at(&m, i) == want + 7 * (i + 1);
		sl_marks_drop_below(&m, want + 7 * 2000 + 1);
		want += 7 * 2000;
	}
	TAP_OK(in_order && m.count == 5 * 1000 && sl_marks_at(&m, 0) == want + 7,
	       "growth and wrap keep every mark, in order (%u left)", m.count);
	sl_marks_free(&m);
	TAP_OK(!m.at && !m.count, "free");
	return tap_done();
}
