#!/usr/bin/env python3
"""Turns the `name value` lines benches/run.sh collected into one markdown table."""

import sys

r = {}
for line in open(sys.argv[1], encoding="utf-8"):
    parts = line.split()
    if len(parts) == 2:
        r[parts[0]] = float(parts[1])

rows = []


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "B":
        return f"{v:,.0f} B ({v / 1024:.1f} KiB)"
    if abs(v) >= 1000:
        return f"{v:,.0f} {unit}".strip()
    if abs(v) >= 10:
        return f"{v:.1f} {unit}".strip()
    return f"{v:.2f} {unit}".strip()


def row(what, ours, peer, unit, target="—", lower_is_better=False, need=None, peer_name=""):
    """`ratio` is always ours/peer; `need` is the bound on that ratio."""
    a, b = r.get(ours) if isinstance(ours, str) else ours, r.get(peer) if isinstance(peer, str) else peer
    ratio = a / b if a is not None and b not in (None, 0) else None
    met = "—"
    if need is not None and ratio is not None:
        met = "yes" if (ratio <= need if lower_is_better else ratio >= need) else "**no**"
    peer_text = fmt(b, unit) + (f" ({peer_name})" if peer_name and b is not None else "")
    rows.append((what, fmt(a, unit), peer_text, "—" if ratio is None else f"{ratio:.2f}×", target, met))


# a. sequential
row("a. sequential connect calls, p50 latency vs TCP floor", "seq.arkwire.p50_us", "seq.tcp.p50_us", "µs",
    "≤ 1.5× floor", True, 1.5, "TCP ping-pong")
row("a. sequential, calls/s vs TCP floor", "seq.arkwire.per_s", "seq.tcp.per_s", "/s",
    "≥ 0.67× floor", False, 1 / 1.5, "TCP ping-pong")
row("a. sequential, p50 latency vs tonic", "seq.arkwire.p50_us", "seq.tonic.p50_us", "µs",
    "≤ 0.33× (3× faster)", True, 1 / 3, "tonic")
row("a. sequential, p99 latency vs tonic", "seq.arkwire.p99_us", "seq.tonic.p99_us", "µs", peer_name="tonic")
row("a. sequential, calls/s vs tonic", "seq.arkwire.per_s", "seq.tonic.per_s", "/s",
    "≥ 3×", False, 3, "tonic")
row("a. sequential, p50 latency vs grpcio (Python)", "seq.arkwire.p50_us", "seq.grpcio.p50_us", "µs", peer_name="grpcio")
row("a. sequential, calls/s vs grpcio (Python)", "seq.arkwire.per_s", "seq.grpcio.per_s", "/s", peer_name="grpcio")
row("a. TCP floor p99 / arkwire p99", "seq.arkwire.p99_us", "seq.tcp.p99_us", "µs", peer_name="TCP ping-pong")
# b. many streams
row("b. h2load -c 1 -m 64, req/s: arkwire serve vs tonic-server", "h2load.c1.arkwire", "h2load.c1.tonic", "/s",
    "≥ 2×", False, 2, "tonic")
row("b. h2load -c 4 -m 64, req/s: arkwire serve vs tonic-server", "h2load.c4.arkwire", "h2load.c4.tonic", "/s",
    "≥ 2×", False, 2, "tonic")
row("b. arkwire client, 64 in flight, calls/s: → arkwire serve vs → tonic-server",
    "inflight.arkwire_to_arkwire.per_s", "inflight.arkwire_to_tonic.per_s", "/s", peer_name="to tonic")
row("b. 64 in flight, calls/s: arkwire→arkwire vs tonic→tonic",
    "inflight.arkwire_to_arkwire.per_s", "inflight.tonic_to_tonic.per_s", "/s", peer_name="tonic")
row("b. tonic client, 64 in flight, calls/s: → arkwire serve vs → tonic-server",
    "inflight.tonic_to_arkwire.per_s", "inflight.tonic_to_tonic.per_s", "/s", peer_name="to tonic")
# h. TLS (rustls with ring on both sides; h2load with ALPN h2)
row("h. TLS: sequential, p50 latency vs tonic (TLS)", "tls.seq.arkwire.p50_us", "tls.seq.tonic.p50_us", "µs",
    lower_is_better=True, peer_name="tonic")
row("h. TLS: sequential, p99 latency vs tonic (TLS)", "tls.seq.arkwire.p99_us", "tls.seq.tonic.p99_us", "µs",
    lower_is_better=True, peer_name="tonic")
row("h. TLS: sequential, calls/s vs tonic (TLS)", "tls.seq.arkwire.per_s", "tls.seq.tonic.per_s", "/s",
    peer_name="tonic")
row("h. TLS: h2load -c 1 -m 64, req/s: arkwire serve vs tonic-server", "tls.h2load.c1.arkwire",
    "tls.h2load.c1.tonic", "/s", peer_name="tonic")
row("h. TLS: h2load -c 4 -m 64, req/s: arkwire serve vs tonic-server", "tls.h2load.c4.arkwire",
    "tls.h2load.c4.tonic", "/s", peer_name="tonic")
row("h. TLS cost: arkwire sequential calls/s, TLS vs plaintext", "tls.seq.arkwire.per_s", "seq.arkwire.per_s", "/s",
    peer_name="plaintext")
row("h. TLS cost: arkwire serve h2load -c 4 req/s, TLS vs plaintext", "tls.h2load.c4.arkwire", "h2load.c4.arkwire",
    "/s", peer_name="plaintext")
# c. large
for size in ("8", "64"):
    row(f"c. {size} MiB client→server (noop upload), MB/s", f"large{size}.arkwire.up_mb_s",
        f"large{size}.tonic.up_mb_s", "MB/s", peer_name="tonic")
    row(f"c. {size} MiB server→client (echo minus upload), MB/s", f"large{size}.arkwire.down_mb_s",
        f"large{size}.tonic.down_mb_s", "MB/s", peer_name="tonic")
    row(f"c. {size} MiB echo round trip, MB/s of args", f"large{size}.arkwire.echo_mb_s",
        f"large{size}.tonic.echo_mb_s", "MB/s", peer_name="tonic")
# d. codec
for msg in ("connect", "command"):
    row(f"d. encode {msg} request, ns: views vs prost (reused Vec)", f"codec.request.{msg}.encode.views",
        f"codec.request.{msg}.encode.prost_reused_vec", "ns", "≤ 1× prost", True, 1.0, "prost")
    row(f"d. decode {msg} request, ns: views vs prost", f"codec.request.{msg}.decode.views",
        f"codec.request.{msg}.decode.prost", "ns", "≤ 1× prost", True, 1.0, "prost")
rows.append(("d. allocations per message, views (encode + decode) vs prost (encode_to_vec + decode)",
             fmt(r.get("codec.views_encode_allocs", 0) + r.get("codec.views_decode_allocs", 0), ""),
             fmt(r.get("codec.prost_encode_to_vec_allocs", 0) + r.get("codec.prost_decode_allocs", 0), "") + " (prost)",
             "—", "0", "yes" if r.get("codec.views_encode_allocs", 1) + r.get("codec.views_decode_allocs", 1) == 0 else "**no**"))
# e. footprint
text = r.get("footprint.section.text")
rows.append(("e. thumbv7em client program `.text`", fmt(text, "B"), "48 KiB (target)",
             f"{text / 49152:.2f}×" if text else "—", "≤ 48 KiB", "yes" if text and text <= 49152 else "**no**"))
for sec in (".rodata", ".data", ".bss"):
    rows.append((f"e. thumbv7em client program `{sec}`", fmt(r.get(f"footprint.section{sec}"), "B"), "—", "—", "—", "—"))
static = r.get("footprint.static_ram")
rows.append(("e. thumbv7em client program static RAM (`.data` + `.bss`, message and driver buffers included)",
             fmt(static, "B"), "16 KiB (target)", f"{static / 16384:.2f}×" if static else "—", "≤ 16 KiB",
             "yes" if static and static <= 16384 else "**no**"))
ram = r.get("footprint.conn_less_message_buffers_bytes")
rows.append(("e. RAM per no-alloc client connection (lent: 1 KiB scratch, 4 KiB HPACK table, 2 × 512 B headers), "
             "less its 2 KiB of message buffers",
             fmt(ram, "B"), "8 KiB (target)", f"{ram / 8192:.2f}×" if ram else "—", "≤ 8 KiB",
             "yes" if ram and ram <= 8192 else "**no**"))
rows.append(("e. heap allocations per call, std tier (net::Client + net::Server, in-process)",
             fmt(r.get("footprint.std_allocs_per_call"), "")
             + f" (client {r.get('footprint.std_client_allocs_per_call', 0):.0f}, server {r.get('footprint.std_server_allocs_per_call', 0):.0f})",
             "—", "—", "—", "—"))

# f. proxy overhead (issue: ZMTP upstream)
row("f. p50 latency: gRPC call through `serve --upstream` vs pyzmq REQ straight to the fake arkouda_server",
    "seq.proxy.p50_us", "seq.zmq.p50_us", "µs", peer_name="pyzmq direct")
row("f. calls/s: through `serve --upstream` vs pyzmq direct", "seq.proxy.per_s", "seq.zmq.per_s", "/s",
    peer_name="pyzmq direct")

# g. arrays (issue: binary payloads)
row("g. 16 MiB int64 array upload (`ak.array`), MB/s: ArkwireChannel + `serve --upstream` vs pyzmq direct",
    "arrays.upload.proxy_mb_s", "arrays.upload.direct_mb_s", "MB/s", peer_name="pyzmq direct")
row("g. 16 MiB int64 array download (`to_ndarray`), MB/s: through the proxy vs pyzmq direct",
    "arrays.download.proxy_mb_s", "arrays.download.direct_mb_s", "MB/s", peer_name="pyzmq direct")

print("| measurement | arkwire | peer | ratio (arkwire / peer) | target | met? |")
print("| --- | --- | --- | --- | --- | --- |")
for cells in rows:
    print("| " + " | ".join(cells) + " |")
