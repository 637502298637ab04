#!/bin/sh
# Refused options are named as typed: a long option whole, a short one by its letter even inside
# a cluster ("-jx"), where getopt has not stepped past the argument yet (the message used to
# name the argument before it: the command itself), in every command; over-long list and number
# values are refused, not cut.
# Usage: cli_options.sh SPARSECL_BINARY
set -u
bin=$1
fails=0
checks=0

expect() { # expect NEEDLE ARGS...: exit code 2 and NEEDLE in stderr
    needle=$1
    shift
    err=$("$bin" "$@" 2>&1 >/dev/null)
    rc=$?
    checks=$((checks + 1))
    if [ "$rc" -ne 2 ] || ! printf '%s' "$err" | grep -qF -- "$needle"; then
        echo "FAIL: sparsecl $*: exit $rc, expected 2 and '$needle' in:"
        echo "$err" | sed 's/^/    /'
        fails=$((fails + 1))
    fi
}

expect "unknown option '-x'" info -xy
expect "unknown option '-x'" info -x
expect "unknown option '-x'" info --json -xy
expect "unknown option '-x'" info extra -xy
expect "unknown option '-j'" devices -jx
expect "unknown option '--frob'" devices --frob
expect "unknown option '--json=1'" info --json=1
expect "unexpected argument 'extra'" info --json extra
expect "option '-q'" attend -qz
expect "option '-q'" bench -qz
expect "option '-x'" block -xh
expect "option '-x'" report -xh
expect "option '-x'" tune -xh
expect "option '-x'" peak -xj
expect "option '--frob'" tune --frob
expect "not valid with --suite" bench --suite quick -qz
expect "unknown option '-x'" pattern causal --seq 64 -xj
expect "unknown option '--json=2'" pattern causal --seq 64 --json=2
expect "option '--seq' needs a value" pattern causal --seq
expect "not valid with --suite" bench --suite quick --no-peak=1
long=$(printf '64,%.0s' $(seq 1 100))64
expect "--dim: list too long" tune --dim "$long"
expect "is not a number of seconds" tune --budget "$(printf '1%.0s' $(seq 1 80))s"

echo "cli_options: $checks checks, $fails failures"
[ "$fails" -eq 0 ]
