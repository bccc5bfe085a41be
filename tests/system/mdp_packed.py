"""The packed transport extension (common/mdp_pack.h) in Python, from the
format alone, and an MDP client that speaks it.

A client that sends its requests packed has negotiated the libnagar
extension with nagar-broker: the broker answers its errors (no worker,
quarantined, busy, past its deadline, worker lost, refused by the ACL, a
service name it does not accept) at once with a typed nagar.Reply. A plain
RFC 7 client (mdp_peers.MdpClient) gets RFC 7 behaviour instead: its request
waits for a worker until its deadline, and what cannot be served is dropped.

    one ZeroMQ frame = "\\xffNGP" 0x01 N, then N x (4-byte big-endian length, bytes)
"""
import struct
import time

import zmq

from mdp_peers import MDPC, MdpClient

MAGIC = b"\xffNGP"


def pack(frames, version=1):
    out = bytearray(MAGIC + bytes([version, len(frames)]))
    for frame in frames:
        out += struct.pack(">I", len(frame)) + frame
    return bytes(out)


def unpack(data):
    assert data[:4] == MAGIC and data[4] == 1, f"not a packed frame: {data[:8]!r}"
    count, at, frames = data[5], 6, []
    for _ in range(count):
        (length,) = struct.unpack(">I", data[at:at + 4])
        frames.append(data[at + 4:at + 4 + length])
        at += 4 + length
    assert at == len(data), "bytes after the last packed frame"
    return frames


class NagarClient(MdpClient):
    """An MDP client with the libnagar extension: mdp_peers.MdpClient (its
    socket, request and close) with every message packed."""

    def send(self, service, *body):
        if isinstance(service, str):
            service = service.encode()
        self.sock.send(pack([b"", MDPC, service] + [bytes(b) for b in body]))

    def recv(self, timeout_ms):
        """(service, [body frames]) or None when nothing came within timeout_ms;
        the broker must answer a packed client packed."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        remaining = max(int((deadline - time.monotonic()) * 1000), 0)
        if not self.sock.poll(remaining, zmq.POLLIN):
            return None
        got = self.sock.recv_multipart()
        assert len(got) == 1, f"the broker sent a packed client plain frames: {got!r}"
        frames = unpack(got[0])
        assert len(frames) >= 4 and frames[0] == b"" and frames[1] == MDPC, \
            f"not an MDP client reply: {frames!r}"
        return frames[2], frames[3:]
