#!/usr/bin/env python3
"""A Python asyncio server for the C10K bench: one coroutine per caller on one event loop.

It speaks the course's line protocol far enough for the bench: a plain line is echoed,
`/lookup <ms> <question>` answers after an asyncio.sleep, `/quit` says bye. Run it as
`python3 asyncio_echo.py --port 0` and it prints `asyncio: listening on ADDR`.
"""

import argparse
import asyncio
import resource

MAX_LINE = 8 * 1024
MAX_LOOKUP_MS = 60_000


def raise_fd_limit():
    """Each caller needs a file descriptor; take all the process may have."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def reply_to(line: bytes):
    """The reply to one line (with its newline), or None to hang up after `bye`."""
    text = line.rstrip(b"\n").rstrip(b"\r")
    if not text.startswith(b"/"):
        return text + b"\n"
    parts = text.decode("utf-8", "replace").split(maxsplit=2)
    if parts[0] == "/lookup" and len(parts) == 3 and parts[1].isdigit():
        ms = int(parts[1])
        if ms <= MAX_LOOKUP_MS:
            await asyncio.sleep(ms / 1000)
            return f"answer: {parts[2]} (looked up in {ms} ms)\n".encode()
        return b"error: usage: /lookup <ms> <question>\n"
    if parts[0] == "/quit":
        return None
    return f"error: unknown command {parts[0]}\n".encode()


async def serve_caller(reader, writer):
    try:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                break
            except asyncio.LimitOverrunError:
                writer.write(b"error: line too long\n")
                break
            reply = await reply_to(line)
            if reply is None:
                writer.write(b"bye\n")
                break
            writer.write(reply)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7101)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    raise_fd_limit()
    server = await asyncio.start_server(
        serve_caller, "127.0.0.1", args.port, backlog=1024, limit=MAX_LINE + 2
    )
    host, port = server.sockets[0].getsockname()[:2]
    print(f"asyncio: listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
