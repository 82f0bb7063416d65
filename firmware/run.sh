#!/usr/bin/env bash
# The firmware run: arkwire's no-alloc client on an emulated Cortex-M4
# (qemu-system-arm -machine mps2-an386) makes real calls to `arkwire serve`.
#
#   arkwire serve  <-TCP->  bridge.py  <-TCP->  qemu chardev = UART0  <->  firmware
#
# Builds the firmware (firmware/target) and the server (target/release, or
# the binary named by ARKWIRE_BIN), starts the server on a free loopback
# port, the bridge, then qemu. The firmware prints each call's result by
# semihosting and exits through semihosting: this script exits with qemu's
# status (non-zero when any call was wrong, on a panic or a fault, or when
# the run takes longer than ARKWIRE_QEMU_TIMEOUT seconds, default 60).
#
# Without qemu-system-arm (or the program ARKWIRE_QEMU names), python3 or
# the thumbv7em-none-eabihf target it prints SKIP and exits 0, unless
# ARKWIRE_REQUIRE_QEMU=1 (as in CI): then that is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

# A missing prerequisite is a SKIP, or a failure under ARKWIRE_REQUIRE_QEMU=1.
missing() {
    if [ "${ARKWIRE_REQUIRE_QEMU:-0}" = 1 ]; then
        echo "firmware run: $1 (ARKWIRE_REQUIRE_QEMU=1)" >&2
        exit 1
    fi
    echo "SKIP: $1; the firmware run did not run"
    exit 0
}
QEMU="${ARKWIRE_QEMU:-qemu-system-arm}"
command -v "$QEMU" >/dev/null \
    || missing "qemu-system-arm not found (Debian: apt-get install qemu-system-arm)"
command -v python3 >/dev/null || missing "python3 (the bridge) not found"
if command -v rustup >/dev/null \
    && ! rustup target list --installed 2>/dev/null | grep -qx thumbv7em-none-eabihf; then
    rustup target add thumbv7em-none-eabihf \
        || missing "rustup could not install thumbv7em-none-eabihf"
fi

echo "firmware run: building the firmware"
(cd firmware && cargo build --release --quiet)
ELF="$ROOT/firmware/target/thumbv7em-none-eabihf/release/arkwire-firmware"

SERVER="${ARKWIRE_BIN:-}"
if [ -z "$SERVER" ]; then
    echo "firmware run: building arkwire serve"
    cargo build --release --quiet --bin arkwire
    SERVER="$ROOT/target/release/arkwire"
fi

WORK="$(mktemp -d)"
SERVER_PID=""
BRIDGE_PID=""
cleanup() {
    [ -n "$BRIDGE_PID" ] && kill "$BRIDGE_PID" 2>/dev/null || true
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# Waits up to 10 s for a line matching $2 in file $1 and prints its last field.
wait_for() {
    local i
    for i in $(seq 100); do
        if grep -q "$2" "$1" 2>/dev/null; then
            grep -m1 "$2" "$1" | awk '{print $NF}'
            return 0
        fi
        sleep 0.1
    done
    echo "firmware run: no '$2' in $1:" >&2
    cat "$1" >&2
    return 1
}

"$SERVER" serve --listen 127.0.0.1:0 --threads 1 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
ADDR="$(wait_for "$WORK/server.log" "listening on")"
echo "firmware run: arkwire serve on $ADDR"

python3 -u firmware/bridge.py "$ADDR" >"$WORK/bridge.log" 2>&1 &
BRIDGE_PID=$!
PORT="$(wait_for "$WORK/bridge.log" "bridge: listening on")"
echo "firmware run: bridge on 127.0.0.1:$PORT"

echo "firmware run: qemu-system-arm -machine mps2-an386"
started=$EPOCHREALTIME
status=0
# nodelay: one UART byte at a time would otherwise wait on Nagle and
# delayed ACKs (some 40 ms per call).
timeout "${ARKWIRE_QEMU_TIMEOUT:-60}" "$QEMU" \
    -machine mps2-an386 \
    -nographic -monitor none \
    -semihosting-config enable=on,target=native \
    -chardev "socket,id=pipe,host=127.0.0.1,port=$PORT,nodelay=on" \
    -serial chardev:pipe \
    -kernel "$ELF" || status=$?
elapsed=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

# The bridge ends when qemu's side of the socket closes.
for _ in $(seq 20); do
    grep -q "device->server" "$WORK/bridge.log" && break
    sleep 0.1
done
grep -v "listening on" "$WORK/bridge.log" || true
if [ "$status" = 124 ]; then
    echo "firmware run: qemu did not finish in ${ARKWIRE_QEMU_TIMEOUT:-60} s" >&2
fi
if [ "$status" != 0 ]; then
    echo "firmware run: FAILED (qemu exit status $status) after ${elapsed} s" >&2
    echo "--- arkwire serve log" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi
echo "firmware run: passed; qemu ran ${elapsed} s"
