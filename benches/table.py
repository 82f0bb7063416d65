#!/usr/bin/env python3
"""Turns the `name value round` lines benches/run.sh collected into one
markdown table: for every row the median and the spread (min..max) over the
rounds of our figure, of the peer's, and of the per-round ratio (ours / peer,
computed within each round, so drift between rounds cancels).

Usage: table.py RESULTS [GIB]   (GIB: the size in MiB of the "1 GiB" rows, 1024)
"""

import statistics
import sys

vals = {}  # name -> {round: value}
for line in open(sys.argv[1], encoding="utf-8"):
    parts = line.split()
    if len(parts) == 3:
        vals.setdefault(parts[0], {})[parts[2]] = float(parts[1])
    elif len(parts) == 2:
        vals.setdefault(parts[0], {})["1"] = float(parts[1])
GIB = sys.argv[2] if len(sys.argv) > 2 else "1024"
GIB_TEXT = "1 GiB" if GIB == "1024" else f"{GIB} MiB"

rows = []


def num(v, unit=""):
    if abs(v) >= 1000:
        text = f"{v:,.0f}"
    elif abs(v) >= 10:
        text = f"{v:.1f}"
    else:
        text = f"{v:.2f}"
    return f"{text} {unit}".strip()


def spread(v, unit="", suffix=""):
    """`median (min..max)` of a list, or — when empty."""
    if not v:
        return "—"
    med = statistics.median(v)
    if len(v) == 1:
        return num(med, unit) + suffix
    return f"{num(med, unit)}{suffix} ({num(min(v))}..{num(max(v))})"


def series(name):
    return vals.get(name, {})


def per_round(f, *names):
    """f(values...) for every round in which all names have a value."""
    maps = [series(n) for n in names]
    rounds = set(maps[0]) if maps else set()
    for m in maps[1:]:
        rounds &= set(m)
    out = []
    for r in sorted(rounds, key=int):
        try:
            out.append(f(*(m[r] for m in maps)))
        except ZeroDivisionError:
            pass
    return out


def row(what, ours, peer, unit, peer_name, target="—", need=None, lower=False, note=""):
    """A row of ours against a peer: both figures and the ratio ours/peer
    (per round); `need` bounds the median ratio (≤ if `lower`, else ≥)."""
    a, b = list(series(ours).values()), list(series(peer).values())
    ratio = per_round(lambda x, y: x / y, ours, peer)
    met = "—"
    if need is not None and ratio:
        med = statistics.median(ratio)
        met = "yes" if (med <= need if lower else med >= need) else "**no**"
    rows.append((what, spread(a, unit), spread(b, unit) + (f" ({peer_name})" if b else ""),
                 spread(ratio, suffix="×"), target, met, note))


def derived(what, values, target, need, lower, note, ours_text="—", peer_text="—"):
    met = "—"
    if need is not None and values:
        med = statistics.median(values)
        met = "yes" if (med <= need if lower else med >= need) else "**no**"
    rows.append((what, ours_text, peer_text, spread(values, suffix="×"), target, met, note))


def plain(what, ours, unit="", note=""):
    rows.append((what, spread(list(series(ours).values()), unit), "—", "—", "—", "—", note))


# a. sequential unary calls
SEQ = "one connection, 36-byte connect request, calls one after another"
for q, qn in (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")):
    row(f"a. sequential {qn} latency: arkwire→arkwire serve vs TCP ping-pong floor", f"seq.arkwire.{q}",
        f"seq.tcp.{q}", "µs", "TCP", "≤ 1.1×" if q == "p50_us" else "—", 1.1 if q == "p50_us" else None, True,
        "floor: the same bytes (89 up, 160 down) over a plain socket" if q == "p50_us" else "")
for q, qn in (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")):
    row(f"a. sequential {qn} latency: arkwire vs tonic→tonic", f"seq.arkwire.{q}", f"seq.tonic.{q}", "µs",
        "tonic", note=SEQ if q == "p50_us" else "")
row("a. sequential calls/s: arkwire vs tonic", "seq.arkwire.per_s", "seq.tonic.per_s", "/s", "tonic")
for q, qn in (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")):
    row(f"a. sequential {qn} latency: arkwire vs grpcio→grpcio (Python)", f"seq.arkwire.{q}", f"seq.grpcio.{q}",
        "µs", "grpcio", note="grpcio runs a quarter of the calls" if q == "p50_us" else "")
row("a. sequential calls/s: arkwire vs TCP floor", "seq.arkwire.per_s", "seq.tcp.per_s", "/s", "TCP")

# b. many streams
for c in ("1", "4", "16"):
    for m in ("64", "1"):
        key = f"h2load.c{c}.m{m}"
        bound = c in ("1", "4") and m == "64"
        row(f"b. h2load -c {c} -m {m}, req/s: arkwire serve vs tonic-server", f"{key}.arkwire", f"{key}.tonic", "/s",
            "tonic", "≥ 4×" if bound else "—", 4 if bound else None,
            note="gRPC connect POST, both answer with builtin::answer" if (c, m) == ("1", "64") else "")
        row(f"b. h2load -c {c} -m {m}, req/s: arkwire serve vs nghttpd", f"{key}.arkwire", f"{key}.nghttpd", "/s",
            "nghttpd", "≥ 1.5×" if bound else "—", 1.5 if bound else None,
            note="nghttpd -n 1 answers the same POST with a 160-byte file" if (c, m) == ("1", "64") else "")
        row(f"b. h2load -c {c} -m {m}, req/s: arkwire serve vs h2o (static GET)", f"{key}.arkwire", f"{key}.h2o", "/s",
            "h2o", "report (goal ≥ 1×)" if m == "64" else "—",
            note="h2o (num-threads 1) serves a static GET of a 160-byte file, not gRPC" if (c, m) == ("1", "64") else "")
row("b. 64 in flight, calls/s: arkwire client→arkwire serve vs tonic→tonic", "inflight.arkwire_to_arkwire.per_s",
    "inflight.tonic_to_tonic.per_s", "/s", "tonic", note="one connection, 50000 calls")
row("b. 64 in flight, p50 latency: arkwire→arkwire vs tonic→tonic", "inflight.arkwire_to_arkwire.p50_us",
    "inflight.tonic_to_tonic.p50_us", "µs", "tonic")
row("b. tonic client, 64 in flight, calls/s: → arkwire serve vs → tonic-server", "inflight.tonic_to_arkwire.per_s",
    "inflight.tonic_to_tonic.per_s", "/s", "to tonic")

# c. large messages
for size, label in (("8", "8 MiB"), ("64", "64 MiB"), (GIB, GIB_TEXT)):
    gate = size in ("8", "64")
    for d, dn, what in (("up", "client→server", "noop with a binary payload"),
                        ("down", "server→client", "a reply whose payload is N bytes")):
        row(f"c. {label} {dn} MB/s: arkwire vs tonic", f"large{size}.{d}.arkwire.mb_s", f"large{size}.{d}.tonic.mb_s",
            "MB/s", "tonic", "≥ 1.5×" if gate else "—", 1.5 if gate else None,
            note=f"{what}; whole call, median of the reps" if size == "8" else "")
        row(f"c. {label} {dn} MB/s: arkwire vs plain TCP stream", f"large{size}.{d}.arkwire.mb_s",
            f"large{size}.{d}.tcp.mb_s", "MB/s", "TCP", "≥ 0.5×", 0.5,
            note="floor: the same bytes over one socket, buffers reused" if size == "8" else "")

# d. codec (criterion medians: one run)
for msg in ("connect", "command"):
    row(f"d. encode {msg} request, ns: views vs prost (reused Vec)", f"codec.request.{msg}.encode.views",
        f"codec.request.{msg}.encode.prost_reused_vec", "ns", "prost", "≤ 1×", 1.0, True, "criterion median, one run")
    row(f"d. decode {msg} request, ns: views vs prost", f"codec.request.{msg}.decode.views",
        f"codec.request.{msg}.decode.prost", "ns", "prost", "≤ 1×", 1.0, True)


def one(name, default=None):
    v = list(series(name).values())
    return v[0] if v else default


if series("codec.views_encode_allocs"):
    ours = one("codec.views_encode_allocs", 0) + one("codec.views_decode_allocs", 0)
    theirs = one("codec.prost_encode_to_vec_allocs", 0) + one("codec.prost_decode_allocs", 0)
    rows.append(("d. allocations per message, views (encode + decode) vs prost (encode_to_vec + decode)",
                 num(ours), f"{num(theirs)} (prost)", "—", "0", "yes" if ours == 0 else "**no**", "counting allocator"))

# e. footprint (deterministic: one run)
text = one("footprint.section.text")
if text is not None:
    rows.append(("e. thumbv7em client program `.text`", f"{text:,.0f} B", "48 KiB (target)", f"{text / 49152:.2f}×",
                 "≤ 48 KiB", "yes" if text <= 49152 else "**no**", "opt-level s, LTO"))
    static = one("footprint.static_ram", 0)
    rows.append(("e. static RAM (`.data` + `.bss`)", f"{static:,.0f} B", "16 KiB (target)", f"{static / 16384:.2f}×",
                 "≤ 16 KiB", "yes" if static <= 16384 else "**no**", "message and driver buffers included"))
    ram = one("footprint.conn_less_message_buffers_bytes", 0)
    rows.append(("e. RAM per no-alloc client connection, less its message buffers", f"{ram:,.0f} B",
                 "8 KiB (target)", f"{ram / 8192:.2f}×", "≤ 8 KiB", "yes" if ram <= 8192 else "**no**", ""))
if series("footprint.std_allocs_per_call"):
    allocs = one("footprint.std_allocs_per_call")
    rows.append(("e. heap allocations per call, std tier (net::Client + net::Server, in-process)",
                 f"{allocs:.1f} (client {one('footprint.std_client_allocs_per_call', 0):.0f}, "
                 f"server {one('footprint.std_server_allocs_per_call', 0):.0f})", "—", "—", "0",
                 "yes" if allocs == 0 else "**no**", "after warm-up"))

# f. the proxy
UP = "fake arkouda_server (pyzmq REP, one request at a time)"
for q, qn in (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")):
    row(f"f. sequential {qn}: arkwire client → serve --upstream vs direct Rust ZMTP REQ", f"proxy.seq.arkwire.{q}",
        f"zmq.seq.rust.{q}", "µs", "Rust REQ", note=f"upstream: {UP}" if q == "p50_us" else "")
for q, qn in (("p50_us", "p50"), ("p99_us", "p99")):
    row(f"f. sequential {qn}: tonic client → serve --upstream vs direct Rust ZMTP REQ", f"proxy.seq.tonic.{q}",
        f"zmq.seq.rust.{q}", "µs", "Rust REQ")
    row(f"f. sequential {qn}: arkwire client → serve --upstream vs direct pyzmq REQ", f"proxy.seq.arkwire.{q}",
        f"zmq.seq.pyzmq.{q}", "µs", "pyzmq")
hop = per_round(lambda p, z, t: (p - z) / t, "proxy.seq.arkwire.p50_us", "zmq.seq.rust.p50_us", "proxy.seq.tcp.p50_us")
added = per_round(lambda p, z: p - z, "proxy.seq.arkwire.p50_us", "zmq.seq.rust.p50_us")
tcp = list(series("proxy.seq.tcp.p50_us").values())
derived("f. the hop's added latency (proxied p50 − direct Rust p50) vs one loopback TCP round trip of the "
        "gRPC call's bytes (p50)", hop, "≤ 1.1×", 1.1, True, "TCP round trip measured in the same round",
        spread(added, "µs"), spread(tcp, "µs") + " (TCP)" if tcp else "—")
for k in ("16", "64"):
    for q, qn in (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")):
        row(f"f. {k} in flight {qn}: arkwire client → proxy vs direct Rust REQ ×{k} connections",
            f"proxy.k{k}.arkwire.{q}", f"zmq.k{k}.rust.{q}", "µs", "Rust REQ",
            note=f"REQ is one request at a time: the floor uses {k} connections" if q == "p50_us" else "")
    row(f"f. {k} in flight calls/s: arkwire client → proxy vs direct Rust REQ ×{k}", f"proxy.k{k}.arkwire.per_s",
        f"zmq.k{k}.rust.per_s", "/s", "Rust REQ", "≥ 0.9×" if k == "64" else "—", 0.9 if k == "64" else None,
        note="the direct figure is the upstream's own capacity" if k == "64" else "")
    row(f"f. {k} in flight calls/s: tonic client → proxy vs direct Rust REQ ×{k}", f"proxy.k{k}.tonic.per_s",
        f"zmq.k{k}.rust.per_s", "/s", "Rust REQ")
    row(f"f. {k} in flight calls/s: arkwire client → proxy vs pyzmq REQ ×{k}", f"proxy.k{k}.arkwire.per_s",
        f"zmq.k{k}.pyzmq.per_s", "/s", "pyzmq", note="pyzmq: Python's client loop" if k == "16" else "")

# g. arrays
row("g. 16 MiB int64 array upload (`ak.array`), MB/s: ArkwireChannel + serve --upstream vs pyzmq direct",
    "arrays.upload.proxy_mb_s", "arrays.upload.direct_mb_s", "MB/s", "pyzmq direct", note="stand-in arkouda_server")
row("g. 16 MiB int64 array download (`to_ndarray`), MB/s: through the proxy vs pyzmq direct",
    "arrays.download.proxy_mb_s", "arrays.download.direct_mb_s", "MB/s", "pyzmq direct")
row(f"g. {GIB_TEXT} int64 array upload, MB/s: net::Session (`arkwire-arrays`) + serve --upstream vs pyzmq direct",
    "arrays_big.upload.proxy_mb_s", "arrays_big.upload.direct_mb_s", "MB/s", "pyzmq direct",
    "≥ 0.8× (#17)", 0.8, note="payloads streamed through the proxy")
row(f"g. {GIB_TEXT} int64 array download, MB/s: through the proxy vs pyzmq direct",
    "arrays_big.download.proxy_mb_s", "arrays_big.download.direct_mb_s", "MB/s", "pyzmq direct",
    "≥ 0.8× (#17)", 0.8)
plain(f"g. the proxy's peak RSS over the {GIB_TEXT} rounds", "arrays_big.proxy_peak_rss_mib", "MiB",
      "VmHWM of arkwire serve")

# h. TLS
row("h. TLS: sequential p50 latency vs tonic (TLS)", "tls.seq.arkwire.p50_us", "tls.seq.tonic.p50_us", "µs", "tonic",
    note="rustls with ring on both sides")
row("h. TLS: sequential p99 latency vs tonic (TLS)", "tls.seq.arkwire.p99_us", "tls.seq.tonic.p99_us", "µs", "tonic")
row("h. TLS: sequential calls/s vs tonic (TLS)", "tls.seq.arkwire.per_s", "tls.seq.tonic.per_s", "/s", "tonic")
row("h. TLS: h2load -c 1 -m 64, req/s vs tonic", "tls.h2load.c1.arkwire", "tls.h2load.c1.tonic", "/s", "tonic")
row("h. TLS: h2load -c 4 -m 64, req/s vs tonic", "tls.h2load.c4.arkwire", "tls.h2load.c4.tonic", "/s", "tonic")

# Rows whose figures were not measured (a section left out with ONLY) are dropped.
rows = [r for r in rows if not (r[1] == "—" and r[2] == "—")]
print("Figures: median (min..max) over the rounds; the ratio is ours / peer within each round.\n")
print("| measurement | arkwire | peer | ratio | target | met? | what it measures |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for cells in rows:
    print("| " + " | ".join(cells) + " |")
