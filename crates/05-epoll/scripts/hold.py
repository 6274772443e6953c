#!/usr/bin/env python3
"""How many idle callers does one 05-epoll process hold?

Starts the server itself (so it can ask it for its status and stop it afterwards), then opens
connections from several client processes (one process may hold only `ulimit -n` sockets) until
the target is reached or the server stops answering. A connection counts only if it echoes a
line: the kernel completes a TCP handshake even for a server that can no longer accept, so
"connected" alone proves nothing. Everything goes to loopback and stops by itself.

    cargo build --release --bin 05-epoll
    python3 crates/05-epoll/scripts/hold.py --server target/release/05-epoll --conns 21000

Prints the server's descriptor limit, how many callers echoed, and the server's own count and
resident memory (Linux).
"""

import argparse
import multiprocessing
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def client(addr, count, source_ip, results, hold_until):
    """Open up to `count` connections, each proven by an echo; hold them until told to stop."""
    raise_fd_limit()
    held, failures = [], 0
    for i in range(count):
        try:
            s = socket.socket()
            s.settimeout(2.0)
            s.bind((source_ip, 0))
            s.connect(addr)
            s.sendall(b"still there\n")
            if s.recv(64) != b"still there\n":
                raise OSError("wrong echo")
            held.append(s)
            failures = 0
        except OSError:
            s.close()
            failures += 1
            if failures >= 20:  # the server stopped taking callers
                break
    results.put(len(held))
    hold_until.wait(timeout=120)
    for s in held:
        s.close()


def rss_kib(pid):
    """Resident memory of the server and its worker processes, in KiB (Linux only)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(p) for p in f.read().split()]
        total = 0
        for each in [pid, *children]:
            with open(f"/proc/{each}/status") as f:
                total += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        return total
    except (OSError, StopIteration, ValueError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, help="path to the 05-epoll binary")
    parser.add_argument("--conns", type=int, default=21000, help="callers to try")
    parser.add_argument("--procs", type=int, default=3, help="client processes")
    parser.add_argument("--server-args", default="", help="extra arguments for the server")
    options = parser.parse_args()

    server = subprocess.Popen(
        [options.server, "--port", "0", "--quiet", *options.server_args.split()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    addr = None
    while addr is None:
        line = server.stdout.readline()
        if not line:
            sys.exit("the server exited: " + "".join(lines))
        lines.append(line)
        print("server:", line.rstrip())
        if "listening on " in line:
            host, port = line.split("listening on ")[1].split()[0].rsplit(":", 1)
            addr = (host, int(port))
    threading.Thread(target=lambda: [lines.append(l) for l in server.stdout], daemon=True).start()

    time.sleep(0.5)  # let any workers start
    idle_rss = rss_kib(server.pid)
    results = multiprocessing.Queue()
    hold_until = multiprocessing.Event()
    per_proc = -(-options.conns // options.procs)
    started = time.time()
    procs = [
        multiprocessing.Process(
            target=client, args=(addr, per_proc, f"127.0.0.{2 + i}", results, hold_until)
        )
        for i in range(options.procs)
    ]
    for p in procs:
        p.start()
    held = sum(results.get(timeout=300) for _ in procs)
    took = time.time() - started
    time.sleep(0.5)
    rss = rss_kib(server.pid)
    server.send_signal(signal.SIGWINCH)
    time.sleep(0.5)
    print(f"callers that echoed and are held: {held} (of {options.conns} tried, {took:.1f} s)")
    for line in lines:
        if "callers" in line or "descriptors" in line:
            print("server:", line.rstrip())
    if idle_rss is not None and rss is not None and held:
        print(
            f"server RSS: {idle_rss} KiB before, {rss} KiB with {held} callers: "
            f"{(rss - idle_rss) * 1024 / held:.0f} bytes per caller"
        )
    hold_until.set()
    for p in procs:
        p.join()
    server.kill()
    server.wait()


if __name__ == "__main__":
    main()
