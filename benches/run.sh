#!/usr/bin/env bash
# Benchmarks of arkwire against tonic, grpcio, nghttpd, h2o, prost and plain-TCP
# floors, the proxy against ZeroMQ floors in Rust and pyzmq (calls, and arrays),
# plus the embedded footprint. Prints one markdown table.
#
#   bash benches/run.sh               # the full run: ROUNDS=5 (about 30 minutes on 2 cores)
#   ROUNDS=3 bash benches/run.sh      # fewer rounds
#   QUICK=1 bash benches/run.sh       # 2 rounds, small counts, 128 MiB for 1 GiB: a smoke test
#   ONLY=tls bash benches/run.sh      # only the TLS rows (h), ROUNDS_TLS rounds (default 3)
#   ONLY=a,f bash benches/run.sh      # only these sections (a b c d e f g h)
#
# Every figure is measured in ROUNDS interleaved rounds: in each round every
# peer of a row runs once, in an order that reverses every other round, so
# drift (the other processes on the shared cores) hits all alike. Results
# are `name value round` lines; benches/table.py prints for each row the
# median and the spread (min..max) over the rounds of both figures and of
# the per-round ratio. The 1 GiB rows run min(ROUNDS, 3) rounds.
#
# Loopback only. Servers run with one thread (`arkwire serve --threads 1`,
# tonic on a current_thread runtime, nghttpd -n 1, h2o num-threads 1) so the
# client has the other core. Not run by CI (too slow); .ci/run only compiles
# the root benches.
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
    ROUNDS=${ROUNDS:-2}
    WARM=200 CALLS=2000 H2N=5000 INFLIGHT_CALLS=5000 REPS_8=2 REPS_64=1
    CRIT="--warm-up-time 0.5 --measurement-time 1" ARRAY_ROUNDS=3 GIB=${GIB:-128}
else
    ROUNDS=${ROUNDS:-5}
    WARM=2000 CALLS=20000 H2N=50000 INFLIGHT_CALLS=50000 REPS_8=3 REPS_64=2
    CRIT="--warm-up-time 1 --measurement-time 3" ARRAY_ROUNDS=9 GIB=${GIB:-1024}
fi
ROUNDS_BIG=$((ROUNDS < 3 ? ROUNDS : 3))
if [[ ${ONLY:-} == tls ]]; then ONLY=h; fi
# want SECTION: whether ONLY (comma-separated section letters) selects it.
want() { [[ -z ${ONLY:-} || ,${ONLY}, == *",$1,"* ]]; }
# order ROUND PEER...: the peers in this round's order (reversed every other round).
order() {
    local r=$1
    shift
    if ((r % 2)); then printf '%s\n' "$@"; else printf '%s\n' "$@" | tac; fi
}

step "build (release)"
cargo build --release --quiet --bin arkwire
cargo build --release --quiet -p arkwire-bench
if want e; then (cd benches/footprint && cargo build --release --quiet --target thumbv7em-none-eabihf); fi
if want g; then cargo build --release --quiet -p arkwire-capi; fi

step "tools: h2load, nghttpd, h2o, grpcio, pyzmq, numpy"
# apt_need CMD PACKAGE: installs the Debian PACKAGE when CMD is missing.
apt_need() {
    command -v "$1" >/dev/null && return 0
    apt-get install -y -qq "$2" >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }
    command -v "$1" >/dev/null || { echo "cannot install $2 (for $1)" >&2; exit 1; }
}
apt_need h2load nghttp2-client
apt_need nghttpd nghttp2-server
apt_need h2o h2o
python3 -c 'import grpc, grpc_tools' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check grpcio grpcio-tools
python3 -c 'import zmq' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check pyzmq
python3 -c 'import numpy' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check numpy

# start NAME CMD...: runs a server in the background and sets ADDR from the
# "listening on ADDR" line it prints first; SERVER_PID is its pid.
start() {
    local name=$1 out=$WORK/$1.out
    shift
    # Emptied here, not by the background redirection, so a previous
    # server's address is never read.
    : >"$out"
    "$@" >>"$out" 2>"$WORK/$name.err" &
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
# start_port NAME PORT CMD...: a server that prints no address: waits until
# PORT takes connections; sets ADDR and SERVER_PID.
start_port() {
    local name=$1 port=$2
    shift 2
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    ADDR=127.0.0.1:$port
    for _ in $(seq 1 200); do
        if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "$name did not start:" >&2
    cat "$WORK/$name.out" "$WORK/$name.err" >&2
    exit 1
}
stop() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# collect CMD...: runs a driver and keeps its RESULT lines as `name value
# ROUND` (a line that names its round already keeps it); a failing driver
# ends the run.
ROUND=1
collect() {
    "$@" >"$WORK/driver.out" || { echo "driver failed: $*" >&2; cat "$WORK/driver.out" >&2; exit 1; }
    sed -n 's/^RESULT //p' "$WORK/driver.out" | awk -v r="$ROUND" 'NF == 2 { print $0, r; next } { print }' \
        | tee -a "$RES" >&2
}

LIMIT=$((80 * 1024 * 1024))
BIG_LIMIT=$(((GIB + 64) * 1024 * 1024))
start_arkwire() { start arkwire "$REL/arkwire" serve --listen 127.0.0.1:0 --threads 1 --max-message-size "$LIMIT"; }
start_tonic() { start tonic "$REL/tonic-server" --listen 127.0.0.1:0 --threads 1 --max-message-size "$LIMIT"; }

BODY=$WORK/connect.grpc
# The 5-byte gRPC prefix (uncompressed, length 36) and the connect request.
printf '\x00\x00\x00\x00\x24\x0a\x06kjyost\x1a\x07connect\x22\x06STRING\x28\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01' >"$BODY"
[[ $(wc -c <"$BODY") == 41 ]] || { echo "bad body file" >&2; exit 1; }
# h2load_run NAME CONNS [SCHEME [KEY [STREAMS [N [get]]]]]: KEY names the
# result (default h2load.cCONNS.NAME); STREAMS is -m (64), N is -n (H2N);
# `get` sends a GET of /static instead of the gRPC POST.
h2load_run() {
    local m=${5:-64} n=${6:-$H2N} log=$WORK/h2load.$1.$2.${3:-http}.log
    local req=(-d "$BODY" -H 'content-type: application/grpc' -H 'te: trailers')
    local url="${3:-http}://$ADDR/arkouda.Arkouda/HandleRequest"
    if [[ ${7:-} == get ]]; then
        req=()
        url="${3:-http}://$ADDR/static"
    fi
    h2load -n "$n" -c "$2" -m "$m" -t 1 "${req[@]}" "$url" >"$log" 2>&1 || true
    local rps ok
    rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$log")
    ok=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$log")
    if [[ $ok != "$n" ]]; then
        echo "h2load against $1: only $ok of $n succeeded" >&2
        cat "$log" >&2
        exit 1
    fi
    echo "${4:-h2load.c$2.$1} $rps $ROUND" | tee -a "$RES" >&2
}

if want a; then
    step "a. sequential unary calls ($WARM warm + $CALLS measured; grpcio a quarter of that), $ROUNDS rounds"
    for ROUND in $(seq 1 "$ROUNDS"); do
        for peer in $(order "$ROUND" arkwire tonic grpcio tcp); do
            case $peer in
            arkwire)
                start_arkwire
                collect "$REL/arkwire-client" --addr "$ADDR" --name seq.arkwire --mode seq --warm "$WARM" --calls "$CALLS"
                stop ;;
            tonic)
                start_tonic
                collect "$REL/tonic-client" --addr "$ADDR" --name seq.tonic --mode seq --warm "$WARM" --calls "$CALLS"
                stop ;;
            grpcio)
                start grpcio python3 benches/grpcio_server.py --port 0
                collect python3 benches/grpcio_client.py --addr "$ADDR" --name seq.grpcio \
                    --warm $((WARM / 4)) --calls $((CALLS / 4))
                stop ;;
            tcp)
                collect "$REL/tcp-pingpong" --name seq.tcp --warm "$WARM" --calls "$CALLS" ;;
            esac
        done
    done
fi

if want b; then
    step "b. many streams: h2load -c 1/4/16 -m 1/64 -t 1 against arkwire, tonic, nghttpd, h2o; 64 in flight; $ROUNDS rounds"
    DOCS=$WORK/docs
    mkdir -p "$DOCS/arkouda.Arkouda"
    # nghttpd answers the gRPC POST with a file the size of the gRPC reply
    # (160 bytes); h2o serves the same file to a static GET.
    head -c 160 /dev/zero | tr '\0' x >"$DOCS/arkouda.Arkouda/HandleRequest"
    cp "$DOCS/arkouda.Arkouda/HandleRequest" "$DOCS/static"
    for ROUND in $(seq 1 "$ROUNDS"); do
        for server in $(order "$ROUND" arkwire tonic nghttpd h2o); do
            get=
            case $server in
            arkwire) start_arkwire ;;
            tonic) start_tonic ;;
            nghttpd)
                port=$(free_port)
                start_port nghttpd "$port" nghttpd --no-tls -n 1 -d "$DOCS" "$port" ;;
            h2o)
                port=$(free_port)
                # Run as ourselves (as root h2o would switch to nobody, who
                # cannot read the private work directory).
                printf 'user: %s\nlisten:\n  host: 127.0.0.1\n  port: %s\nnum-threads: 1\nhosts:\n  default:\n    paths:\n      /:\n        file.dir: %s\n' \
                    "$(id -un)" "$port" "$DOCS" >"$WORK/h2o.conf"
                start_port h2o "$port" h2o -c "$WORK/h2o.conf"
                get=get ;;
            esac
            for c in 1 4 16; do
                h2load_run "$server" "$c" http "h2load.c$c.m64.$server" 64 "$H2N" "$get"
                h2load_run "$server" "$c" http "h2load.c$c.m1.$server" 1 $((H2N / 5)) "$get"
            done
            if [[ $server == arkwire || $server == tonic ]]; then
                collect "$REL/arkwire-client" --addr "$ADDR" --name "inflight.arkwire_to_$server" \
                    --mode inflight --inflight 64 --calls "$INFLIGHT_CALLS"
                collect "$REL/tonic-client" --addr "$ADDR" --name "inflight.tonic_to_$server" \
                    --mode inflight --inflight 64 --calls "$INFLIGHT_CALLS"
            fi
            stop
        done
    done
fi

if want c; then
    step "c. large messages: noop uploads (a binary payload), bytes-N payload downloads, 8 / 64 / $GIB MiB, arkwire vs tonic vs plain TCP"
    for size in 8 64 "$GIB"; do
        reps=$REPS_8 rounds=$ROUNDS
        if ((size == 64)); then reps=$REPS_64; fi
        if ((size > 64)); then reps=1 rounds=$ROUNDS_BIG; fi
        bytes=$((size * 1024 * 1024))
        for ROUND in $(seq 1 "$rounds"); do
            for peer in $(order "$ROUND" arkwire tonic tcp); do
                for dir in up down; do
                    case $peer in
                    arkwire)
                        start payload "$REL/arkwire-payload-server" --listen 127.0.0.1:0 --threads 1 --max-message-size "$BIG_LIMIT"
                        collect "$REL/arkwire-client" --addr "$ADDR" --name "large$size.$dir.arkwire" --mode "$dir" \
                            --size "$bytes" --reps "$reps" --max-message-size "$BIG_LIMIT"
                        stop ;;
                    tonic)
                        start tonic "$REL/tonic-server" --listen 127.0.0.1:0 --threads 1 --max-message-size "$BIG_LIMIT"
                        collect "$REL/tonic-client" --addr "$ADDR" --name "large$size.$dir.tonic" --mode "$dir" \
                            --size "$bytes" --reps "$reps" --max-message-size "$BIG_LIMIT"
                        stop ;;
                    tcp)
                        collect "$REL/tcp-stream" --name "large$size.$dir.tcp" --mode "$dir" --size "$bytes" --reps "$reps" ;;
                    esac
                done
            done
        done
    done
fi

if want d; then
    ROUND=1
    step "d. codec: criterion (views vs prost) and allocations per message"
    # shellcheck disable=SC2086
    cargo bench --quiet --bench codec -- $CRIT >"$WORK/codec.txt" 2>&1 || { cat "$WORK/codec.txt" >&2; exit 1; }
    python3 - "$WORK/codec.txt" <<'PY' | awk '{ print $0, 1 }' | tee -a "$RES" >&2
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
    collect "$REL/codec-allocs"
fi

if want e; then
    ROUND=1
    step "e. footprint: thumbv7em client program, RAM per connection, allocations per call"
    ELF=$CARGO_TARGET_DIR/thumbv7em-none-eabihf/release/arkwire-footprint
    python3 benches/footprint/size.py "$ELF" | awk '{ print $0, 1 }' | tee -a "$RES" >&2
    if command -v llvm-nm >/dev/null; then
        # The failing allocator must be unreachable: no allocation in the no-alloc tier.
        if llvm-nm "$ELF" | grep -q 'NoHeap\|__rust_alloc\b\|__rdl_alloc'; then
            echo "footprint: the allocator is still linked: something allocates" >&2
            exit 1
        fi
        echo "footprint: no allocator code linked" >&2
    fi
    "$REL/footprint" >"$WORK/footprint.txt"
    sed -n 's/^RESULT //p' "$WORK/footprint.txt" | awk '{ print $0, 1 }' >>"$RES"
    grep -v '^RESULT' "$WORK/footprint.txt" >&2
fi

if want f; then
    step "f. the proxy: serve --upstream before the fake arkouda_server (pyzmq REP) vs direct ZeroMQ (Rust, pyzmq), 1/16/64 in flight, $ROUNDS rounds"
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
    PYCALLS=$((CALLS / 4))
    for ROUND in $(seq 1 "$ROUNDS"); do
        # As many upstream connections, workers and calls in flight to the
        # upstream as the direct floor opens connections (64), so the rows
        # measure the proxy, not a cap of 4 calls against 64 connections.
        start proxy "$REL/arkwire" serve --listen 127.0.0.1:0 --threads 1 \
            --upstream "tcp://127.0.0.1:$ZPORT" --upstream-pool 64 --workers 64 \
            --upstream-max-inflight 64
        for peer in $(order "$ROUND" arkwire tonic zmtp pyzmq tcp); do
            case $peer in
            arkwire) collect "$REL/arkwire-client" --addr "$ADDR" --name proxy.seq.arkwire --mode seq --warm "$WARM" --calls "$CALLS" ;;
            tonic) collect "$REL/tonic-client" --addr "$ADDR" --name proxy.seq.tonic --mode seq --warm "$WARM" --calls "$CALLS" ;;
            zmtp) collect "$REL/zmtp-req-client" --port "$ZPORT" --name zmq.seq.rust --warm "$WARM" --calls "$CALLS" ;;
            pyzmq) collect python3 benches/zmq_floor.py --port "$ZPORT" --name zmq.seq.pyzmq --warm $((WARM / 4)) --calls "$PYCALLS" ;;
            tcp) collect "$REL/tcp-pingpong" --name proxy.seq.tcp --warm "$WARM" --calls "$CALLS" ;;
            esac
        done
        for k in 16 64; do
            for peer in $(order "$ROUND" arkwire tonic zmtp pyzmq); do
                case $peer in
                arkwire) collect "$REL/arkwire-client" --addr "$ADDR" --name "proxy.k$k.arkwire" --mode inflight --inflight "$k" --calls "$CALLS" ;;
                tonic) collect "$REL/tonic-client" --addr "$ADDR" --name "proxy.k$k.tonic" --mode inflight --inflight "$k" --calls "$CALLS" ;;
                zmtp) collect "$REL/zmtp-req-client" --port "$ZPORT" --name "zmq.k$k.rust" --conns "$k" --warm "$WARM" --calls "$CALLS" ;;
                pyzmq) collect python3 benches/zmq_floor.py --port "$ZPORT" --name "zmq.k$k.pyzmq" --inflight "$k" \
                    --warm $((WARM / 4)) --calls "$PYCALLS" ;;
                esac
            done
        done
        stop
    done
    exec 9>&-
fi

if want g; then
    step "g. arrays through serve --upstream vs pyzmq straight to a stand-in arkouda_server: 16 MiB (ArkwireChannel), $GIB MiB (net::Session)"
    ROUND=1
    collect python3 benches/arkouda_arrays.py --arkwire "$REL/arkwire" --lib "$REL/libarkwire.so" \
        --rounds "$ARRAY_ROUNDS" --mib 16 --raw
    collect python3 benches/arkouda_arrays.py --arkwire "$REL/arkwire" --lib "$REL/libarkwire.so" \
        --rounds "$ROUNDS_BIG" --mib "$GIB" --client rust --arrays-bin "$REL/arkwire-arrays" --tag _big --raw
fi

# h. TLS: the same servers with a certificate (openssl: a CA and a leaf
# for localhost/127.0.0.1, ECDSA P-256), each side over rustls with ring;
# h2load speaks TLS with ALPN h2. Rounds alternate the servers.
if want h; then
    step "h. TLS: sequential calls and h2load over TLS, arkwire serve vs tonic-server (${ROUNDS_TLS:-3} rounds)"
    dir=$WORK/tls
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=bench-ca -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$dir/ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/ext" -out "$dir/server.pem" 2>/dev/null
    tls=(--tls-cert "$dir/server.pem" --tls-key "$dir/server.key")
    for ROUND in $(seq 1 "${ROUNDS_TLS:-3}"); do
        for server in $(order "$ROUND" arkwire tonic); do
            if [[ $server == arkwire ]]; then
                start arkwire "$REL/arkwire" serve --listen 127.0.0.1:0 --threads 1 --max-message-size "$LIMIT" "${tls[@]}"
            else
                start tonic "$REL/tonic-server" --listen 127.0.0.1:0 --threads 1 --max-message-size "$LIMIT" "${tls[@]}"
            fi
            collect "$REL/$server-client" --addr "$ADDR" --tls-ca "$dir/ca.pem" --name "tls.seq.$server" \
                --mode seq --warm "$WARM" --calls "$CALLS"
            h2load_run "$server" 1 https "tls.h2load.c1.$server"
            h2load_run "$server" 4 https "tls.h2load.c4.$server"
            stop
        done
    done
fi

step "table"
cp "$RES" "${KEEP_RESULTS:-/dev/null}" 2>/dev/null || true
python3 benches/table.py "$RES" "$GIB"
