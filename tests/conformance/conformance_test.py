#!/usr/bin/env python3
"""Conformance test: a Python client written from docs/PROTOCOL.md alone, against
`plexus serve --demo`, over a Unix socket and over TCP.

Usage:  PLEXUS_CLI=/path/to/plexus python3 conformance_test.py [-v]
   or:  python3 conformance_test.py /path/to/plexus [-v]
"""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True          # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import plexus_client as px  # noqa: E402
from plexus_client import Client, PlexusError, encode_frame, tlv  # noqa: E402

PLEXUS_CLI = os.environ.get("PLEXUS_CLI")
if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
    PLEXUS_CLI = sys.argv.pop(1)

READY_ATTEMPTS = 100          # x ~0.1 s: readiness is bounded to ~10 s
NO_FRAME = "no frame expected"


def hexbytes(text: str) -> bytes:
    """Bytes from a PROTOCOL.md dump: hex pairs, offsets/ASCII columns stripped."""
    out = []
    for line in text.strip().splitlines():
        line = line.split("|")[0]
        parts = line.split()
        if parts and len(parts[0]) == 4:              # an offset column like 0010
            parts = parts[1:]
        out.extend(parts)
    return bytes(int(p, 16) for p in out)


# Byte dumps copied from PROTOCOL.md section 10.
DOC_WELCOME = hexbytes("""
0000  34 00 00 00 02 00 34 00 00 00 00 00 00 00 00 00  |4.....4.........|
0010  20 00 04 00 50 4c 58 53 21 00 02 00 01 00 22 00  | ...PLXS!.....".|
0020  06 00 70 6c 65 78 75 73 23 00 08 00 0f 80 01 00  |..plexus#.......|
0030  00 00 00 00 24 00 04 00 00 00 80 00 25 00 04 00  |....$.......%...|
0040  88 13 00 00                                      |....|
""")
# Section 16.3 example.
DOC_SUBSCRIBE = (bytes.fromhex("2c0000000c00080005000000000000000100040064622e2a")
                 + b'{"queue":100,"policy":"drop_newest"}')
DOC_SUBSCRIBE_RESPONSE = bytes.fromhex("00000000040000000500000000000000")
DOC_PUBLISH = bytes.fromhex("140000000b000c00000000000000000001000800"
                            "64622e75736572737b226964223a317d")
DOC_PUBLISH_DELIVERED = bytes.fromhex("140000000b000c00050000000000000001000800"
                                      "64622e75736572737b226964223a317d")
DOC_HELLO = hexbytes("""
0000  37 00 00 00 01 00 37 00 00 00 00 00 00 00 00 00  |7.....7.........|
0010  20 00 04 00 50 4c 58 53 21 00 02 00 01 00 22 00  | ...PLXS!.....".|
0020  09 00 70 79 2d 63 6c 69 65 6e 74 23 00 08 00 03  |..py-client#....|
0030  00 00 00 00 00 00 00 24 00 04 00 00 00 80 00 25  |.......$.......%|
0040  00 04 00 00 00 00 00                             |.......|
""")
DOC_MIN_HELLO = hexbytes("0e 00 00 00 01 00 0e 00 00 00 00 00 00 00 00 00 "
                         "20 00 04 00 50 4c 58 53 21 00 02 00 01 00")
DOC_ECHO_REQUEST = hexbytes("""
0000  0f 00 00 00 03 00 08 00 01 00 00 00 00 00 00 00  |................|
0010  01 00 04 00 65 63 68 6f 7b 22 61 22 3a 31 7d     |....echo{"a":1}|
""")
DOC_ECHO_RESPONSE = hexbytes("""
0000  07 00 00 00 04 00 00 00 01 00 00 00 00 00 00 00  |................|
0010  7b 22 61 22 3a 31 7d                             |{"a":1}|
""")
DOC_FAIL_REQUEST = hexbytes("""
0000  1c 00 00 00 03 00 08 00 02 00 00 00 00 00 00 00  |................|
0010  01 00 04 00 66 61 69 6c 7b 22 63 6f 64 65 22 3a  |....fail{"code":|
0020  22 6e 6f 74 5f 66 6f 75 6e 64 22 7d              |"not_found"}|
""")
DOC_FAIL_ERROR = hexbytes("""
0000  3c 00 00 00 05 00 3c 00 02 00 00 00 00 00 00 00  |<.....<.........|
0010  05 00 02 00 05 00 06 00 0c 00 64 65 6d 6f 20 66  |..........demo f|
0020  61 69 6c 75 72 65 07 00 22 00 7b 22 72 65 71 75  |ailure..".{"requ|
0030  65 73 74 65 64 22 3a 7b 22 63 6f 64 65 22 3a 22  |ested":{"code":"|
0040  6e 6f 74 5f 66 6f 75 6e 64 22 7d 7d              |not_found"}}|
""")
DOC_PING = hexbytes("00 00 00 00 08 00 00 00 07 00 00 00 00 00 00 00")
DOC_PONG = hexbytes("00 00 00 00 09 00 00 00 07 00 00 00 00 00 00 00")
DOC_SLEEP_REQUEST = hexbytes("""
0000  20 00 00 00 03 00 15 00 03 00 00 00 00 00 00 00  | ...............|
0010  01 00 05 00 73 6c 65 65 70 02 00 08 00 90 d0 03  |....sleep.......|
0020  00 00 00 00 00 7b 22 6d 73 22 3a 31 30 30 30 7d  |.....{"ms":1000}|
""")
DOC_NOTIFY_COUNT = hexbytes("""
0000  09 00 00 00 06 00 09 00 00 00 00 00 00 00 00 00  |................|
0010  01 00 05 00 63 6f 75 6e 74                       |....count|
""")
DOC_GOAWAY_SHUTDOWN = hexbytes("""
0000  1e 00 00 00 0a 00 1e 00 00 00 00 00 00 00 00 00  |................|
0010  05 00 02 00 00 00 06 00 14 00 73 65 72 76 65 72  |..........server|
0020  20 73 68 75 74 74 69 6e 67 20 64 6f 77 6e        | shutting down|
""")


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoServer:
    """`plexus serve --demo` on a Unix socket and a TCP port."""

    def __init__(self, extra_args=()):
        self.tmpdir = tempfile.mkdtemp(prefix="plexus-conf-")
        self.sock_path = os.path.join(self.tmpdir, "c.sock")
        self.port = free_tcp_port()
        self.addresses = {"unix": f"unix://{self.sock_path}",
                          "tcp": f"tcp://127.0.0.1:{self.port}"}
        self.log_path = os.path.join(self.tmpdir, "server.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PLEXUS_CLI, "serve", "--demo", "-l", self.addresses["unix"],
             "-l", self.addresses["tcp"], *extra_args],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except Exception:
            self.stop()
            raise

    def _wait_ready(self):
        targets = [(socket.AF_UNIX, self.sock_path), (socket.AF_INET, ("127.0.0.1", self.port))]
        for _ in range(READY_ATTEMPTS):
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_text()}")
            while targets:
                family, addr = targets[0]
                try:
                    with socket.socket(family, socket.SOCK_STREAM) as s:
                        s.settimeout(0.1)
                        s.connect(addr)
                except OSError:
                    break
                targets.pop(0)
            if not targets:
                return
            time.sleep(0.1)
        raise RuntimeError(f"server not accepting after ~10 s: {self.log_text()}")

    def log_text(self) -> str:
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read()[-4000:].decode("utf-8", "replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


class RawConn:
    """A bare socket speaking frames, for byte-exact and misbehaving-client checks."""

    def __init__(self, address: str):
        family, sockaddr = px.parse_address(address)
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(sockaddr)
        if family != socket.AF_UNIX:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise EOFError()
            self.buf += chunk

    def frame(self, timeout=5.0):
        """Return (raw bytes, kind, id, meta, payload); None on timeout; EOFError at EOF."""
        deadline = time.monotonic() + timeout
        try:
            self._fill(16, deadline)
            body_len, kind, flags, meta_len, fid = px.HEADER.unpack_from(self.buf)
            self._fill(16 + body_len, deadline)
        except socket.timeout:
            return None
        raw, self.buf = self.buf[:16 + body_len], self.buf[16 + body_len:]
        return raw, kind, fid, px.decode_metadata(raw[16:16 + meta_len]), raw[16 + meta_len:]

    def expect_eof(self, timeout=5.0) -> bool:
        deadline = time.monotonic() + timeout
        try:
            self._fill(len(self.buf) + 1, deadline)
        except EOFError:
            return True
        except socket.timeout:
            return False
        return False

    def handshake(self):
        self.send(DOC_HELLO)
        f = self.frame()
        assert f is not None and f[1] == px.WELCOME, f
        return f

    def close(self):
        self.sock.close()


STREAM_OPEN, STREAM_END = 17, 19


def status_of(meta) -> int:
    return struct.unpack("<H", meta[px.K_STATUS])[0]


class ServerFixture:
    """Starts a fresh demo server per test (killed in tearDown); helpers."""
    TRANSPORT = None
    SERVER_ARGS = ()

    def setUp(self):
        self.server = DemoServer(self.SERVER_ARGS)
        self.addCleanup(self.server.stop)          # runs even if the test fails
        self.address = self.server.addresses[self.TRANSPORT]

    def tearDown(self):
        self.server.stop()

    def client(self, **kw) -> Client:
        c = Client(self.address, **kw)
        self.addCleanup(c.close)
        return c

    def raw(self) -> RawConn:
        r = RawConn(self.address)
        self.addCleanup(r.close)
        return r

    def assertNoFrame(self, conn, seconds, what=""):
        """Nothing but PINGs arrives within `seconds` (PINGs are answered)."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if isinstance(conn, RawConn):
                f = conn.frame(remaining)
                if f is None:
                    return
                if f[1] == px.PING:
                    conn.send(encode_frame(px.PONG, f[2]))
                    continue
                self.fail(f"{what}: unexpected frame kind {f[1]} id {f[2]}: {f[0].hex(' ')}")
            else:
                f = conn.next_frame(remaining)
                if f is None:
                    return
                if f.kind == px.PING:
                    conn.send_raw(encode_frame(px.PONG, f.id))
                    continue
                self.fail(f"{what}: unexpected frame {f.kind_name} id {f.id}: {f.raw.hex(' ')}")


class ConformanceMixin(ServerFixture):
    """The checks, run over each transport."""

    # --- handshake -------------------------------------------------------------------------

    def test_handshake_welcome(self):
        c = self.client()
        self.assertEqual(c.peer_name, "plexus")
        self.assertEqual(c.peer_capabilities, 0x1800F)  # cancel, deadline, pubsub, batch, streams, lanes
        self.assertEqual(c.peer_max_message_size, 8388608)
        self.assertEqual(c.peer_heartbeat_ms, 5000)
        self.assertEqual(c.welcome.id, 0)
        self.assertEqual(c.welcome.payload, b"")
        self.assertEqual(c.welcome.raw, DOC_WELCOME, "WELCOME differs from section 10.2")

    def test_minimal_hello_accepted(self):
        r = self.raw()
        r.send(DOC_MIN_HELLO)
        f = r.frame()
        self.assertIsNotNone(f)
        self.assertEqual(f[0], DOC_WELCOME)

    def test_wrong_version_refused(self):
        with self.assertRaises(PlexusError) as cm:
            self.client(version=2)
        e = cm.exception
        self.assertEqual((e.code_name, e.code, e.frame_kind), ("protocol_error", 101, "GOAWAY"))
        self.assertEqual(e.details, {"supported": [1], "offered": 2})
        self.assertEqual(e.message, "unsupported protocol version 2 (this peer speaks 1)")
        # Raw: exactly one GOAWAY (id 0, no payload), no WELCOME, then the server closes.
        r = self.raw()
        r.send(encode_frame(px.HELLO, 0, tlv(32, b"PLXS") + tlv(33, struct.pack("<H", 2))))
        raw, kind, fid, meta, payload = r.frame()
        self.assertEqual((kind, fid, payload), (px.GOAWAY, 0, b""))
        self.assertEqual(status_of(meta), 101)
        self.assertTrue(r.expect_eof(), "server did not close after refusing the HELLO")

    def test_bad_magic_and_early_frames_refused(self):
        r = self.raw()
        r.send(encode_frame(px.HELLO, 0, tlv(32, b"PLXZ") + tlv(33, struct.pack("<H", 1))))
        _, kind, _, meta, _ = r.frame()
        self.assertEqual((kind, status_of(meta)), (px.GOAWAY, 101))
        self.assertEqual(meta[px.K_ERROR_MESSAGE], b'bad handshake magic (expected "PLXS")')
        self.assertTrue(r.expect_eof())
        r2 = self.raw()
        r2.send(DOC_PING)
        _, kind, _, meta, _ = r2.frame()
        self.assertEqual((kind, status_of(meta)), (px.GOAWAY, 101))
        self.assertEqual(meta[px.K_ERROR_MESSAGE], b"expected HELLO, got PING")
        self.assertTrue(r2.expect_eof())

    # --- calls -----------------------------------------------------------------------------

    def test_echo_json_round_trip(self):
        c = self.client()
        self.assertEqual(c.call("echo", b'{"a":1}', timeout=5), b'{"a":1}')
        self.assertEqual(c.call_json("echo", {"a": 1}), {"a": 1})
        # Byte-exact: section 10.3.
        r = self.raw()
        r.handshake()
        r.send(DOC_ECHO_REQUEST)
        self.assertEqual(r.frame()[0], DOC_ECHO_RESPONSE)

    def test_echo_binary(self):
        c = self.client()
        for payload in (b"", bytes(range(256)) * 16, b"\x00\xff\x00", os.urandom(1 << 20)):
            self.assertEqual(c.call("echo", payload, timeout=10), payload)

    def test_count_increments(self):
        c = self.client()
        values = [c.call_json("count", timeout=5)["count"] for _ in range(5)]
        self.assertEqual(values, list(range(values[0], values[0] + 5)), values)

    def test_sleep_returns(self):
        c = self.client()
        self.assertEqual(c.call_json("sleep", {"ms": 30}, timeout=5), {"slept_ms": 30})

    def test_fail_not_found(self):
        c = self.client()
        with self.assertRaises(PlexusError) as cm:
            c.call("fail", b'{"code":"not_found"}', timeout=5)
        e = cm.exception
        self.assertEqual((e.code_name, e.code, e.frame_kind), ("not_found", 5, "ERROR"))
        self.assertEqual(e.message, "demo failure")
        self.assertEqual(e.details, {"requested": {"code": "not_found"}})
        self.assertEqual(c.call("echo", b"x", timeout=5), b"x")   # connection still usable
        # Byte-exact: section 10.4.
        r = self.raw()
        r.handshake()
        r.send(DOC_FAIL_REQUEST)
        self.assertEqual(r.frame()[0], DOC_FAIL_ERROR)

    def test_fail_other_codes(self):
        c = self.client()
        with self.assertRaises(PlexusError) as cm:
            c.call_json("fail", {"code": "permission_denied", "message": "nope"}, timeout=5)
        self.assertEqual((cm.exception.code_name, cm.exception.code), ("permission_denied", 7))
        self.assertEqual(cm.exception.message, "nope")
        with self.assertRaises(PlexusError) as cm:
            c.call("fail", b"not json", timeout=5)     # section 6.8: invalid_argument
        self.assertEqual(cm.exception.code_name, "invalid_argument")

    def test_fail_ok_is_sent_as_unknown(self):
        # Section 6.2: an ERROR never carries ok; a handler error whose code is ok is sent as
        # unknown (2).
        c = self.client()
        with self.assertRaises(PlexusError) as cm:
            c.call_json("fail", {"code": "ok"}, timeout=5)
        e = cm.exception
        self.assertEqual((e.frame_kind, e.wire_code, e.code_name), ("ERROR", 2, "unknown"))
        self.assertEqual(e.message, "demo failure")
        self.assertEqual(e.details, {"requested": {"code": "ok"}})
        self.assertEqual(c.call("echo", b"x", timeout=5), b"x")   # connection still usable

    def test_error_texts_are_capped(self):
        # Section 6.2: error_message is cut to 8 KiB; error_details over 48 KiB is replaced by
        # {"truncated":true}, so an ERROR always fits its metadata block.
        c = self.client()

        def fail(args):
            with self.assertRaises(PlexusError) as cm:
                c.call_json("fail", args, timeout=5)
            self.assertEqual((cm.exception.frame_kind, cm.exception.code_name),
                             ("ERROR", "internal"))
            return cm.exception

        def details_len(args):   # the demo's details: {"requested":<args, compact, sorted>}
            return len('{"requested":' + json.dumps(args, separators=(",", ":"),
                                                    sort_keys=True) + "}")

        e = fail({"code": "internal", "message": "m" * 9000})
        self.assertEqual(e.message, "m" * 8192)
        self.assertEqual(e.details, {"requested": {"code": "internal", "message": "m" * 9000}})
        base = details_len({"code": "internal", "pad": ""})
        at_limit = {"code": "internal", "pad": "p" * (49152 - base)}
        self.assertEqual(details_len(at_limit), 49152)
        self.assertEqual(fail(at_limit).details, {"requested": at_limit})
        over = {"code": "internal", "pad": "p" * (49153 - base)}
        self.assertEqual(fail(over).details, {"truncated": True})
        both = {"code": "internal", "message": "m" * 60000, "pad": "p" * 60000}
        e = fail(both)                                   # would not fit 65535 bytes uncut
        self.assertEqual((e.message, e.details), ("m" * 8192, {"truncated": True}))
        self.assertEqual(c.call("echo", b"x", timeout=5), b"x")

    def test_demo_services(self):
        # Section 15.
        c = self.client()

        def error_of(method, payload):
            with self.assertRaises(PlexusError) as cm:
                c.call(method, payload, timeout=5)
            self.assertEqual(cm.exception.frame_kind, "ERROR")
            return cm.exception

        self.assertEqual(c.call_json("sleep", timeout=5), {"slept_ms": 1000})   # default
        self.assertEqual(c.call_json("sleep", {"ms": 0}, timeout=5), {"slept_ms": 0})
        for ms in (-1, 3600001):
            e = error_of("sleep", json.dumps({"ms": ms}).encode())
            self.assertEqual((e.code_name, e.message), ("invalid_argument", "ms must be 0..3600000"))
        e = error_of("sleep", b"[1]")
        self.assertEqual((e.code_name, e.message, e.details),
                         ("invalid_argument", "payload must be a JSON object", {"payload": "[1]"}))
        for bad in (b'{"ms":"x"}', b'{"ms":null}', b'{"ms":[1]}'):   # observed behaviour
            e = error_of("sleep", bad)
            self.assertEqual((e.code_name, e.message),
                             ("internal", "handler dropped the call without answering"), bad)
        for args in ({}, {"code": "bogus"}, {"code": "unknown"}):
            e = error_of("fail", json.dumps(args).encode())
            self.assertEqual((e.code_name, e.message, e.details),
                             ("internal", "demo failure", {"requested": args}))
        e = error_of("fail", b'{"throw":true}')
        self.assertEqual((e.code_name, e.message, e.details),
                         ("internal", "handler threw: demo handler threw on purpose", None))
        e = error_of("fail", b'{"code":"message_too_large","message":"big"}')
        self.assertEqual((e.code_name, e.code, e.message), ("message_too_large", 100, "big"))
        first = c.call_json("count", timeout=5)["count"]
        self.assertEqual(self.client().call_json("count", timeout=5)["count"], first + 1)

    def test_unknown_method(self):
        c = self.client()
        with self.assertRaises(PlexusError) as cm:
            c.call("nope", b"{}", timeout=5)
        e = cm.exception
        self.assertEqual((e.code_name, e.code), ("not_found", 5))
        self.assertEqual(e.message, 'no handler for method "nope"')
        self.assertEqual(e.details, {"method": "nope"})

    def test_zero_timeout(self):
        c = self.client()
        for method, payload in (("echo", b"x"), ("sleep", b'{"ms":1000}')):
            cid = c.send_request(method, payload, timeout=0)    # timeout_us = 0 on the wire
            with self.assertRaises(PlexusError) as cm:
                c.wait(cid, timeout=5)
            self.assertEqual((cm.exception.code_name, cm.exception.frame_kind),
                             ("deadline_exceeded", "ERROR"))
            self.assertEqual(cm.exception.message, "deadline passed before the call ran")
        cid = c.send_request("nope", b"x", timeout=0)  # an unknown method is reported first
        with self.assertRaises(PlexusError) as cm:
            c.wait(cid, timeout=5)
        self.assertEqual(cm.exception.code_name, "not_found")

    def test_deadline_sleep(self):
        c = self.client()
        start = time.monotonic()
        with self.assertRaises(PlexusError) as cm:
            c.call("sleep", b'{"ms":2000}', timeout=0.1)
        elapsed = time.monotonic() - start
        self.assertEqual((cm.exception.code_name, cm.exception.frame_kind),
                         ("deadline_exceeded", None))        # local, not from the wire
        self.assertLess(elapsed, 1.0)
        self.assertEqual(c.call("echo", b"after", timeout=5), b"after")
        # Without CANCEL the server still sends nothing for the abandoned call (section 6.3):
        # wait past the time the handler would have answered.
        cid = c.send_request("sleep", b'{"ms":2000}', timeout=0.1)
        self.assertNoFrame(c, 2.4, f"abandoned sleep call {cid}")
        self.assertEqual(c.call("echo", b"still", timeout=5), b"still")
        # Byte-exact REQUEST of section 10.6 is accepted and gets no answer either.
        r = self.raw()
        r.handshake()
        r.send(DOC_SLEEP_REQUEST)
        self.assertNoFrame(r, 0.5, "sleep with 250 ms deadline")
        r.send(encode_frame(px.CANCEL, 3))
        self.assertNoFrame(r, 0.8, "sleep with 250 ms deadline, after CANCEL")

    def test_cancel_sleep(self):
        c = self.client()
        start = time.monotonic()
        sid = c.send_request("sleep", b'{"ms":1000}')
        c.cancel(sid)
        eid = c.send_request("echo", b"next")
        f = c.next_frame(5)
        self.assertIsNotNone(f)
        self.assertEqual((f.kind, f.id, f.payload), (px.RESPONSE, eid, b"next"))
        c._pending.discard(eid)
        # No answer ever comes for the cancelled call, nor a reply to CANCEL.
        self.assertNoFrame(c, max(0.0, start + 1.5 - time.monotonic()), f"cancelled call {sid}")
        self.assertEqual(c.call("echo", b"again", timeout=5), b"again")

    def test_cancel_unknown_id_ignored(self):
        c = self.client()
        c.send_raw(encode_frame(px.CANCEL, 12345))
        self.assertEqual(c.call("echo", b"ok", timeout=5), b"ok")

    def test_ping_pong(self):
        c = self.client()
        c.ping(7)
        c.ping(2 ** 64 - 1)
        r = self.raw()
        r.handshake()
        r.send(DOC_PING)
        self.assertEqual(r.frame()[0], DOC_PONG)

    def test_pipelined_requests(self):
        c = self.client()
        n = 200
        expected = {}
        batch = bytearray()
        for i in range(n):
            cid = 1000 + i
            if i % 10 == 3:              # asynchronous: answers come out of order
                method, payload = "sleep", json.dumps({"ms": (i * 7) % 50}).encode()
                expected[cid] = ("sleep", (i * 7) % 50)
            elif i % 10 == 7:
                method, payload = "fail", b'{"code":"internal"}'
                expected[cid] = ("fail", None)
            elif i % 10 == 9:
                method, payload = "count", b""
                expected[cid] = ("count", None)
            else:
                method, payload = "echo", f"payload-{i}".encode() + bytes([i % 256])
                expected[cid] = ("echo", payload)
            batch += encode_frame(px.REQUEST, cid, px.tlv_str(px.K_METHOD, method), payload)
            c._pending.add(cid)
        c.send_raw(bytes(batch))                 # all 200 in one write, before reading
        seen = {}
        counts = []
        deadline = time.monotonic() + 20
        while len(seen) < n:
            f = c.next_frame(deadline - time.monotonic())
            self.assertIsNotNone(f, f"only {len(seen)} of {n} answers")
            if f.kind == px.PING:
                c.send_raw(encode_frame(px.PONG, f.id))
                continue
            self.assertIn(f.kind, (px.RESPONSE, px.ERROR))
            self.assertIn(f.id, expected)
            self.assertNotIn(f.id, seen, "answered twice")
            seen[f.id] = f
            what, arg = expected[f.id]
            if what == "echo":
                self.assertEqual((f.kind, f.payload), (px.RESPONSE, arg))
            elif what == "sleep":
                self.assertEqual(f.kind, px.RESPONSE)
                self.assertEqual(json.loads(f.payload), {"slept_ms": arg})
            elif what == "fail":
                self.assertEqual((f.kind, status_of(f.meta)), (px.ERROR, 13))
            else:
                self.assertEqual(f.kind, px.RESPONSE)
                counts.append((f.id, json.loads(f.payload)["count"]))
        counts.sort()
        vals = [v for _, v in counts]
        self.assertEqual(vals, list(range(vals[0], vals[0] + len(vals))))
        c._pending.clear()
        self.assertEqual(c.call("echo", b"end", timeout=5), b"end")

    def test_duplicate_in_flight_id(self):
        # Section 6.2 row 2 / 8.1: reusing the id of a call still in flight is fatal: GOAWAY
        # protocol_error (101), details {"id":N}, then close; the original call is never
        # answered.
        c = self.client()
        for _ in range(2):                               # a finished (sync) call's id: served again
            self.assertEqual(c.wait(c.send_request("echo", b"again", call_id=7), timeout=5),
                             b"again")
        c.send_request("sleep", b'{"ms":300}', call_id=5)
        c.send_raw(encode_frame(px.REQUEST, 5, px.tlv_str(px.K_METHOD, "echo"), b"dup"))
        f = c.next_frame(5)
        self.assertIsNotNone(f)
        self.assertEqual((f.kind, f.id, status_of(f.meta)), (px.GOAWAY, 0, 101))
        e = PlexusError.from_frame(f)
        self.assertEqual((e.code_name, e.message, e.details),
                         ("protocol_error", "call id 5 reused while still in flight", {"id": 5}))
        with self.assertRaises(PlexusError) as cm:       # closed; no answer for call 5
            while True:
                f = c.next_frame(5)
                self.assertIsNotNone(f, "server did not close")
                self.assertEqual(f.kind, px.PING, f"unexpected frame after GOAWAY: {f.raw.hex(' ')}")
        self.assertEqual(cm.exception.code_name, "unavailable")

    def test_subscribe_reusing_an_in_flight_call_id(self):
        # Section 6.1 / 16.3: call ids are unique across REQUEST and SUBSCRIBE, since both are
        # answered with RESPONSE. A SUBSCRIBE with the id of a call in flight is fatal.
        c = self.client()
        c.send_request("sleep", b'{"ms":300}', call_id=5)
        c.send_raw(encode_frame(px.SUBSCRIBE, 5, px.tlv_str(px.K_METHOD, "db.*")))
        f = c.next_frame(5)
        self.assertIsNotNone(f)
        self.assertEqual((f.kind, f.id, status_of(f.meta)), (px.GOAWAY, 0, 101))
        e = PlexusError.from_frame(f)
        self.assertEqual((e.code_name, e.message, e.details),
                         ("protocol_error", "call id 5 reused by a SUBSCRIBE while still in flight",
                          {"id": 5}))

    def test_stream_open_without_credit_is_refused(self):
        # Section 6.9: a STREAM_OPEN must grant at least 1 item and 1 byte; one that grants none
        # is ended at once with STREAM_END protocol_error, and the connection goes on.
        r = self.raw()
        r.handshake()
        for items, nbytes in ((0, 1 << 20), (256, 0)):
            with self.subTest(items=items, bytes=nbytes):
                md = (px.tlv_str(px.K_METHOD, "count_stream") + tlv(64, struct.pack("<I", items))
                      + tlv(65, struct.pack("<Q", nbytes)))
                r.send(encode_frame(STREAM_OPEN, 9, md, b'{"n":3}'))
                f = r.frame()
                while f is not None and f[1] == px.PING:
                    r.send(encode_frame(px.PONG, f[2]))
                    f = r.frame()
                self.assertIsNotNone(f, "no answer to a STREAM_OPEN without credit")
                _, kind, fid, meta, _ = f
                self.assertEqual((kind, fid, status_of(meta)), (STREAM_END, 9 | 1 << 63, 101))
                self.assertEqual(json.loads(meta[px.K_ERROR_DETAILS]),
                                 {"credit_items": items, "credit_bytes": nbytes})
        r.send(encode_frame(px.PING, 77))               # the connection is still served
        f = r.frame()
        self.assertEqual((f[1], f[2]), (px.PONG, 77))

    def test_huge_timeout_is_clamped(self):
        # Section 6.3: timeout_us above 30 days counts as 30 days (no overflow, no silent drop).
        c = self.client()
        for timeout_us in (2 ** 64 - 1, 2 ** 63, 30 * 24 * 3600 * 10 ** 6 + 1):
            md = px.tlv_str(px.K_METHOD, "sleep") + px.tlv_int(px.K_TIMEOUT_US, timeout_us)
            c._pending.add(40)
            c.send_raw(encode_frame(px.REQUEST, 40, md, b'{"ms":20}'))
            self.assertEqual(json.loads(c.wait(40, timeout=5)), {"slept_ms": 20}, timeout_us)

    def test_client_goaway(self):
        c = self.client()
        c.goodbye()                                      # GOAWAY ok: server keeps serving us
        self.assertEqual(c.call("echo", b"still served", timeout=5), b"still served")
        c2 = self.client()
        c2.send_raw(encode_frame(px.GOAWAY, 0, px.tlv_int(px.K_STATUS, 13)))
        with self.assertRaises(PlexusError) as cm:       # non-ok: server closes at once
            while True:
                self.assertIsNotNone(c2.next_frame(5), "server did not close")
        self.assertEqual(cm.exception.code_name, "unavailable")

    def test_error_without_status_is_fatal(self):
        c = self.client()
        c.send_raw(encode_frame(px.ERROR, 999))          # unknown id, but malformed
        f = c.next_frame(5)
        self.assertEqual((f.kind, status_of(f.meta)), (px.GOAWAY, 101))
        self.assertEqual(f.meta[px.K_ERROR_MESSAGE], b"ERROR frame lacks a status")

    def test_result_over_client_limit(self):
        c = self.client(max_message_size=10)
        with self.assertRaises(PlexusError) as cm:
            c.call("echo", b"0123456789abcdefghij", timeout=5)
        e = cm.exception
        self.assertEqual((e.code_name, e.frame_kind), ("message_too_large", "ERROR"))
        self.assertEqual(e.details, {"limit": 10, "size": 20})
        self.assertEqual(e.message, "payload of 20 bytes exceeds the peer's limit of 10")
        self.assertEqual(c.call("echo", b"0123456789", timeout=5), b"0123456789")

    def test_notify_gets_no_answer(self):
        c = self.client()
        before = c.call_json("count", timeout=5)["count"]
        c.send_raw(DOC_NOTIFY_COUNT)                     # section 10.7, byte for byte
        c.notify("nope", b"{}")                          # unknown method: still no answer
        c.notify("fail", b'{"code":"internal"}')         # handler error: still no answer
        cid = c.send_request("count")
        f = c.next_frame(5)
        self.assertIsNotNone(f)
        self.assertEqual((f.kind, f.id), (px.RESPONSE, cid),
                         f"next frame after NOTIFYs is not the call's answer: {f.raw.hex(' ')}")
        self.assertEqual(json.loads(f.payload)["count"], before + 2,
                         "NOTIFY count should have run the handler")

    def test_lanes(self):
        """Section 6.11: LANE_DATA on an open lane runs the method's handler like a NOTIFY, in
        order with NOTIFYs, with no answer; misuse is a fatal protocol_error."""
        c = self.client()
        self.assertTrue(c.peer_capabilities & 0x10000, "the server advertises lanes")
        before = c.call_json("count", timeout=5)["count"]
        c.open_lane(1, "count")
        c.open_lane(2, "nope")                           # no such method: messages dropped
        for _ in range(3):
            c.lane_send(1, b"{}")
            c.lane_send(2, b"{}")
        c.notify("count", b"{}")
        cid = c.send_request("count")
        f = c.next_frame(5)
        self.assertEqual((f.kind, f.id), (px.RESPONSE, cid),
                         f"next frame after lane messages is not the call's answer: {f.raw.hex(' ')}")
        self.assertEqual(json.loads(f.payload)["count"], before + 5)
        cases = [
            (encode_frame(px.LANE_DATA, 7, b"", b"x"), "LANE_DATA on lane 7, which is not open",
             {"id": 7}),
            (encode_frame(px.LANE_OPEN, 0, px.tlv_str(px.K_METHOD, "count")),
             "lane id 0 is out of range (1..4096) or already open", {"id": 0}),
            (encode_frame(px.LANE_OPEN, 4097, px.tlv_str(px.K_METHOD, "count")),
             "lane id 4097 is out of range (1..4096) or already open", {"id": 4097}),
            (encode_frame(px.LANE_OPEN, 1, px.tlv_str(px.K_METHOD, "count")) * 2,
             "lane id 1 is out of range (1..4096) or already open", {"id": 1}),
            (encode_frame(px.LANE_OPEN, 1), "LANE_OPEN frame lacks a method", None),
        ]
        for data, message, details in cases:
            with self.subTest(message=message):
                c = self.client()
                c.send_raw(data)
                f = c.next_frame(5)
                self.assertEqual(f.kind, px.GOAWAY)
                e = PlexusError.from_frame(f)
                self.assertEqual((e.code, e.message, e.details), (101, message, details))
                with self.assertRaises(PlexusError):      # then the server closes
                    c.next_frame(5)

    def test_publish_subscribe(self):
        """Section 16: SUBSCRIBE is answered, matching PUBLISHes arrive with the subscription
        id (the sender's own included), non-matching ones do not, a bad pattern is
        invalid_argument; the byte dumps of section 16.3."""
        c = self.client()
        c.send_raw(DOC_SUBSCRIBE)                          # id 5, "db.*", drop_newest
        f = c.next_frame(5)
        self.assertEqual(f.raw, DOC_SUBSCRIBE_RESPONSE)
        wide = c.subscribe("db.>")
        c.send_raw(DOC_PUBLISH)                            # "db.users" {"id":1}
        c.publish("db.users.insert", b"2")
        c.publish("other.x", b"3")
        c.publish("db.end", b"")                           # after the others, on both
        deadline = time.monotonic() + 5
        while (sum(1 for p in c.published if p[1] == "db.end") < 2
               and time.monotonic() < deadline):
            c.poll(0.05)
        # Per subscription, in publish order; nothing for "other.x".
        self.assertEqual([p for p in c.published if p[0] == 5],
                         [(5, "db.users", b'{"id":1}'), (5, "db.end", b"")])
        self.assertEqual([p for p in c.published if p[0] == wide],
                         [(wide, "db.users", b'{"id":1}'), (wide, "db.users.insert", b"2"),
                          (wide, "db.end", b"")])
        with self.assertRaises(PlexusError) as cm:
            c.subscribe("db..x")
        self.assertEqual(cm.exception.code_name, "invalid_argument")

    def test_publish_delivered_bytes(self):
        c = self.client()
        c.send_raw(DOC_SUBSCRIBE)
        self.assertEqual(c.next_frame(5).raw, DOC_SUBSCRIBE_RESPONSE)
        c.send_raw(DOC_PUBLISH)
        f = c.next_frame(5)
        self.assertEqual(f.raw, DOC_PUBLISH_DELIVERED)

    def test_unknown_kind_is_fatal(self):
        c = self.client()
        c.send_raw(encode_frame(15, 0))
        f = c.next_frame(5)
        self.assertEqual(f.kind, px.GOAWAY)
        e = PlexusError.from_frame(f)
        self.assertEqual((e.code, e.message, e.details),
                         (101, "unknown frame kind 15", {"kind": 15}))
        with self.assertRaises(PlexusError) as cm:
            c.next_frame(5)
        self.assertEqual(cm.exception.code_name, "unavailable")    # end of stream

    def test_malformed_frames_are_fatal(self):
        req = px.tlv_str(px.K_METHOD, "echo")
        cases = [  # (bytes after the handshake, expected error_message, expected details)
            (px.HEADER.pack(0, px.PING, 1, 0, 1), "reserved frame flags set: 1", None),
            (px.HEADER.pack(2, px.REQUEST, 0, 3, 1) + b"abc"[:2],
             "metadata length 3 exceeds body length 2", None),
            (encode_frame(px.REQUEST, 1, req + req), "metadata key 1: appears twice", {"key": 1}),
            (encode_frame(px.REQUEST, 1, req + tlv(3, b"")), "metadata key 3: is empty", {"key": 3}),
            (encode_frame(px.REQUEST, 1, req + tlv(2, b"\x01\x00\x00\x00")),
             "metadata key 2: has the wrong width", {"key": 2}),
            (encode_frame(px.REQUEST, 1, tlv(1, b"m" * 256)), "metadata key 1: is too long",
             {"key": 1}),
            (encode_frame(px.REQUEST, 1, req + tlv(4, b"\x02")),
             "metadata key 4: has an unknown content type", {"key": 4}),
            (encode_frame(px.REQUEST, 1, req + b"\x09\x00"), "metadata entry header truncated", None),
            (encode_frame(px.REQUEST, 1, req + b"\x09\x00\x05\x00ab"),
             "metadata key 9 runs past the block", None),
            (encode_frame(px.REQUEST, 1), "REQUEST frame lacks a method", None),
            (encode_frame(px.NOTIFY, 0), "NOTIFY frame lacks a method", None),
            (encode_frame(px.GOAWAY, 0), "GOAWAY frame lacks a status", None),
            (DOC_MIN_HELLO, "handshake frame after the handshake", None),
            (px.HEADER.pack(64 * 1024 * 1024 + 1, px.REQUEST, 0, 0, 1),
             "payload of 67108865 bytes exceeds the limit of 8388608",
             {"limit": 8388608, "size": 67108865}),
        ]
        for data, message, details in cases:
            with self.subTest(message=message):
                c = self.client()
                c.send_raw(data)
                f = c.next_frame(5)
                self.assertIsNotNone(f)
                self.assertEqual(f.kind, px.GOAWAY)
                e = PlexusError.from_frame(f)
                self.assertEqual(e.message, message)
                self.assertEqual(e.code, 100 if "payload" in message else 101)
                self.assertEqual(e.details, details)
                with self.assertRaises(PlexusError):      # then the server closes
                    c.next_frame(5)

    def test_frames_split_into_single_bytes(self):
        c = self.client()
        for b in DOC_ECHO_REQUEST + encode_frame(px.PING, 5):
            c.send_raw(bytes([b]))
        f = c.next_frame(5)
        self.assertEqual(f.raw, DOC_ECHO_RESPONSE)
        self.assertEqual((c.next_frame(5).kind, c.pings_answered), (px.PONG, 0))

    def test_unknown_metadata_key_skipped(self):
        c = self.client()
        md = tlv(0, b"") + px.tlv_str(px.K_METHOD, "echo") + tlv(9999, b"whatever")
        c._pending.add(77)
        c.send_raw(encode_frame(px.REQUEST, 77, md, b"k"))
        self.assertEqual(c.wait(77, timeout=5), b"k")

    def test_client_refuses_oversize_locally(self):
        c = self.client()
        with self.assertRaises(PlexusError) as cm:
            c.call("echo", b"x" * (8388608 + 1), timeout=5)
        self.assertEqual(cm.exception.code, 100)
        self.assertEqual(c.call("echo", b"y", timeout=5), b"y")


class LimitsMixin(ServerFixture):
    """A server with a small message limit and a fast heartbeat."""
    SERVER_ARGS = ("--max-message-size", "1024", "--heartbeat-ms", "200",
                   "--heartbeat-timeout-ms", "1000", "--drain-ms", "3000",
                   "--max-connections", "2")

    def test_connection_limit(self):
        c1 = self.client()
        c2 = self.client()
        with self.assertRaises(PlexusError) as cm:
            self.client()
        e = cm.exception
        self.assertEqual((e.code_name, e.code, e.frame_kind), ("resource_exhausted", 8, "GOAWAY"))
        self.assertEqual(e.message, "too many connections (limit 2)")
        self.assertEqual(e.details, {"limit": 2})
        r = self.raw()                                   # GOAWAY comes without any HELLO
        _, kind, _, meta, _ = r.frame()
        self.assertEqual((kind, status_of(meta)), (px.GOAWAY, 8))
        self.assertTrue(r.expect_eof())
        self.assertEqual(c1.call("echo", b"1", timeout=5), b"1")
        self.assertEqual(c2.call("echo", b"2", timeout=5), b"2")

    def test_handshake_timeout_and_oversize_hello(self):
        r = self.raw()
        r.send(DOC_MIN_HELLO[:10])                      # an incomplete HELLO
        start = time.monotonic()
        _, kind, _, meta, _ = r.frame(8)
        self.assertEqual((kind, status_of(meta)), (px.GOAWAY, 4))
        self.assertEqual(meta[px.K_ERROR_MESSAGE], b"handshake not completed within 5000 ms")
        self.assertAlmostEqual(time.monotonic() - start, 5.0, delta=1.0)
        self.assertTrue(r.expect_eof())
        r2 = self.raw()                                 # HELLO with a payload over the limit
        r2.send(encode_frame(px.HELLO, 0, DOC_MIN_HELLO[16:], b"h" * 1025))
        _, kind, _, meta, _ = r2.frame()
        self.assertEqual((kind, status_of(meta)), (px.GOAWAY, 100))
        self.assertTrue(r2.expect_eof())

    def test_oversize_notify_discarded(self):
        c = self.client()
        c.send_raw(encode_frame(px.NOTIFY, 0, px.tlv_str(px.K_METHOD, "count"), b"n" * 5000))
        self.assertEqual(c.call_json("count", timeout=5), {"count": 1})   # notify never ran

    def test_welcome_advertises_settings(self):
        c = self.client()
        self.assertEqual((c.peer_max_message_size, c.peer_heartbeat_ms), (1024, 200))

    def test_oversize_request(self):
        c = self.client()
        c._pending.add(9)
        c.send_raw(encode_frame(px.REQUEST, 9, px.tlv_str(px.K_METHOD, "echo"), b"z" * 2000))
        with self.assertRaises(PlexusError) as cm:
            c.wait(9, timeout=5)
        e = cm.exception
        self.assertEqual((e.code_name, e.code), ("message_too_large", 100))
        self.assertEqual(e.details, {"limit": 1024, "size": 2000})
        self.assertEqual(e.message, "payload of 2000 bytes exceeds the limit of 1024")
        self.assertEqual(c.call("echo", b"z" * 1024, timeout=5), b"z" * 1024)   # still open

    def test_heartbeat_answered_keeps_connection(self):
        c = self.client()
        c.poll(2.5)                                     # > heartbeat timeout, answering PINGs
        self.assertGreaterEqual(c.pings_answered, 2)
        self.assertEqual(c.call("echo", b"alive", timeout=5), b"alive")

    def test_heartbeat_silent_peer_dropped_without_goaway(self):
        r = self.raw()
        r.handshake()
        start = time.monotonic()
        nonces = []
        while True:
            try:
                f = r.frame(5)
            except EOFError:
                break
            self.assertIsNotNone(f, "server neither pinged nor closed")
            self.assertEqual(f[1], px.PING, "only PINGs expected, no GOAWAY")
            nonces.append(f[2])
        elapsed = time.monotonic() - start
        self.assertEqual(nonces, list(range(1, len(nonces) + 1)))
        self.assertGreaterEqual(len(nonces), 1)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 3.0)

    def test_graceful_shutdown(self):
        c = self.client()
        if self.TRANSPORT == "unix":                     # section 1.3: mode 0600
            self.assertEqual(os.stat(self.server.sock_path).st_mode & 0o777, 0o600)
        sid = c.send_request("sleep", b'{"ms":600}')
        time.sleep(0.1)
        self.server.signal(signal.SIGTERM)
        f = c.next_frame(5)
        self.assertIsNotNone(f)
        self.assertEqual(f.raw, DOC_GOAWAY_SHUTDOWN, "GOAWAY differs from section 10.8")
        c._dispatch(f)
        self.assertTrue(c.draining)
        with self.assertRaises(PlexusError) as cm:      # our client refuses new calls
            c.call("echo", b"x", timeout=5)
        self.assertEqual(cm.exception.code_name, "unavailable")
        c.send_raw(encode_frame(px.REQUEST, 500, px.tlv_str(px.K_METHOD, "echo"), b"x"))
        c._pending.add(500)
        c.ping(42)                                       # PINGs still answered
        f = c.wait_frame(500, deadline=time.monotonic() + 5)
        self.assertEqual((f.kind, f.id, status_of(f.meta)), (px.ERROR, 500, 14))
        self.assertEqual(f.meta[px.K_ERROR_MESSAGE], b"server is shutting down")
        self.assertEqual(json.loads(c.wait(sid, timeout=5)), {"slept_ms": 600})
        with self.assertRaises(PlexusError) as cm:      # then end of stream
            while True:
                f = c.next_frame(5)
                self.assertIsNotNone(f, "server did not close after draining")
                self.assertEqual(f.kind, px.PING)
        self.assertEqual(cm.exception.code_name, "unavailable")
        self.assertEqual(self.server.proc.wait(10), 0)
        self.assertFalse(os.path.exists(self.server.sock_path), "socket file not removed")


class UnixTransport(ConformanceMixin, unittest.TestCase):
    TRANSPORT = "unix"


class TcpTransport(ConformanceMixin, unittest.TestCase):
    TRANSPORT = "tcp"


class UnixLimits(LimitsMixin, unittest.TestCase):
    TRANSPORT = "unix"


class TcpLimits(LimitsMixin, unittest.TestCase):
    TRANSPORT = "tcp"


class IdleWaitMixin(ServerFixture):
    """`serve --idle-wait`: the answers do not depend on what the idle I/O thread does."""
    TRANSPORT = "unix"

    def test_round_trips_timers_and_pings(self):
        c = self.client()
        for i in range(100):
            self.assertEqual(c.call("echo", str(i).encode(), timeout=5), str(i).encode())
        self.assertEqual(c.call("sleep", b'{"ms":20}', timeout=5), b'{"slept_ms":20}')
        c.ping(3)


class SpinningServer(IdleWaitMixin, unittest.TestCase):
    SERVER_ARGS = ("--idle-wait", "spin")


class BlockingServer(IdleWaitMixin, unittest.TestCase):
    SERVER_ARGS = ("--idle-wait", "block")


class EncodingSelfTest(unittest.TestCase):
    """The client's encoder reproduces the client → server dumps of section 10."""

    def test_dumps(self):
        md = (tlv(32, b"PLXS") + tlv(33, struct.pack("<H", 1)) + tlv(34, b"py-client")
              + tlv(35, struct.pack("<Q", 3)) + tlv(36, struct.pack("<I", 8 << 20))
              + tlv(37, struct.pack("<I", 0)))
        self.assertEqual(encode_frame(px.HELLO, 0, md), DOC_HELLO)
        self.assertEqual(encode_frame(px.REQUEST, 1, px.tlv_str(1, "echo"), b'{"a":1}'),
                         DOC_ECHO_REQUEST)
        self.assertEqual(encode_frame(px.REQUEST, 3, px.tlv_str(1, "sleep")
                                      + px.tlv_int(2, 250000), b'{"ms":1000}'), DOC_SLEEP_REQUEST)
        self.assertEqual(encode_frame(px.NOTIFY, 0, px.tlv_str(1, "count")), DOC_NOTIFY_COUNT)
        self.assertEqual(encode_frame(px.PING, 7), DOC_PING)
        self.assertEqual(encode_frame(px.CANCEL, 3),
                         hexbytes("00 00 00 00 07 00 00 00 03 00 00 00 00 00 00 00"))

    def test_addresses(self):
        self.assertEqual(px.parse_address("unix:///a/b?x=1"), (socket.AF_UNIX, "/a/b"))
        self.assertEqual(px.parse_address("unix:@n"), (socket.AF_UNIX, "\0n"))
        self.assertEqual(px.parse_address("tcp://localhost:7"), (socket.AF_INET, ("127.0.0.1", 7)))
        self.assertEqual(px.parse_address("tcp://[::1]:7000"), (socket.AF_INET6, ("::1", 7000)))


if __name__ == "__main__":
    if not PLEXUS_CLI or not os.access(PLEXUS_CLI, os.X_OK):
        sys.exit("set PLEXUS_CLI (or pass the path as the first argument) to the plexus binary")
    unittest.main()
