#!/bin/sh
# Golden tests for `arbord --check` (STYLE.md 10).
#
# Each case is tests/golden/NAME.conf, or a directory tests/golden/NAME/
# holding arbor.conf and conf.d/. A case that must pass has NAME.ok, the
# expected stdout; one that must fail has NAME.err, the expected stderr
# (exit status 1). A passing case may also have NAME.warn, its expected
# stderr; without one its stderr must be empty. Every passing case is also
# round-tripped: the printed tree, read back, must print the same tree.
#
#   sh tests/golden/run.sh            run from the repository root
#   sh tests/golden/run.sh --update   rewrite the expected files
#
# ARBORD overrides the binary (default ./daemon/arbord; a relative path is
# taken from the repository root).

# Paths in the expected output are relative to the repository root.
cd "$(dirname "$0")/../.." || exit 2
arbord=${ARBORD:-./daemon/arbord}
dir=tests/golden
update=0
case ${1-} in
--update) update=1 ;;
"") ;;
*) echo "usage: sh tests/golden/run.sh [--update]" >&2; exit 2 ;;
esac

if [ ! -x "$arbord" ]; then
	echo "golden: $arbord is missing; run make first" >&2
	exit 2
fi

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM
passed=0
failed=0

# A fixed $PATH, so that a bare program name resolves the same everywhere,
# and a fixed descriptor limit, which --check prints beside the tree's need.
check() {
	(ulimit -n 4096 && PATH=/bin:/usr/bin "$arbord" --check -c "$1")
}

fail() {
	echo "FAIL $name: $1"
	failed=$((failed + 1))
}

# The printed tree with the "# default" marks dropped: once the printed
# output is read back every key is written, so only the marks may differ.
unmark() {
	sed 's/ # default$//' "$1"
}

roundtrip() {
	mkdir -p "$tmp/rt"
	cp "$tmp/out" "$tmp/rt/arbor.conf"
	if ! check "$tmp/rt/arbor.conf" >"$tmp/rt.out" 2>"$tmp/rt.err"; then
		fail "round trip: the printed tree does not load"
		cat "$tmp/rt.err"
		return 1
	fi
	unmark "$tmp/out" >"$tmp/a"
	unmark "$tmp/rt.out" >"$tmp/b"
	if ! diff -u "$tmp/a" "$tmp/b" >"$tmp/diff"; then
		fail "round trip: the printed tree reads back differently"
		cat "$tmp/diff"
		return 1
	fi
	return 0
}

# Compares file $2 (actual) with expected file $1; prints a diff.
same() {
	if [ ! -f "$1" ]; then
		fail "$1 is missing"
		return 1
	fi
	if ! diff -u "$1" "$2" >"$tmp/diff"; then
		fail "output differs from $1"
		cat "$tmp/diff"
		return 1
	fi
	return 0
}

update_case() {
	if [ "$rc" -eq 0 ]; then
		cp "$tmp/out" "$base.ok"
		rm -f "$base.err"
		if [ -s "$tmp/err" ]; then
			cp "$tmp/err" "$base.warn"
		else
			rm -f "$base.warn"
		fi
	elif [ "$rc" -eq 1 ]; then
		cp "$tmp/err" "$base.err"
		rm -f "$base.ok" "$base.warn"
	else
		fail "exit status $rc"
		cat "$tmp/err"
		return
	fi
	echo "updated $name"
	passed=$((passed + 1))
}

check_case() {
	if [ -f "$base.ok" ] && [ -f "$base.err" ]; then
		fail "has both $base.ok and $base.err"
		return
	fi
	if [ -f "$base.err" ]; then
		if [ "$rc" -ne 1 ]; then
			fail "expected exit status 1, got $rc"
			cat "$tmp/out" "$tmp/err"
			return
		fi
		same "$base.err" "$tmp/err" || return
	else
		if [ "$rc" -ne 0 ]; then
			fail "expected exit status 0, got $rc"
			cat "$tmp/err"
			return
		fi
		same "$base.ok" "$tmp/out" || return
		if [ -f "$base.warn" ]; then
			same "$base.warn" "$tmp/err" || return
		elif [ -s "$tmp/err" ]; then
			fail "unexpected stderr (add $base.warn?)"
			cat "$tmp/err"
			return
		fi
		roundtrip || return
	fi
	passed=$((passed + 1))
}

for conf in "$dir"/*.conf "$dir"/*/arbor.conf; do
	[ -f "$conf" ] || continue
	case $conf in
	*/arbor.conf) base=${conf%/arbor.conf} ;;
	*) base=${conf%.conf} ;;
	esac
	name=${base#"$dir"/}
	check "$conf" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$update" -eq 1 ]; then
		update_case
	else
		check_case
	fi
done

if [ $((passed + failed)) -eq 0 ]; then
	echo "golden: no cases found in $dir" >&2
	exit 2
fi
echo "golden: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
