#!/usr/bin/env python3
"""One HTTP exchange on stdin/stdout, for QEMU user-net's `guestfwd=...-cmd:` (spawned per connection): the
metadata a guest of tests/scripts/tinyimage.py reads from 169.254.169.254. Nothing may go to stderr, which
QEMU joins to the guest's socket too.

    fakemetadata.py UUID [USER_DATA_FILE]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def answer(path: str, uuid: str, user_data: bytes | None) -> tuple[str, bytes]:
    if path == "/openstack/latest/meta_data.json":
        return "200 OK", json.dumps({"uuid": uuid, "name": "tiny", "availability_zone": "nova"}).encode()
    if path == "/openstack/latest/user_data" and user_data is not None:
        return "200 OK", user_data
    return "404 Not Found", b""


def main(argv: list[str]) -> int:
    request = sys.stdin.buffer.readline().decode("latin-1").split()
    while sys.stdin.buffer.readline() not in (b"\r\n", b"\n", b""):
        pass
    user_data = Path(argv[2]).read_bytes() if len(argv) > 2 else None
    status, body = answer(request[1] if len(request) > 1 else "", argv[1], user_data)
    head = f"HTTP/1.0 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    sys.stdout.buffer.write(head.encode() + body)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
