#!/usr/bin/env bash
# How fast the C ABI's socket tier notices a dead server: a session calls
# `sleep 20000` (30 s deadline) on `arkwire serve`, the server is killed
# (SIGKILL), and the time from the kill to the call's ARKWIRE_CLOSED is
# measured, RUNS times (default 20). Prints each time and the median, 90th
# percentile and maximum in milliseconds.
#
#   benches/ffi_failover.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
cargo build --quiet --release --features ffi --bin arkwire
cargo build --quiet --release -p arkwire-capi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${srv:-}" ] && kill "$srv" 2>/dev/null || true' EXIT
gcc -O2 -std=c11 -Iinclude tests/c/failure.c target/release/libarkwire.a \
    -lpthread -ldl -lm -o "$tmp/failure"
times=()
for i in $(seq "$RUNS"); do
    rm -f "$tmp/serve.out"
    target/release/arkwire serve --listen 127.0.0.1:0 >"$tmp/serve.out" 2>/dev/null &
    srv=$!
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$tmp/serve.out" 2>/dev/null || true)
        [ -n "$port" ] && break
        sleep 0.02
    done
    coproc PROG { exec "$tmp/failure" bench "127.0.0.1:$port"; }
    prog=$PROG_PID
    while read -r line <&"${PROG[0]}"; do
        case $line in
        "STEP kill-mid-call")
            sleep 0.2 # the call is at the server
            killed=$(date +%s%N)
            kill -9 "$srv"
            ;;
        FAILED_AT_NS*) failed=${line#FAILED_AT_NS }; break ;;
        esac
    done
    wait "$prog" || { echo "run $i: the program failed" >&2; exit 1; }
    wait "$srv" 2>/dev/null || true # reports the SIGKILL
    srv=
    ms=$(awk -v a="$killed" -v b="$failed" 'BEGIN { printf "%.2f", (b - a) / 1e6 }')
    times+=("$ms")
    echo "run $i: $ms ms"
done
printf '%s\n' "${times[@]}" | sort -n | awk '
    { v[NR] = $1 }
    END {
        p50 = v[int((NR + 1) / 2)]; p90 = v[int(NR * 0.9 + 0.5)]
        printf "detection time over %d runs: median %.2f ms, p90 %.2f ms, max %.2f ms\n", NR, p50, p90, v[NR]
    }'
