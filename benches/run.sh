#!/usr/bin/env bash
# Benchmarks of arkwire against tonic, grpcio, prost and a plain-TCP floor,
# the proxy against ZeroMQ (calls, and 16 MiB arrays), plus the embedded footprint. Prints one markdown table.
#
#   bash benches/run.sh            # the full run (about 5 minutes on 2 cores)
#   QUICK=1 bash benches/run.sh    # smaller counts, a smoke test of the script
#   ONLY=tls bash benches/run.sh   # only the TLS rows (h.), ROUNDS_TLS rounds (default 3)
#
# Loopback only. Servers run with one thread (`arkwire serve --threads 1`,
# tonic on a current_thread runtime) so each side has one core for its client.
# Not run by CI (too slow); .ci/run only compiles the root benches.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
REL=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d)
RES=$WORK/results.txt
: >"$RES"
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '==> %s\n' "$*" >&2; }

if [[ ${QUICK:-0} == 1 ]]; then
    WARM=200 CALLS=2000 H2N=5000 INFLIGHT_CALLS=5000 REPS_8=2 REPS_64=1 CRIT="--warm-up-time 0.5 --measurement-time 1"
else
    WARM=2000 CALLS=20000 H2N=50000 INFLIGHT_CALLS=50000 REPS_8=5 REPS_64=3 CRIT="--warm-up-time 1 --measurement-time 3"
fi

step "build (release)"
cargo build --release --quiet --bin arkwire
cargo build --release --quiet -p arkwire-bench
[[ ${ONLY:-} == tls ]] || (cd benches/footprint && cargo build --release --quiet --target thumbv7em-none-eabihf)

step "tools: h2load, grpcio"
if ! command -v h2load >/dev/null; then
    apt-get install -y -qq nghttp2-client >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq nghttp2-client >/dev/null; }
fi
python3 -c 'import grpc, grpc_tools' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check grpcio grpcio-tools

# start NAME CMD...: runs a server in the background and sets ADDR from the
# "listening on ADDR" line it prints first; SERVER_PID is its pid.
start() {
    local name=$1 out=$WORK/$1.out
    shift
    "$@" >"$out" 2>"$WORK/$name.err" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 1 200); do
        ADDR=$(sed -n 's/.*listening on //p' "$out" | head -1)
        [[ -n $ADDR ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "$name did not start:" >&2
    cat "$WORK/$name.err" >&2
    exit 1
}
stop() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}
# collect CMD...: runs a driver, keeps its RESULT lines.
collect() { "$@" | sed -n 's/^RESULT //p' | tee -a "$RES" >&2; }

LIMIT=$((80 * 1024 * 1024))
start_arkwire() { start arkwire "$REL/arkwire" serve --listen 127.0.0.1:0 --threads 1 --max-message-size "$LIMIT"; }
start_tonic() { start tonic "$REL/tonic-server" --listen 127.0.0.1:0 --threads 1 --max-message-size "$LIMIT"; }

BODY=$WORK/connect.grpc
# The 5-byte gRPC prefix (uncompressed, length 36) and the connect request.
printf '\x00\x00\x00\x00\x24\x0a\x06kjyost\x1a\x07connect\x22\x06STRING\x28\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01' >"$BODY"
[[ $(wc -c <"$BODY") == 41 ]] || { echo "bad body file" >&2; exit 1; }
h2load_run() { # NAME CONNS [SCHEME [KEY]]: KEY names the result (default h2load.cCONNS.NAME)
    local log=$WORK/h2load.$1.$2.${3:-http}.log
    h2load -n "$H2N" -c "$2" -m 64 -t 1 -d "$BODY" \
        -H 'content-type: application/grpc' -H 'te: trailers' \
        "${3:-http}://$ADDR/arkouda.Arkouda/HandleRequest" >"$log" 2>&1
    local rps ok
    rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$log")
    ok=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$log")
    if [[ $ok != "$H2N" ]]; then
        echo "h2load against $1: only $ok of $H2N succeeded" >&2
        cat "$log" >&2
        exit 1
    fi
    echo "${4:-h2load.c$2.$1} $rps" | tee -a "$RES" >&2
}

# h. TLS: the same servers with a certificate (openssl: a CA and a leaf
# for localhost/127.0.0.1, ECDSA P-256), each side over rustls with ring;
# h2load speaks TLS with ALPN h2. Rounds alternate the servers; each value
# is the median over the rounds.
tls_rows() {
    local dir=$WORK/tls
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=bench-ca -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$dir/ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/ext" -out "$dir/server.pem" 2>/dev/null
    local tls=(--tls-cert "$dir/server.pem" --tls-key "$dir/server.key")
    local rounds=${ROUNDS_TLS:-3} raw=$WORK/tls.raw i server
    : >"$raw"
    for i in $(seq 1 "$rounds"); do
        for server in arkwire tonic; do
            if [[ $server == arkwire ]]; then
                start arkwire "$REL/arkwire" serve --listen 127.0.0.1:0 --threads 1 --max-message-size "$LIMIT" "${tls[@]}"
            else
                start tonic "$REL/tonic-server" --listen 127.0.0.1:0 --threads 1 --max-message-size "$LIMIT" "${tls[@]}"
            fi
            "$REL/$server-client" --addr "$ADDR" --tls-ca "$dir/ca.pem" --name "tls.seq.$server" \
                --mode seq --warm "$WARM" --calls "$CALLS" | sed -n 's/^RESULT //p' >>"$raw"
            RES=$raw h2load_run "$server" 1 https "tls.h2load.c1.$server"
            RES=$raw h2load_run "$server" 4 https "tls.h2load.c4.$server"
            stop
        done
    done
    # The median of each name over the rounds.
    python3 - "$raw" >>"$RES" <<'PY'
import statistics, sys
vals = {}
for line in open(sys.argv[1], encoding="utf-8"):
    name, value = line.split()
    vals.setdefault(name, []).append(float(value))
for name, v in vals.items():
    print(f"{name} {statistics.median(v):.2f}")
PY
    grep '^tls\.' "$RES" >&2
}

if [[ ${ONLY:-} == tls ]]; then
    step "h. TLS only: sequential calls and h2load over TLS, arkwire serve vs tonic-server (${ROUNDS_TLS:-3} rounds)"
    tls_rows
    step "table"
    python3 benches/table.py "$RES"
    exit 0
fi

step "a. sequential unary calls ($WARM warm + $CALLS measured)"
start_arkwire
collect "$REL/arkwire-client" --addr "$ADDR" --name seq.arkwire --mode seq --warm "$WARM" --calls "$CALLS"
stop
start_tonic
collect "$REL/tonic-client" --addr "$ADDR" --name seq.tonic --mode seq --warm "$WARM" --calls "$CALLS"
stop
start grpcio python3 benches/grpcio_server.py --port 0
collect python3 benches/grpcio_client.py --addr "$ADDR" --name seq.grpcio --warm "$WARM" --calls "$CALLS"
stop
collect "$REL/tcp-pingpong" --name seq.tcp --warm "$WARM" --calls "$CALLS"

step "b. many streams: h2load -n $H2N -m 64 -t 1, -c 1 and -c 4; 64 calls in flight"
for server in arkwire tonic; do
    "start_$server"
    h2load_run "$server" 1
    h2load_run "$server" 4
    collect "$REL/arkwire-client" --addr "$ADDR" --name "inflight.arkwire_to_$server" --mode inflight --inflight 64 --calls "$INFLIGHT_CALLS"
    collect "$REL/tonic-client" --addr "$ADDR" --name "inflight.tonic_to_$server" --mode inflight --inflight 64 --calls "$INFLIGHT_CALLS"
    stop
done

step "c. large messages: 8 MiB and 64 MiB (noop upload, echo both ways)"
for server in arkwire tonic; do
    "start_$server"
    collect "$REL/$server-client" --addr "$ADDR" --name "large8.$server" --mode large --size $((8 * 1024 * 1024)) --reps "$REPS_8"
    collect "$REL/$server-client" --addr "$ADDR" --name "large64.$server" --mode large --size $((64 * 1024 * 1024)) --reps "$REPS_64"
    stop
done

step "d. codec: criterion (views vs prost) and allocations per message"
# shellcheck disable=SC2086
cargo bench --quiet --bench codec -- $CRIT >"$WORK/codec.txt" 2>&1 || { cat "$WORK/codec.txt" >&2; exit 1; }
python3 - "$WORK/codec.txt" >>"$RES" <<'PY'
import re, sys
scale = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6}
name = None
for line in open(sys.argv[1], encoding="utf-8"):
    m = re.match(r"^(request/\S+/\S+/\S+(?: \([^)]*\))?)", line.strip())
    if m and "time:" not in line:
        name = m.group(1)
    t = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
    if t:
        if name is None:
            name = line.split("time:")[0].strip()
        key = re.sub(r"[^a-z0-9/]+", "_", name.lower()).strip("_").replace("/", ".")
        print(f"codec.{key} {float(t.group(1)) * scale[t.group(2)]:.2f}")
        name = None
PY
grep '^codec\.' "$RES" >&2
collect "$REL/codec-allocs"

step "e. footprint: thumbv7em client program, RAM per connection, allocations per call"
ELF=$CARGO_TARGET_DIR/thumbv7em-none-eabihf/release/arkwire-footprint
python3 benches/footprint/size.py "$ELF" >>"$RES"
grep '^footprint\.' "$RES" >&2
if command -v llvm-nm >/dev/null; then
    # The failing allocator must be unreachable: no allocation in the no-alloc tier.
    if llvm-nm "$ELF" | grep -q 'NoHeap\|__rust_alloc\b\|__rdl_alloc'; then
        echo "footprint: the allocator is still linked: something allocates" >&2
        exit 1
    fi
    echo "footprint: no allocator code linked" >&2
fi
"$REL/footprint" >"$WORK/footprint.txt"
sed -n 's/^RESULT //p' "$WORK/footprint.txt" >>"$RES"
grep -v '^RESULT' "$WORK/footprint.txt" >&2

step "f. proxy overhead: sequential calls through serve --upstream vs pyzmq straight to the fake arkouda_server"
python3 -c 'import zmq' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check pyzmq
# The fake server exits when its stdin closes: keep a pipe open for it.
mkfifo "$WORK/zmq.in"
python3 tests/zmtp/fake_arkouda_server.py <"$WORK/zmq.in" >"$WORK/zmq.out" 2>"$WORK/zmq.err" &
PIDS+=("$!")
exec 9>"$WORK/zmq.in"
for _ in $(seq 1 200); do
    ZPORT=$(sed -n 's/^PORT //p' "$WORK/zmq.out" | head -1)
    [[ -n $ZPORT ]] && break
    sleep 0.05
done
[[ -n ${ZPORT:-} ]] || { echo "fake arkouda_server did not start" >&2; cat "$WORK/zmq.err" >&2; exit 1; }
start proxy "$REL/arkwire" serve --listen 127.0.0.1:0 --threads 1 --upstream "tcp://127.0.0.1:$ZPORT" --upstream-pool 1
collect "$REL/arkwire-client" --addr "$ADDR" --name seq.proxy --mode seq --warm "$WARM" --calls "$CALLS"
stop
collect python3 benches/zmq_floor.py --port "$ZPORT" --name seq.zmq --warm "$WARM" --calls "$CALLS"
exec 9>&-

step "g. arrays: a 16 MiB int64 array each way through ArkwireChannel + serve --upstream vs pyzmq straight to a stand-in arkouda_server"
python3 -c 'import numpy' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check numpy
cargo build --release --quiet -p arkwire-capi
if [[ ${QUICK:-0} == 1 ]]; then ROUNDS=3; else ROUNDS=9; fi
python3 benches/arkouda_arrays.py --arkwire "$REL/arkwire" --lib "$REL/libarkwire.so" \
    --rounds "$ROUNDS" --mib 16 >"$WORK/arrays.txt"
sed -n 's/^RESULT //p' "$WORK/arrays.txt" >>"$RES"
grep -v '^RESULT' "$WORK/arrays.txt" >&2

step "h. TLS: sequential calls and h2load over TLS, arkwire serve vs tonic-server (${ROUNDS_TLS:-3} rounds)"
tls_rows

step "table"
python3 benches/table.py "$RES"
