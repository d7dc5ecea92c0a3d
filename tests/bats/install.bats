#!/usr/bin/env bats
# `make install` puts the programs, man pages and bash completion in place.

REPO="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"

@test "make install (DESTDIR, PREFIX) installs binaries, man pages and completion" {
	run make -s -C "$REPO" install DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/usr
	[ "$status" -eq 0 ]
	for f in sbin/sluiced bin/sluicectl bin/sluice-bench share/man/man8/sluiced.8 \
		share/man/man8/sluicectl.8 share/bash-completion/completions/sluicectl; do
		[ -e "$BATS_TEST_TMPDIR/root/usr/$f" ]
	done
	[ -x "$BATS_TEST_TMPDIR/root/usr/sbin/sluiced" ]
	# the man pages render without groff warnings
	run bash -c "MANWIDTH=80 man --warnings -l '$BATS_TEST_TMPDIR/root/usr/share/man/man8/sluicectl.8' 2>&1 >/dev/null"
	[ -z "$output" ]
	# completion offers objects, then commands
	run bash -c "source '$BATS_TEST_TMPDIR/root/usr/share/bash-completion/completions/sluicectl'
COMP_WORDS=(sluicectl ap); COMP_CWORD=1; _sluicectl; echo \${COMPREPLY[@]}
COMP_WORDS=(sluicectl app u); COMP_CWORD=2; _sluicectl; echo \${COMPREPLY[@]}"
	[ "${lines[0]}" = app ]
	[ "${lines[1]}" = usage ]
}
