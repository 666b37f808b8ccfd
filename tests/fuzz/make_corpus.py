#!/usr/bin/env python3
"""Writes the seed corpora of the wire fuzz targets (tests/fuzz/corpus/<target>/*.bin).

The frames are laid out here from docs/PROTOCOL.md independently of the C++ codec: a 16-byte
little-endian header (u32 body_length, u8 kind, u8 flags, u16 metadata_length, u64 id), then
TLV metadata entries (u16 key, u16 length, value), then the payload. Deterministic, so re-running
it leaves the committed files unchanged. Usage: tests/fuzz/make_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

HELLO, WELCOME, REQUEST, RESPONSE, ERROR, NOTIFY, CANCEL, PING, PONG, GOAWAY = range(1, 11)
PUBLISH, SUBSCRIBE, UNSUBSCRIBE, BATCH = range(11, 15)
METHOD, TIMEOUT_US, TRACE_ID, CONTENT_TYPE, STATUS, ERROR_MESSAGE, ERROR_DETAILS = range(1, 8)
MAGIC, VERSION, PEER_NAME, CAPABILITIES, MAX_MESSAGE_SIZE, HEARTBEAT_MS = range(32, 38)
STREAM_OPEN, STREAM_DATA, STREAM_END, STREAM_CREDIT, STREAM_CANCEL = range(17, 22)
CREDIT_ITEMS, CREDIT_BYTES, PROGRESS_DONE, PROGRESS_TOTAL = range(64, 68)
ACCEPTOR_BIT = 1 << 63
FUZZ_MAX_MESSAGE = 1024  # kFuzzMaxMessage in frame_decoder_fuzz.cpp


def entry(key, value):
    return struct.pack("<HH", key, len(value)) + value


def u8(v): return struct.pack("<B", v)
def u16(v): return struct.pack("<H", v)
def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)


def header(body_length, kind, flags, metadata_length, frame_id):
    return struct.pack("<IBBHQ", body_length, kind, flags, metadata_length, frame_id)


def frame(kind, frame_id, metadata=b"", payload=b""):
    return header(len(metadata) + len(payload), kind, 0, len(metadata), frame_id) + metadata + payload


def hello_md(version=1, name=b"seed-peer"):
    return (entry(MAGIC, b"PLXS") + entry(VERSION, u16(version)) + entry(PEER_NAME, name) +
            entry(CAPABILITIES, u64(3)) + entry(MAX_MESSAGE_SIZE, u32(8 << 20)) +
            entry(HEARTBEAT_MS, u32(5000)))


def request_md(method=b"echo"):
    return (entry(METHOD, method) + entry(TIMEOUT_US, u64(1_500_000)) +
            entry(TRACE_ID, b"trace-0001") + entry(CONTENT_TYPE, u8(1)))


def error_md(status=101, message=b"bad frame", details=b'{"key":1}'):
    return entry(STATUS, u16(status)) + entry(ERROR_MESSAGE, message) + entry(ERROR_DETAILS, details)


FRAME_DECODER = {
    "hello": frame(HELLO, 0, hello_md()),
    "welcome": frame(WELCOME, 0, hello_md(name=b"seed-server")),
    "hello_minimal": frame(HELLO, 0, entry(MAGIC, b"PLXS") + entry(VERSION, u16(1))),
    "hello_version2": frame(HELLO, 0, hello_md(version=2)),
    "session": b"".join([
        frame(HELLO, 0, hello_md()),
        frame(REQUEST, 1, request_md(), b'{"hello":"world"}'),
        frame(RESPONSE, 1, b"", b'{"hello":"world"}'),
        frame(NOTIFY, 0, entry(METHOD, b"event.tick"), b"{}"),
        frame(PING, 7),
        frame(PONG, 7),
        frame(CANCEL, 2),
        frame(ERROR, 2, entry(STATUS, u16(1)) + entry(ERROR_MESSAGE, b"cancelled")),
        frame(GOAWAY, 0, error_md(status=0, message=b"bye", details=b"{}")),
    ]),
    "request_at_limit": frame(REQUEST, 3, entry(METHOD, b"echo"), b"x" * FUZZ_MAX_MESSAGE),
    "too_large_then_request": frame(REQUEST, 4, entry(METHOD, b"echo"),
                                    b"y" * (FUZZ_MAX_MESSAGE + 1)) +
    frame(REQUEST, 5, entry(METHOD, b"echo"), b"after"),
    "claims_4gib": header(0xFFFFFFFF, REQUEST, 0, 0, 9),
    "unknown_key": frame(REQUEST, 6, entry(999, b"future") + entry(METHOD, b"echo"), b"p"),
    "duplicate_key": frame(REQUEST, 7, entry(METHOD, b"echo") + entry(METHOD, b"echo")),
    "wrong_width": frame(ERROR, 8, entry(STATUS, u32(101))),
    "unknown_kind": header(0, 15, 0, 0, 1),
    "reserved_flags": header(0, PING, 1, 0, 1),
    "metadata_past_body": header(4, REQUEST, 0, 8, 1) + b"abcd",
    "truncated_request": frame(REQUEST, 10, request_md(), b"payload")[:30],
    "pubsub": b"".join([
        frame(SUBSCRIBE, 11, entry(METHOD, b"db.*"), b'{"queue":8,"policy":"drop_newest"}'),
        frame(PUBLISH, 0, entry(METHOD, b"db.users"), b'{"id":1}'),
        frame(PUBLISH, 11, entry(METHOD, b"db.users"), b'{"id":1}'),
        frame(UNSUBSCRIBE, 11),
    ]),
    "batch": frame(BATCH, 0, b"", frame(NOTIFY, 0, entry(METHOD, b"tick"), b"1") +
                   frame(PUBLISH, 3, entry(METHOD, b"db.x"), b"2")),
    "stream": b"".join([
        frame(STREAM_OPEN, 11, entry(METHOD, b"count_stream") + entry(CREDIT_ITEMS, u32(256)) +
              entry(CREDIT_BYTES, u64(1 << 20)), b'{"n":3}'),
        frame(STREAM_CREDIT, 11 | ACCEPTOR_BIT, entry(CREDIT_ITEMS, u32(256)) +
              entry(CREDIT_BYTES, u64(1 << 20))),
        frame(STREAM_DATA, 11 | ACCEPTOR_BIT, entry(PROGRESS_DONE, u64(1)) +
              entry(PROGRESS_TOTAL, u64(3)), b'{"i":0}'),
        frame(STREAM_DATA, 11, b"", b"up"),
        frame(STREAM_END, 11),
        frame(STREAM_CANCEL, 11, entry(STATUS, u16(1)) + entry(ERROR_MESSAGE, b"stop")),
        frame(STREAM_END, 11 | ACCEPTOR_BIT, error_md(status=8, message=b"full", details=b"{}")),
    ]),
    "stream_open_no_credit": frame(STREAM_OPEN, 12, entry(METHOD, b"s")),
}

# BATCH payloads (the body of a BATCH frame, without its own header): see batch_decoder_fuzz.cpp.
BATCH_DECODER = {
    "two_items": frame(NOTIFY, 0, entry(METHOD, b"tick"), b"1") +
    frame(PUBLISH, 3, entry(METHOD, b"db.x"), b"2"),
    "one_notify": frame(NOTIFY, 0, entry(METHOD, b"m")),
    "at_limit": frame(PUBLISH, 1, entry(METHOD, b"t"), b"x" * FUZZ_MAX_MESSAGE),
    "over_limit": frame(PUBLISH, 1, entry(METHOD, b"t"), b"x" * (FUZZ_MAX_MESSAGE + 1)),
    "nested": frame(BATCH, 0, b"", frame(NOTIFY, 0, entry(METHOD, b"m"))),
    "request_inside": frame(REQUEST, 1, entry(METHOD, b"m")),
    "truncated": (frame(NOTIFY, 0, entry(METHOD, b"m"), b"abc") * 2)[:-1],
    "publish_no_topic": frame(PUBLISH, 1, b"", b"x"),
    "empty": b"",
}

METADATA = {
    "every_field": request_md() + error_md() + hello_md(),
    "hello": hello_md(),
    "error": error_md(),
    "request": request_md(),
    "unknown_keys": entry(0, b"") + entry(500, b"x" * 10) + entry(METHOD, b"m") + entry(0xFFFF, b"z"),
    "duplicate": entry(VERSION, u16(1)) + entry(VERSION, u16(1)),
    "wrong_width": entry(TIMEOUT_US, u32(1)),
    "empty_string": entry(PEER_NAME, b""),
    "bad_content_type": entry(CONTENT_TYPE, u8(2)),
    "runs_past": struct.pack("<HH", METHOD, 40) + b"short",
    "truncated_head": entry(METHOD, b"m") + b"\x01\x00",
    "long_method": entry(METHOD, b"m" * 256),
    "long_trace": entry(TRACE_ID, b"t" * 65),
    "stream_fields": (entry(METHOD, b"s") + entry(CREDIT_ITEMS, u32(1)) + entry(CREDIT_BYTES, u64(2)) +
                      entry(PROGRESS_DONE, u64(3)) + entry(PROGRESS_TOTAL, u64(4))),
    "credit_wrong_width": entry(CREDIT_ITEMS, u64(1)),
}

# traceparent: valid values (version 00, a later version with more fields), and near misses.
TRACEPARENT = {
    "valid": b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "not_sampled": b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
    "later_version": b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-next",
    "upper_case": b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
    "zero_trace": b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "version_ff": b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "too_long_00": b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
    "opaque": b"request-1234",
}

ENVELOPE = {
    "empty_payload": struct.pack("<H", 0),
    "queue_send": (lambda md: struct.pack("<H", len(md)) + md + b"hello")(
        entry(8, b"m-1") + entry(9, b"task") + entry(10, b"g") + entry(12, b"jobs")
        + entry(13, struct.pack("<I", 5)) + entry(14, struct.pack("<Q", 250))
        + entry(15, struct.pack("<I", 3)) + entry(16, struct.pack("<Q", 5000))),
    "delivery": (lambda md: struct.pack("<H", len(md)) + md + b"{}")(
        entry(8, b"m-2") + entry(9, b"command") + entry(11, struct.pack("<I", 2))
        + entry(12, b"jobs")),
    "cut_short": struct.pack("<H", 40) + entry(8, b"m"),
    "one_byte": b"\x01",
}


def write(target, seeds):
    out = os.path.join(HERE, "corpus", target)
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("frame_decoder", FRAME_DECODER)
    write("metadata", METADATA)
    write("batch_decoder", BATCH_DECODER)
    write("traceparent", TRACEPARENT)
    write("envelope", ENVELOPE)
