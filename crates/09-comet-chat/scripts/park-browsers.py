#!/usr/bin/env python3
"""Park many 'browsers' on a running 09-comet-chat and report what they cost it.

Usage: park-browsers.py PID PORT [COUNT]
PID is the server's process id (for its RSS; Linux /proc), PORT its port. Loopback only;
every connection closes when this script exits.
"""
import json
import resource
import socket
import sys
import time

pid, port = int(sys.argv[1]), int(sys.argv[2])
count = min(int(sys.argv[3]) if len(sys.argv) > 3 else 10_000, 18_000)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
WAIT = b"GET /wait?after=0 HTTP/1.1\r\nhost: chat\r\n\r\n"


def rss():
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024


def stats():
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /stats HTTP/1.1\r\nhost: chat\r\nconnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def park(n):
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(WAIT)
        conns.append(s)
    return conns


warm = park(100)  # let the runtime and allocator settle first
time.sleep(1)
before = rss()
parked = park(count)
time.sleep(2)
after, seen = rss(), stats()
print(f"browsers waiting: {seen['waiting']}, server threads: {seen['threads']}")
print(f"RSS {before // 1024} KiB -> {after // 1024} KiB: {(after - before) / count:.0f} B per waiting browser")
