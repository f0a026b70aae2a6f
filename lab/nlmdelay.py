"""Delay packets that netfilter hands to NFQUEUE, then let them go.

The lab runs one of these inside each node namespace that has a delayed link
(the kernel here has no netem). ``--queue 2:10`` holds every packet of queue 2 for
10 ms. The mangle rules that feed the queues are the lab's (see nlmlab.py); this
program only talks nfnetlink_queue over a raw netlink socket, with the standard
library alone.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os
import select
import signal
import socket
import struct
import sys
import time
from pathlib import Path

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 2
NLMSG_HEADER = struct.Struct("=IHHII")
NFGEN_HEADER = struct.Struct("=BBH")
NLA_HEADER = struct.Struct("=HH")
QUEUE_MAXLEN = 4096
RECEIVE_BUFFER = 4 * 1024 * 1024
REALTIME_PRIORITY = 10


class DelayError(Exception):
    """The kernel refused a queue operation."""


def _align(length: int) -> int:
    return (length + 3) & ~3


def attribute(attr_type: int, payload: bytes) -> bytes:
    header = NLA_HEADER.pack(NLA_HEADER.size + len(payload), attr_type)
    return (header + payload).ljust(_align(NLA_HEADER.size + len(payload)), b"\0")


def message(msg_type: int, flags: int, sequence: int, queue: int, attributes: bytes) -> bytes:
    """One nfnetlink_queue message; res_id (the queue number) is big-endian."""
    body = NFGEN_HEADER.pack(socket.AF_UNSPEC, 0, socket.htons(queue)) + attributes
    return NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, sequence, 0) + body


def config_messages(queue: int, first_sequence: int) -> list[bytes]:
    """Bind queue to this socket and ask for packet metadata only (the payload is not needed)."""
    bind = attribute(NFQA_CFG_CMD, struct.pack("=BxH", NFQNL_CFG_CMD_BIND, 0))
    params = attribute(NFQA_CFG_PARAMS, struct.pack(">IB", 0, NFQNL_COPY_META))
    maxlen = attribute(NFQA_CFG_QUEUE_MAXLEN, struct.pack(">I", QUEUE_MAXLEN))
    return [
        message(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, first_sequence, queue, bind),
        message(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, first_sequence + 1, queue, params + maxlen),
    ]


def verdict_message(queue: int, packet_id: int) -> bytes:
    return message(NFQNL_MSG_VERDICT, NLM_F_REQUEST, 0, queue, attribute(NFQA_VERDICT_HDR, struct.pack(">II", NF_ACCEPT, packet_id)))


def parse_messages(data: bytes):
    """Yield (kind, queue, value) per netlink message: ("packet", queue, id) or ("error", 0, errno)."""
    offset = 0
    while offset + NLMSG_HEADER.size <= len(data):
        length, msg_type, _flags, _sequence, _pid = NLMSG_HEADER.unpack_from(data, offset)
        if length < NLMSG_HEADER.size:
            break
        end = offset + length
        if msg_type == NLMSG_ERROR:
            (error,) = struct.unpack_from("=i", data, offset + NLMSG_HEADER.size)
            yield "error", 0, -error
        elif msg_type == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            _family, _version, res_id = NFGEN_HEADER.unpack_from(data, offset + NLMSG_HEADER.size)
            position = offset + NLMSG_HEADER.size + NFGEN_HEADER.size
            while position + NLA_HEADER.size <= end:
                attr_length, attr_type = NLA_HEADER.unpack_from(data, position)
                if attr_length < NLA_HEADER.size:
                    break
                if attr_type & 0x7FFF == NFQA_PACKET_HDR:
                    (packet_id,) = struct.unpack_from(">I", data, position + NLA_HEADER.size)
                    yield "packet", socket.ntohs(res_id), packet_id
                    break
                position += _align(attr_length)
        offset += _align(length)


def parse_queue(text: str) -> tuple[int, float]:
    """``2:10`` or ``2:7.5`` -> (2, 0.0075): queue number and hold time in seconds."""
    queue, _separator, milliseconds = text.partition(":")
    try:
        number, hold = int(queue), float(milliseconds) / 1000
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not QUEUE:MILLISECONDS, e.g. 2:10") from None
    if not 0 <= number <= 65535 or hold < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: queue must be 0-65535 and the delay not negative")
    return number, hold


class Delayer:
    """Holds each queued packet for its queue's delay, then accepts it, in release order."""

    def __init__(self, holds: dict[int, float]) -> None:
        self.holds = holds
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.sock.bind((0, 0))
        self.pending: list[tuple[float, int, int, int]] = []
        self.order = itertools.count()

    def bind(self) -> None:
        sequence = 1
        for queue in self.holds:
            for request in config_messages(queue, sequence):
                self.sock.send(request)
                self._expect_ack(queue)
            sequence += 2
        self.sock.setblocking(False)

    def _expect_ack(self, queue: int) -> None:
        for kind, _queue, value in parse_messages(self.sock.recv(65536)):
            if kind == "error" and value != 0:
                raise DelayError(f"binding NFQUEUE {queue} failed: {os.strerror(value)} "
                                 "(is another program bound to it, or is nfnetlink_queue missing?)")

    def _receive(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError as error:
                # ENOBUFS: the kernel dropped notifications under load; those packets are gone.
                print(f"nlmdelay: receive: {error}", file=sys.stderr)
                return
            arrived = time.monotonic()
            for kind, queue, packet_id in parse_messages(data):
                if kind == "packet":
                    heapq.heappush(self.pending, (arrived + self.holds.get(queue, 0.0), next(self.order), queue, packet_id))

    def _release_due(self) -> None:
        now = time.monotonic()
        while self.pending and self.pending[0][0] <= now:
            _release_at, _order, queue, packet_id = heapq.heappop(self.pending)
            self.sock.send(verdict_message(queue, packet_id))

    def run(self) -> None:
        while True:
            timeout = max(0.0, self.pending[0][0] - time.monotonic()) if self.pending else None
            readable = select.select([self.sock], [], [], timeout)[0]
            if readable:
                self._receive()
            self._release_due()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nlmdelay.py", description="Hold NFQUEUE packets for a fixed time (nlmlab DELAY).")
    parser.add_argument("--queue", action="append", type=parse_queue, required=True, metavar="QUEUE:MS",
                        help="queue number and one-way delay in milliseconds; repeat for more queues")
    parser.add_argument("--ready-file", type=Path, help="created once every queue is bound")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    try:
        # A held packet must leave on time even when the machine is busy; the loop
        # sleeps in select() between packets, so real-time priority costs no CPU.
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except OSError as error:
        print(f"nlmdelay: running without real-time priority ({error}); delays may be late on a busy machine",
              file=sys.stderr)
    delayer = Delayer(dict(args.queue))
    try:
        delayer.bind()
    except (DelayError, OSError) as error:
        print(f"nlmdelay: {error}", file=sys.stderr)
        return 1
    if args.ready_file:
        args.ready_file.write_text(f"{os.getpid()}\n")
    delayer.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
