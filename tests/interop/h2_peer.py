#!/usr/bin/env python3
"""A raw HTTP/2 gRPC client built on python-hyper's `h2` over a plain socket,
used to poke HTTP/2 edges of `arkwire serve` that grpcio never exercises on
demand (PING, mid-connection SETTINGS, zero flow-control windows, GOAWAY).

Usage:
    h2_peer.py --target 127.0.0.1:PORT CASE
    h2_peer.py --target 127.0.0.1:PORT goaway-during-call --allow-open-after-goaway
    CASE: ping | settings-change | zero-window | goaway-during-call

goaway-during-call by default also demands that the server close the TCP
connection or send its own GOAWAY within ~4 s after the in-flight call ends
(what arkwire serve is specified to do). grpcio keeps the connection open,
which RFC 9113 allows; --allow-open-after-goaway accepts that, provided the
connection still answers a PING.

Requests are built by hand: HEADERS (:method POST, :scheme http, :path
/arkouda.Arkouda/HandleRequest, :authority, content-type application/grpc,
te trailers) + DATA (5-byte gRPC prefix + serialized ArkoudaRequest). Replies
must be :status 200, content-type application/grpc*, one length-prefixed
ArkoudaResponse whose message is Arkouda's JSON envelope, and trailers with
grpc-status 0.

Prints progress lines ``.. <step>`` and finally ``ok <case>`` (exit 0) or
``FAIL <case>: <detail>`` (exit 1); exit 2 for usage errors. Every case is
bounded by socket timeouts and an overall 10 s alarm.
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events as ev  # noqa: E402
import h2.exceptions  # noqa: E402
import h2.settings  # noqa: E402
from h2.settings import SettingCodes  # noqa: E402
from hyperframe.frame import GoAwayFrame  # noqa: E402

import arkouda_stubs  # noqa: E402

pb2, _ = arkouda_stubs.load()

PATH = b"/arkouda.Arkouda/HandleRequest"
USER = "h2peer"
OVERALL_SECONDS = 10


class Fail(Exception):
    pass


def step(text):
    print(f".. {text}", flush=True)


class Stream:
    def __init__(self, sid):
        self.sid = sid
        self.headers = None
        self.trailers = None
        self.data = bytearray()
        self.data_frames = []  # flow-controlled length of each DATA frame
        self.ended = False
        self.reset = None
        self.headers_at = None
        self.first_data_at = None


class Peer:
    def __init__(self, target, initial_settings=None):
        host, _, port = target.rpartition(":")
        self.authority = target.encode()
        try:
            self.sock = socket.create_connection((host, int(port)), timeout=3)
        except OSError as e:
            raise Fail(f"cannot connect to {target}: {e}")
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(0.05)
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None))
        if initial_settings:
            # Values placed here go into the client's very first SETTINGS frame.
            self.h2.local_settings = h2.settings.Settings(
                client=True, initial_values=initial_settings)
        self.h2.initiate_connection()
        self.flush()
        self.streams = {}
        self.ping_acks = []
        self.settings_acks = 0
        self.remote_settings = 0
        self.goaway = None          # (error_code, last_stream_id) of the server's GOAWAY
        self.peer_closed = False    # the server closed the TCP connection

    # ---- I/O ---------------------------------------------------------------

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            try:
                self.sock.sendall(data)
            except OSError as e:
                raise Fail(f"send failed: {e}")

    def send_raw(self, data):
        self.sock.sendall(data)

    def pump(self):
        """Read once (up to the 50 ms socket timeout) and process the events."""
        if self.peer_closed:
            time.sleep(0.05)
            return
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        except ConnectionResetError:
            data = b""
        if not data:
            self.peer_closed = True
            return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.FlowControlError as e:
            raise Fail(f"server violated our flow-control window: {e}")
        except h2.exceptions.FrameTooLargeError as e:
            raise Fail(f"server sent a frame larger than our MAX_FRAME_SIZE: {e}")
        except h2.exceptions.ProtocolError as e:
            raise Fail(f"HTTP/2 protocol error from the server's bytes: {e!r}")
        for e in events:
            self.handle(e)
        self.flush()

    def handle(self, e):
        now = time.monotonic()
        st = self.streams.get(getattr(e, "stream_id", None))
        if isinstance(e, ev.ResponseReceived):
            st.headers = dict(e.headers)
            st.headers_at = now
        elif isinstance(e, ev.DataReceived):
            st.data += e.data
            st.data_frames.append(e.flow_controlled_length)
            if st.first_data_at is None:
                st.first_data_at = now
            # Consume the data: let h2 send WINDOW_UPDATEs as it sees fit.
            self.h2.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        elif isinstance(e, ev.TrailersReceived):
            st.trailers = dict(e.headers)
        elif isinstance(e, ev.StreamEnded):
            st.ended = True
        elif isinstance(e, ev.StreamReset):
            if st is not None:
                st.reset = e.error_code
        elif isinstance(e, ev.PingAckReceived):
            self.ping_acks.append(e.ping_data)
        elif isinstance(e, ev.SettingsAcknowledged):
            self.settings_acks += 1
        elif isinstance(e, ev.RemoteSettingsChanged):
            self.remote_settings += 1
        elif isinstance(e, ev.ConnectionTerminated):
            self.goaway = (e.error_code, e.last_stream_id)
            step(f"server GOAWAY error_code={e.error_code!s} last_stream_id={e.last_stream_id}")
            if int(e.error_code) == 0:
                # A graceful GOAWAY still lets streams <= last_stream_id finish, but
                # h2 moves its state machine to CLOSED and would reject their
                # remaining frames; put it back so we can read them (RFC 9113 §6.8).
                self.h2.state_machine.state = h2.connection.ConnectionState.OPEN

    def wait_for(self, pred, seconds, what):
        deadline = time.monotonic() + seconds
        while not pred():
            if time.monotonic() > deadline:
                raise Fail(f"timed out after {seconds} s waiting for {what}")
            if self.peer_closed and not pred():
                raise Fail(f"server closed the connection while waiting for {what}")
            self.pump()

    def observe(self, seconds):
        """Keep reading for `seconds` regardless of what arrives."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.peer_closed:
            self.pump()

    # ---- gRPC calls --------------------------------------------------------

    def handshake(self):
        self.wait_for(lambda: self.remote_settings > 0 and self.settings_acks > 0, 3,
                      "the server's SETTINGS and its ACK of ours")
        step("handshake done (server SETTINGS received, our SETTINGS acknowledged)")

    def start_call(self, cmd, args=""):
        sid = self.h2.get_next_available_stream_id()
        self.streams[sid] = Stream(sid)
        req = pb2.ArkoudaRequest(user=USER, token="", cmd=cmd, format="STRING", size=-1,
                                 args=args)
        body = req.SerializeToString()
        msg = struct.pack(">BI", 0, len(body)) + body
        self.h2.send_headers(sid, [
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", PATH),
            (b":authority", self.authority),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
            (b"user-agent", b"arkwire-interop-h2peer"),
        ])
        # Send the body within the server's window and frame size.
        while msg:
            room = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if room <= 0:
                self.flush()
                self.wait_for(lambda: self.h2.local_flow_control_window(sid) > 0, 3,
                              "the server to open its window for our request body")
                continue
            chunk, msg = msg[:room], msg[room:]
            self.h2.send_data(sid, chunk, end_stream=not msg)
        self.flush()
        return sid

    def finish_call(self, sid, seconds=5):
        st = self.streams[sid]
        self.wait_for(lambda: st.ended or st.reset is not None, seconds,
                      f"the end of stream {sid}")
        if st.reset is not None:
            raise Fail(f"stream {sid} was reset by the server: {st.reset!s}")
        return decode_reply(st)

    def call(self, cmd, args="", seconds=5):
        return self.finish_call(self.start_call(cmd, args), seconds)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def decode_reply(st):
    """Check the HTTP/2 + gRPC framing of a finished stream; return the envelope."""
    h = st.headers
    if h is None:
        raise Fail(f"stream {st.sid}: no response HEADERS")
    if h.get(b":status") != b"200":
        raise Fail(f"stream {st.sid}: :status {h.get(b':status')!r}, headers {h}")
    ctype = h.get(b"content-type", b"")
    if not ctype.startswith(b"application/grpc"):
        raise Fail(f"stream {st.sid}: content-type {ctype!r}")
    if b"grpc-status" in h and st.trailers is None:
        raise Fail(f"stream {st.sid}: trailers-only response {h}")
    t = st.trailers
    if t is None:
        raise Fail(f"stream {st.sid}: no trailers (data {len(st.data)} bytes)")
    if t.get(b"grpc-status") != b"0":
        raise Fail(f"stream {st.sid}: grpc-status {t.get(b'grpc-status')!r}, "
                   f"grpc-message {t.get(b'grpc-message')!r}")
    data = bytes(st.data)
    if len(data) < 5:
        raise Fail(f"stream {st.sid}: response body of {len(data)} bytes, want >= 5")
    flag, length = struct.unpack(">BI", data[:5])
    if flag != 0:
        raise Fail(f"stream {st.sid}: compressed-flag {flag} (no compression was negotiated)")
    if len(data) != 5 + length:
        raise Fail(f"stream {st.sid}: body is {len(data)} bytes, prefix says 5 + {length}")
    try:
        reply = pb2.ArkoudaResponse.FromString(data[5:])
    except Exception as e:  # noqa: BLE001
        raise Fail(f"stream {st.sid}: ArkoudaResponse does not decode: {e}")
    try:
        env = json.loads(reply.message)
    except ValueError as e:
        raise Fail(f"stream {st.sid}: message is not JSON ({e}): {reply.message[:120]!r}")
    if not isinstance(env, dict) or env.get("msgType") != "NORMAL" or env.get("user") != USER:
        raise Fail(f"stream {st.sid}: unexpected envelope {reply.message[:200]!r}")
    return env


def expect_msg(env, want, what):
    got = env.get("msg")
    if got != want:
        shown = got if not isinstance(got, str) or len(got) < 80 else f"{got[:60]!r}...({len(got)})"
        raise Fail(f"{what}: msg {shown!r}, want {want[:60]!r} ({len(want)} chars)")


# ---- cases -----------------------------------------------------------------

def case_ping(target, allow_open=False):
    p = Peer(target)
    try:
        p.handshake()
        opaque = b"arkwire!"
        p.h2.ping(opaque)
        p.flush()
        step(f"sent PING {opaque!r}")
        p.wait_for(lambda: opaque in p.ping_acks, 3, "the PING ACK")
        step("got PING ACK with the same 8 bytes")
        expect_msg(p.call("echo", "after ping"), "after ping", "echo after ping")
        step("a call after the ping still works")
    finally:
        p.close()


def case_settings_change(target, allow_open=False):
    p = Peer(target)
    try:
        p.handshake()
        expect_msg(p.call("echo", "first"), "first", "first echo")
        step("first call ok")
        acks = p.settings_acks
        p.h2.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 1000,
                              SettingCodes.MAX_FRAME_SIZE: 20000})
        p.flush()
        step("sent SETTINGS INITIAL_WINDOW_SIZE=1000 MAX_FRAME_SIZE=20000")
        p.wait_for(lambda: p.settings_acks > acks, 3, "the SETTINGS ACK")
        step("server acknowledged the new SETTINGS")
        args = "".join(chr(ord("a") + i % 26) for i in range(5000))
        sid = p.start_call("echo", args)
        expect_msg(p.finish_call(sid), args, "5000-byte echo")
        frames = p.streams[sid].data_frames
        if max(frames) > 1000 or sum(frames) <= 1000:
            raise Fail(f"DATA frame sizes {frames}: want all <= 1000 and > 1000 in total")
        step(f"5000-byte echo ok in {len(frames)} DATA frames (max {max(frames)}) "
             f"under a 1000-byte window")
    finally:
        p.close()


def case_zero_window(target, allow_open=False):
    p = Peer(target, {SettingCodes.INITIAL_WINDOW_SIZE: 0})
    try:
        p.handshake()
        args = "z" * 100
        sid = p.start_call("echo", args)
        st = p.streams[sid]
        step("sent a 100-byte echo with INITIAL_WINDOW_SIZE=0")
        p.wait_for(lambda: st.headers is not None or st.data or st.ended, 3,
                   "the response HEADERS")
        if st.data or st.ended:
            raise Fail(f"server sent {len(st.data)} DATA bytes into a zero window "
                       f"(ended={st.ended}, trailers={st.trailers})")
        step("got response HEADERS")
        p.observe(0.5)
        if st.data or st.ended:
            raise Fail(f"server sent {len(st.data)} DATA bytes into a zero window "
                       f"(ended={st.ended})")
        step("no DATA for 0.5 s while the stream window is 0")
        p.h2.increment_flow_control_window(65535, stream_id=sid)
        p.flush()
        step("sent WINDOW_UPDATE +65535 on the stream")
        expect_msg(p.finish_call(sid, 3), args, "echo after opening the window")
        step("reply and grpc-status 0 arrived after the window opened")
    finally:
        p.close()


def case_goaway_during_call(target, allow_open=False):
    p = Peer(target)
    try:
        p.handshake()
        sid = p.start_call("sleep", "300")
        # Written by hand so h2 keeps reading: GOAWAY from a client names the last
        # server-initiated stream it will accept (none: 0); our stream 1 goes on.
        p.send_raw(GoAwayFrame(stream_id=0, last_stream_id=0, error_code=0).serialize())
        step(f"started sleep 300 on stream {sid}, then sent GOAWAY(last_stream_id=0, NO_ERROR)")
        t0 = time.monotonic()
        expect_msg(p.finish_call(sid, 4), "slept", "in-flight sleep after GOAWAY")
        step(f"in-flight call finished with grpc-status 0 after {time.monotonic() - t0:.2f} s")
        if allow_open:
            # RFC 9113 does not oblige a server to close when the *client* sends
            # GOAWAY (grpcio keeps the connection up); then it must still be sane.
            p.observe(1.0)
            if not (p.peer_closed or p.goaway is not None):
                opaque = b"still-up"
                p.h2.ping(opaque)
                p.flush()
                p.wait_for(lambda: opaque in p.ping_acks, 3,
                           "a PING ACK on the still-open connection")
                step("server kept the connection open and still answers PING "
                     "(allowed by --allow-open-after-goaway)")
                return
        p.wait_for(lambda: p.peer_closed or p.goaway is not None, 4,
                   "the server to close the connection or send GOAWAY")
        step("server " + ("closed the connection" if p.peer_closed
                          else f"sent GOAWAY {p.goaway}"))
    finally:
        p.close()


CASES = {
    "ping": case_ping,
    "settings-change": case_settings_change,
    "zero-window": case_zero_window,
    "goaway-during-call": case_goaway_during_call,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True, help="HOST:PORT of the gRPC server")
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--allow-open-after-goaway", action="store_true",
                    help="goaway-during-call: accept a server that keeps the connection "
                         "open (and answering PING) instead of closing it or sending GOAWAY")
    opts = ap.parse_args()

    def on_alarm(*_):
        raise Fail(f"overall {OVERALL_SECONDS} s limit exceeded")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(OVERALL_SECONDS)
    try:
        CASES[opts.case](opts.target, opts.allow_open_after_goaway)
    except Fail as e:
        print(f"FAIL {opts.case}: {e}", flush=True)
        return 1
    except Exception as e:  # noqa: BLE001 -- any surprise is a failure with a message
        print(f"FAIL {opts.case}: unexpected {type(e).__name__}: {e}", flush=True)
        return 1
    finally:
        signal.alarm(0)
    print(f"ok {opts.case}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
