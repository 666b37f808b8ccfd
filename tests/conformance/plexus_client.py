"""A minimal, standard-library-only client for the plexus wire protocol, version 1.

Written from docs/PROTOCOL.md alone (no C++ source was consulted). Single-threaded: frames
are only read while the caller waits for something (an answer, a PONG, or ``poll()``), and
every PING read meanwhile is answered with a PONG. A client that stays idle for longer than
the server's heartbeat timeout (15 s by default) without calling ``poll()`` is disconnected
(PROTOCOL.md section 7.2).

Typical use::

    with Client("unix:///run/user/1000/plexus/plexus.sock") as c:
        print(c.call("echo", b'{"a":1}', timeout=1.0))
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

__all__ = [
    "Client", "Frame", "PlexusError", "STATUS_NAMES", "STATUS_CODES",
    "HELLO", "WELCOME", "REQUEST", "RESPONSE", "ERROR", "NOTIFY", "CANCEL", "PING", "PONG",
    "GOAWAY", "KIND_NAMES", "encode_frame", "tlv", "decode_metadata", "parse_address",
    "default_address",
]

# --- Constants (PROTOCOL.md sections 2-6, 14) -------------------------------------------------

HEADER = struct.Struct("<IBBHQ")          # body_length, kind, flags, metadata_length, id
assert HEADER.size == 16

HELLO, WELCOME, REQUEST, RESPONSE, ERROR, NOTIFY, CANCEL, PING, PONG, GOAWAY = range(1, 11)
PUBLISH, SUBSCRIBE, UNSUBSCRIBE, BATCH = range(11, 15)   # section 16, 17
LANE_OPEN, LANE_DATA = 22, 23                              # section 6.11
KIND_NAMES = {HELLO: "HELLO", WELCOME: "WELCOME", REQUEST: "REQUEST", RESPONSE: "RESPONSE",
              ERROR: "ERROR", NOTIFY: "NOTIFY", CANCEL: "CANCEL", PING: "PING", PONG: "PONG",
              GOAWAY: "GOAWAY", PUBLISH: "PUBLISH", SUBSCRIBE: "SUBSCRIBE",
              UNSUBSCRIBE: "UNSUBSCRIBE", BATCH: "BATCH", LANE_OPEN: "LANE_OPEN",
              LANE_DATA: "LANE_DATA"}

K_METHOD, K_TIMEOUT_US, K_TRACE_ID, K_CONTENT_TYPE = 1, 2, 3, 4
K_STATUS, K_ERROR_MESSAGE, K_ERROR_DETAILS = 5, 6, 7
K_MAGIC, K_VERSION, K_PEER_NAME, K_CAPABILITIES, K_MAX_MESSAGE_SIZE, K_HEARTBEAT_MS = range(32, 38)

MAGIC = b"PLXS"
VERSION = 1
CAP_CANCEL, CAP_DEADLINE = 0x1, 0x2
DEFAULT_MAX_MESSAGE_SIZE = 8 * 1024 * 1024
MAX_TIMEOUT_US = 30 * 24 * 3600 * 10 ** 6   # section 6.3: larger values count as 30 days

# Known keys: integer keys with their exact width, string keys with their maximum length.
_INT_WIDTH = {K_TIMEOUT_US: 8, K_CONTENT_TYPE: 1, K_STATUS: 2, K_VERSION: 2,
              K_CAPABILITIES: 8, K_MAX_MESSAGE_SIZE: 4, K_HEARTBEAT_MS: 4}
_STR_MAX = {K_METHOD: 255, K_TRACE_ID: 64, K_ERROR_MESSAGE: 65535, K_ERROR_DETAILS: 65535,
            K_MAGIC: 4, K_PEER_NAME: 255}
_INT_FMT = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}

STATUS_NAMES = {0: "ok", 1: "cancelled", 2: "unknown", 3: "invalid_argument",
                4: "deadline_exceeded", 5: "not_found", 6: "already_exists",
                7: "permission_denied", 8: "resource_exhausted", 9: "failed_precondition",
                13: "internal", 14: "unavailable", 16: "unauthenticated", 100: "message_too_large", 101: "protocol_error"}
STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}


# --- Errors ------------------------------------------------------------------------------------

class PlexusError(Exception):
    """A failed call, a refused handshake, a fatal GOAWAY or a local failure.

    ``code_name``/``code``: the status (section 6.8); a number this client does not know is
    reported as ``unknown`` (2), with the number received kept in ``wire_code``.
    ``message``: text for people. ``details``: the parsed ``error_details`` JSON object when
    it parses, else the raw text, else None (``details_raw`` always holds the raw text).
    ``frame_kind``: "ERROR", "GOAWAY", or None when the failure is local.
    """

    def __init__(self, code_name: str, code: int, message: str = "", details: Any = None,
                 *, details_raw: Optional[str] = None, frame_kind: Optional[str] = None,
                 wire_code: Optional[int] = None):
        super().__init__(f"{code_name} ({code}): {message}" if message else f"{code_name} ({code})")
        self.code_name = code_name
        self.code = code
        self.message = message
        self.details = details
        self.details_raw = details_raw
        self.frame_kind = frame_kind
        self.wire_code = code if wire_code is None else wire_code

    @classmethod
    def local(cls, code_name: str, message: str = "") -> "PlexusError":
        return cls(code_name, STATUS_CODES[code_name], message)

    @classmethod
    def from_frame(cls, frame: "Frame") -> "PlexusError":
        wire = _u(frame.meta[K_STATUS])
        name = STATUS_NAMES.get(wire, "unknown")
        message = frame.meta.get(K_ERROR_MESSAGE, b"").decode("utf-8", "replace")
        raw = frame.meta.get(K_ERROR_DETAILS)
        raw_text = raw.decode("utf-8", "replace") if raw is not None else None
        details: Any = None
        if raw_text is not None:
            try:                                   # details may be invalid JSON (section 6.2)
                details = json.loads(raw_text)
            except ValueError:
                details = raw_text
        return cls(name, STATUS_CODES[name], message, details, details_raw=raw_text,
                   frame_kind=KIND_NAMES[frame.kind], wire_code=wire)


class _Timeout(Exception):
    pass


# --- Encoding / decoding -----------------------------------------------------------------------

def _u(value: bytes) -> int:
    return int.from_bytes(value, "little")


def tlv(key: int, value: bytes) -> bytes:
    """One metadata entry: u16 key, u16 length, value."""
    if len(value) > 0xFFFF:
        raise ValueError("metadata value longer than 65535 bytes")
    return struct.pack("<HH", key, len(value)) + value


def tlv_int(key: int, value: int) -> bytes:
    return tlv(key, struct.pack(_INT_FMT[_INT_WIDTH[key]], value))


def tlv_str(key: int, value: Union[str, bytes]) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if not 1 <= len(data) <= _STR_MAX[key]:
        raise ValueError(f"metadata key {key}: length {len(data)} not in 1..{_STR_MAX[key]}")
    return tlv(key, data)


def encode_frame(kind: int, id: int = 0, metadata: bytes = b"", payload: bytes = b"") -> bytes:
    if len(metadata) > 0xFFFF:
        raise ValueError("metadata block longer than 65535 bytes")
    return HEADER.pack(len(metadata) + len(payload), kind, 0, len(metadata), id) + metadata + payload


def decode_metadata(block: bytes) -> Dict[int, bytes]:
    """Decode a TLV block per section 4.3; unknown keys are skipped. Raises PlexusError
    protocol_error on any violation."""
    out: Dict[int, bytes] = {}
    pos = 0
    while pos < len(block):
        if len(block) - pos < 4:
            raise PlexusError.local("protocol_error", "metadata entry header truncated")
        key, length = struct.unpack_from("<HH", block, pos)
        pos += 4
        if pos + length > len(block):
            raise PlexusError.local("protocol_error", f"metadata key {key} runs past the block")
        value = bytes(block[pos:pos + length])
        pos += length
        if key in _INT_WIDTH:
            if length != _INT_WIDTH[key]:
                raise PlexusError.local("protocol_error", f"metadata key {key}: has the wrong width")
            if key == K_CONTENT_TYPE and value[0] not in (0, 1):
                raise PlexusError.local("protocol_error",
                                        "metadata key 4: has an unknown content type")
        elif key in _STR_MAX:
            if length == 0:
                raise PlexusError.local("protocol_error", f"metadata key {key}: is empty")
            if length > _STR_MAX[key]:
                raise PlexusError.local("protocol_error", f"metadata key {key}: is too long")
        else:
            continue                                           # unknown key: skipped
        if key in out:
            raise PlexusError.local("protocol_error", f"metadata key {key}: appears twice")
        out[key] = value
    return out


_REQUIRED = {HELLO: ((K_MAGIC, "the magic"), (K_VERSION, "a version")),
             WELCOME: ((K_MAGIC, "the magic"), (K_VERSION, "a version")),
             REQUEST: ((K_METHOD, "a method"),), NOTIFY: ((K_METHOD, "a method"),),
             LANE_OPEN: ((K_METHOD, "a method"),),
             ERROR: ((K_STATUS, "a status"),), GOAWAY: ((K_STATUS, "a status"),)}


class Frame(NamedTuple):
    kind: int
    id: int
    meta: Dict[int, bytes]
    payload: bytes
    raw: bytes                                  # the whole frame as received

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, str(self.kind))


# --- Addresses (section 1.3) -------------------------------------------------------------------

def default_address() -> str:
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg.startswith("/"):
        return f"unix://{xdg}/plexus/plexus.sock"
    return f"unix:///tmp/plexus-{os.getuid()}/plexus.sock"


def parse_address(address: str):
    """Return (family, sockaddr) for unix:///path, unix:@name, tcp://host:port or 'default'."""
    if address == "default":
        address = default_address()
    address = address.split("?", 1)[0]                # options are reserved and ignored
    if address.startswith("unix://"):
        path = address[len("unix://"):]
        if not path.startswith("/") or len(path.encode()) > 107:
            raise ValueError(f"bad unix address {address!r}")
        return socket.AF_UNIX, path
    if address.startswith("unix:@"):
        name = address[len("unix:@"):]
        if not 1 <= len(name.encode()) <= 106:
            raise ValueError(f"bad abstract unix address {address!r}")
        return socket.AF_UNIX, "\0" + name
    if address.startswith("tcp://"):
        rest = address[len("tcp://"):]
        if rest.startswith("["):
            host, _, port = rest[1:].partition("]:")
            family = socket.AF_INET6
        else:
            host, _, port = rest.rpartition(":")
            family = socket.AF_INET
            if host == "localhost":
                host = "127.0.0.1"
        if not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"bad tcp address {address!r}")
        return family, (host, int(port))
    raise ValueError(f"unsupported address {address!r}")


# --- The client --------------------------------------------------------------------------------

class Client:
    """One plexus connection (the dialer side)."""

    def __init__(self, address: str, *, name: str = "py-client",
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 connect_timeout: float = 5.0, version: int = VERSION, connect: bool = True):
        self.address = address
        self.name = name
        self.max_message_size = max_message_size
        self.connect_timeout = connect_timeout
        self.version = version                       # != 1 only to test refusals
        self.sock: Optional[socket.socket] = None
        self.peer_name = ""
        self.published: List[Tuple[int, str, bytes]] = []   # PUBLISH frames received
        self.peer_capabilities = 0
        self.peer_max_message_size = DEFAULT_MAX_MESSAGE_SIZE
        self.peer_heartbeat_ms = 0
        self.welcome: Optional[Frame] = None
        self.goaway: Optional[Frame] = None          # the last GOAWAY received
        self.draining = False                        # GOAWAY ok received: no new calls
        self.closed = False
        self.pings_answered = 0
        self._send_error: Optional[str] = None       # a send failed: the peer stopped reading
        self._buf = bytearray()
        self._next_id = 1
        self._next_nonce = 1
        self._pending: set = set()                   # ids of our calls in flight
        self._answers: Dict[int, Frame] = {}         # answers read while waiting for others
        self._pongs: set = set()
        if connect:
            self.connect()

    # -- connection ---------------------------------------------------------------------------

    def connect(self) -> "Client":
        family, sockaddr = parse_address(self.address)
        sock = socket.socket(family, socket.SOCK_STREAM)
        deadline = time.monotonic() + self.connect_timeout
        sock.settimeout(self.connect_timeout)
        try:
            sock.connect(sockaddr)
        except socket.timeout:
            sock.close()
            raise PlexusError.local("deadline_exceeded", f"connect to {self.address} timed out")
        except OSError as e:
            sock.close()
            raise PlexusError.local("unavailable", f"cannot connect to {self.address}: {e}")
        if family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self._send_error = None
        md = tlv(K_MAGIC, MAGIC) + tlv_int(K_VERSION, self.version)
        if self.name:
            md += tlv_str(K_PEER_NAME, self.name.encode()[:255])
        md += (tlv_int(K_CAPABILITIES, CAP_CANCEL | CAP_DEADLINE)
               + tlv_int(K_MAX_MESSAGE_SIZE, self.max_message_size)
               + tlv_int(K_HEARTBEAT_MS, 0))
        try:
            sock.sendall(encode_frame(HELLO, 0, md))
        except OSError:
            pass          # the server may have refused already: read its GOAWAY (section 5.5)
        try:
            frame = self._read_frame(deadline)
        except _Timeout:
            self._fatal("deadline_exceeded", "handshake not completed in time")
        if frame.kind == GOAWAY:
            self.goaway = frame
            self._close()
            raise PlexusError.from_frame(frame)
        if frame.kind != WELCOME:
            self._fatal("protocol_error", f"expected WELCOME, got {frame.kind_name}")
        if frame.meta[K_MAGIC] != MAGIC:
            self._fatal("protocol_error", 'bad handshake magic (expected "PLXS")')
        if _u(frame.meta[K_VERSION]) != VERSION:
            self._fatal("protocol_error", f"unsupported protocol version "
                        f"{_u(frame.meta[K_VERSION])} (this peer speaks 1)")
        self.welcome = frame
        self.peer_name = frame.meta.get(K_PEER_NAME, b"").decode("utf-8", "replace")
        self.peer_capabilities = _u(frame.meta.get(K_CAPABILITIES, b"\0"))
        self.peer_max_message_size = _u(frame.meta.get(K_MAX_MESSAGE_SIZE,
                                                       struct.pack("<I", DEFAULT_MAX_MESSAGE_SIZE)))
        self.peer_heartbeat_ms = _u(frame.meta.get(K_HEARTBEAT_MS, b"\0"))
        return self

    def close(self) -> None:
        """Close the socket (no GOAWAY is needed, section 9.2)."""
        self._close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def goodbye(self) -> None:
        """Send GOAWAY ok (optional before close)."""
        self._send(encode_frame(GOAWAY, 0, tlv_int(K_STATUS, 0)))

    # -- calls --------------------------------------------------------------------------------

    def call(self, method: str, payload: Union[bytes, str] = b"", timeout: Optional[float] = None,
             *, trace_id: Optional[bytes] = None, cancel_on_timeout: bool = True) -> bytes:
        """Make a call and return the RESPONSE payload; raise PlexusError on ERROR, on a fatal
        GOAWAY, on end of stream, or (``deadline_exceeded``) when ``timeout`` seconds pass,
        in which case CANCEL is sent (unless ``cancel_on_timeout`` is False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        call_id = self.send_request(method, payload, timeout, trace_id=trace_id)
        return self.wait(call_id, deadline=deadline, cancel_on_timeout=cancel_on_timeout)

    def call_json(self, method: str, value: Any = None, timeout: Optional[float] = None) -> Any:
        payload = b"" if value is None else json.dumps(value, separators=(",", ":")).encode()
        result = self.call(method, payload, timeout)
        return json.loads(result) if result else None

    def send_request(self, method: str, payload: Union[bytes, str] = b"",
                     timeout: Optional[float] = None, *, trace_id: Optional[bytes] = None,
                     call_id: Optional[int] = None) -> int:
        """Send a REQUEST without waiting; return its id (for ``wait``/``cancel``)."""
        if self.draining:
            raise PlexusError.local("unavailable", "peer is shutting down")
        payload = payload.encode() if isinstance(payload, str) else bytes(payload)
        self._check_size(payload)
        md = tlv_str(K_METHOD, method)
        if timeout is not None:
            md += tlv_int(K_TIMEOUT_US, min(max(int(timeout * 1_000_000), 0), MAX_TIMEOUT_US))
        if trace_id is not None:
            md += tlv_str(K_TRACE_ID, trace_id)
        if call_id is None:
            call_id = self._next_id
            self._next_id += 1
        self._pending.add(call_id)
        try:
            self._send(encode_frame(REQUEST, call_id, md, payload))
        except PlexusError:
            self._pending.discard(call_id)             # never sent: nothing to wait for
            raise
        return call_id

    def wait(self, call_id: int, timeout: Optional[float] = None, *,
             deadline: Optional[float] = None, cancel_on_timeout: bool = True) -> bytes:
        """Wait for the answer to a call sent with ``send_request``."""
        if deadline is None and timeout is not None:
            deadline = time.monotonic() + timeout
        frame = self.wait_frame(call_id, deadline=deadline, cancel_on_timeout=cancel_on_timeout)
        if frame.kind == ERROR:
            raise PlexusError.from_frame(frame)
        return frame.payload

    def wait_frame(self, call_id: int, *, deadline: Optional[float] = None,
                   cancel_on_timeout: bool = True) -> Frame:
        """Like ``wait`` but return the RESPONSE or ERROR frame itself."""
        if call_id not in self._pending and call_id not in self._answers:
            raise ValueError(f"call {call_id} is not in flight")
        while call_id not in self._answers:
            try:
                self._dispatch(self._read_frame(deadline))
            except _Timeout:
                self._pending.discard(call_id)
                if cancel_on_timeout:
                    self._reply(encode_frame(CANCEL, call_id))   # best effort, like cancel()
                raise PlexusError.local("deadline_exceeded", "the call's deadline passed")
        return self._answers.pop(call_id)

    def cancel(self, call_id: int) -> None:
        """Send CANCEL; the call is over locally and a crossing answer will be ignored."""
        self._pending.discard(call_id)
        self._answers.pop(call_id, None)
        self._send(encode_frame(CANCEL, call_id))

    def notify(self, method: str, payload: Union[bytes, str] = b"", *,
               trace_id: Optional[bytes] = None) -> None:
        payload = payload.encode() if isinstance(payload, str) else bytes(payload)
        self._check_size(payload)
        md = tlv_str(K_METHOD, method)
        if trace_id is not None:
            md += tlv_str(K_TRACE_ID, trace_id)
        self._send(encode_frame(NOTIFY, 0, md, payload))

    def open_lane(self, lane_id: int, method: str) -> None:
        """LANE_OPEN (section 6.11): from now on LANE_DATA on `lane_id` is a NOTIFY to
        `method`. Only to a peer that advertised the lanes capability."""
        self._send(encode_frame(LANE_OPEN, lane_id, tlv_str(K_METHOD, method)))

    def lane_send(self, lane_id: int, payload: Union[bytes, str] = b"") -> None:
        payload = payload.encode() if isinstance(payload, str) else bytes(payload)
        self._check_size(payload)
        self._send(encode_frame(LANE_DATA, lane_id, b"", payload))

    def subscribe(self, pattern: str, options: Any = None, timeout: float = 5.0) -> int:
        """SUBSCRIBE (section 16.3) and wait for the server's RESPONSE; return the subscription
        id. Matching messages then arrive as PUBLISH frames with that id (``published``)."""
        sub_id = self._next_id
        self._next_id += 1
        payload = b"" if options is None else json.dumps(options, separators=(",", ":")).encode()
        self._pending.add(sub_id)
        self._send(encode_frame(SUBSCRIBE, sub_id, tlv_str(K_METHOD, pattern), payload))
        self.wait(sub_id, timeout)
        return sub_id

    def unsubscribe(self, sub_id: int) -> None:
        self._send(encode_frame(UNSUBSCRIBE, sub_id))

    def publish(self, topic: str, payload: Union[bytes, str] = b"") -> None:
        """PUBLISH (section 16.2): fire and forget, routed by the server."""
        payload = payload.encode() if isinstance(payload, str) else bytes(payload)
        self._check_size(payload)
        self._send(encode_frame(PUBLISH, 0, tlv_str(K_METHOD, topic), payload))

    def ping(self, nonce: Optional[int] = None, timeout: float = 5.0) -> float:
        """Send PING and wait for the PONG with the same id; return the round trip in s."""
        if nonce is None:
            nonce = self._next_nonce
            self._next_nonce += 1
        start = time.monotonic()
        self._send(encode_frame(PING, nonce))
        deadline = start + timeout
        while nonce not in self._pongs:
            try:
                self._dispatch(self._read_frame(deadline))
            except _Timeout:
                raise PlexusError.local("deadline_exceeded", f"no PONG for nonce {nonce}")
        self._pongs.discard(nonce)
        return time.monotonic() - start

    def poll(self, timeout: float = 0.0) -> None:
        """Process incoming frames (answering PINGs) for up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._dispatch(self._read_frame(deadline))
        except _Timeout:
            pass

    def next_frame(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """Low level: read and return the next frame without dispatching it (None on
        timeout). PINGs are returned too, not answered."""
        try:
            return self._read_frame(None if timeout is None else time.monotonic() + timeout)
        except _Timeout:
            return None

    def send_raw(self, data: bytes) -> None:
        self._send(data)

    @property
    def pending(self) -> set:
        return set(self._pending)

    # -- internals ----------------------------------------------------------------------------

    def _check_size(self, payload: bytes) -> None:
        if len(payload) > self.peer_max_message_size:
            raise PlexusError("message_too_large", 100,
                              f"payload of {len(payload)} bytes exceeds the peer's limit of "
                              f"{self.peer_max_message_size}",
                              {"limit": self.peer_max_message_size, "size": len(payload)})

    def _send(self, data: bytes) -> None:
        if self.sock is None:
            raise PlexusError.local("unavailable", "not connected")
        if self._send_error is not None:
            raise PlexusError.local("unavailable", f"send failed: {self._send_error}")
        try:
            self.sock.settimeout(None)
            self.sock.sendall(data)
        except OSError as e:
            # The peer stopped reading (it closed, e.g. a server that drained and closed after
            # its last responses). What it sent before is still in the receive buffer, so the
            # socket stays open for reading until the end of the stream; no more sends.
            self._send_error = str(e)
            raise PlexusError.local("unavailable", f"send failed: {e}")

    def _reply(self, data: bytes) -> bool:
        """Best-effort frames (PONG, an ERROR for the peer's request, a CANCEL on timeout): a
        failed send only means the peer stopped reading, which the next read reports; the
        frames it sent before still count."""
        try:
            self._send(data)
            return True
        except PlexusError:
            return False

    def _recv_more(self, deadline: Optional[float]) -> None:
        if self.sock is None:
            raise PlexusError.local("unavailable", "not connected")
        if deadline is None:
            self.sock.settimeout(None)
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout()
            self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            raise _Timeout()
        except OSError as e:                        # ECONNRESET etc.
            self._close()
            raise PlexusError.local("unavailable", f"connection lost: {e}")
        if not chunk:
            self._close()
            raise PlexusError.local("unavailable", "connection closed by peer")
        self._buf += chunk

    def _read_frame(self, deadline: Optional[float]) -> Frame:
        while len(self._buf) < 16:
            self._recv_more(deadline)
        body_len, kind, flags, meta_len, fid = HEADER.unpack_from(self._buf)
        # Kinds 1..13; no BATCH (14): this client does not advertise the batch capability.
        if not 1 <= kind <= 13:
            self._fatal("protocol_error", f"unknown frame kind {kind}", {"kind": kind})
        if flags != 0:
            self._fatal("protocol_error", f"reserved frame flags set: {flags}")
        if meta_len > body_len:
            self._fatal("protocol_error", f"metadata length {meta_len} exceeds body length {body_len}")
        if body_len - meta_len > self.max_message_size:
            size = body_len - meta_len
            self._fatal("message_too_large", f"payload of {size} bytes exceeds the limit of "
                        f"{self.max_message_size}", {"limit": self.max_message_size, "size": size})
        while len(self._buf) < 16 + body_len:
            self._recv_more(deadline)
        raw = bytes(self._buf[:16 + body_len])
        del self._buf[:16 + body_len]
        try:
            meta = decode_metadata(raw[16:16 + meta_len])
        except PlexusError as e:
            self._fatal("protocol_error", e.message)
        for key, what in _REQUIRED.get(kind, ()):
            if key not in meta:
                self._fatal("protocol_error", f"{KIND_NAMES[kind]} frame lacks {what}")
        frame = Frame(kind, fid, meta, raw[16 + meta_len:], raw)
        if self.welcome is None and kind not in (WELCOME, GOAWAY):
            self._fatal("protocol_error", f"expected WELCOME, got {frame.kind_name}")
        if self.welcome is not None and kind in (HELLO, WELCOME):
            self._fatal("protocol_error", "handshake frame after the handshake")
        return frame

    def _dispatch(self, frame: Frame) -> None:
        kind = frame.kind
        if kind in (RESPONSE, ERROR):
            if frame.id in self._pending:              # else: late or unknown, ignored
                self._pending.discard(frame.id)
                self._answers[frame.id] = frame
        elif kind == PING:
            if self._reply(encode_frame(PONG, frame.id)):
                self.pings_answered += 1
        elif kind == PONG:
            self._pongs.add(frame.id)
        elif kind == PUBLISH:                          # (subscription id, topic, payload)
            self.published.append((frame.id, frame.meta[K_METHOD].decode("utf-8", "replace"),
                                   frame.payload))
        elif kind == REQUEST:                          # we serve no methods (section 6.6)
            method = frame.meta[K_METHOD].decode("utf-8", "replace")
            md = (tlv_int(K_STATUS, STATUS_CODES["not_found"])
                  + tlv_str(K_ERROR_MESSAGE, f'no handler for method "{method}"'.encode()[:65535])
                  + tlv_str(K_ERROR_DETAILS, json.dumps({"method": method}).encode()[:65535]))
            self._reply(encode_frame(ERROR, frame.id, md))
        elif kind == GOAWAY:
            self.goaway = frame
            if _u(frame.meta[K_STATUS]) == 0:
                self.draining = True                   # keep reading answers in flight
            else:
                self._close()
                raise PlexusError.from_frame(frame)
        # NOTIFY and CANCEL: nothing to do for a client without handlers.

    def _fatal(self, code_name: str, message: str, details: Optional[dict] = None):
        """Send GOAWAY with the reason, close, raise."""
        md = tlv_int(K_STATUS, STATUS_CODES[code_name]) + tlv_str(K_ERROR_MESSAGE, message)
        if details is not None:
            md += tlv_str(K_ERROR_DETAILS, json.dumps(details, separators=(",", ":")).encode())
        try:
            if self.sock is not None:
                self.sock.settimeout(1.0)
                self.sock.sendall(encode_frame(GOAWAY, 0, md))
        except OSError:
            pass
        self._close()
        raise PlexusError(code_name, STATUS_CODES[code_name], message, details)

    def _close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None
        self.closed = True
        self._pending.clear()
