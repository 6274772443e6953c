#!/usr/bin/env python3
"""A Python gevent server for the C10K bench: one greenlet per caller, code that looks blocking.

It speaks the course's line protocol far enough for the bench: a plain line is echoed,
`/lookup <ms> <question>` answers after a gevent.sleep, `/quit` says bye. Run it as
`python3 gevent_echo.py --port 0` and it prints `gevent: listening on ADDR`.
"""

import argparse
import resource

import gevent
from gevent.server import StreamServer

MAX_LINE = 8 * 1024
MAX_LOOKUP_MS = 60_000


def raise_fd_limit():
    """Each caller needs a file descriptor; take all the process may have."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def reply_to(line: bytes):
    """The reply to one line (with its newline), or None to hang up after `bye`."""
    text = line.rstrip(b"\n").rstrip(b"\r")
    if not text.startswith(b"/"):
        return text + b"\n"
    parts = text.decode("utf-8", "replace").split(maxsplit=2)
    if parts[0] == "/lookup" and len(parts) == 3 and parts[1].isdigit():
        ms = int(parts[1])
        if ms <= MAX_LOOKUP_MS:
            gevent.sleep(ms / 1000)  # yields to the other greenlets, like a timer
            return f"answer: {parts[2]} (looked up in {ms} ms)\n".encode()
        return b"error: usage: /lookup <ms> <question>\n"
    if parts[0] == "/quit":
        return None
    return f"error: unknown command {parts[0]}\n".encode()


def serve_caller(sock, _address):
    reader = sock.makefile("rb")
    try:
        while True:
            line = reader.readline(MAX_LINE + 2)
            if not line:
                break
            if not line.endswith(b"\n") and len(line) > MAX_LINE:
                sock.sendall(b"error: line too long\n")
                break
            reply = reply_to(line)
            if reply is None:
                sock.sendall(b"bye\n")
                break
            sock.sendall(reply)
    except OSError:
        pass
    finally:
        reader.close()
        sock.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7102)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    raise_fd_limit()
    server = StreamServer(("127.0.0.1", args.port), serve_caller, backlog=1024)
    server.start()
    host, port = server.address[:2]
    print(f"gevent: listening on {host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
