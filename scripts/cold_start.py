#!/usr/bin/env python3
"""Cold-start timer for Lambda bootstrap binaries (used by scripts/bench-cold-start).

A minimal Lambda Runtime API emulator (the AWS Runtime Interface Emulator is not
available offline): it serves `GET /2018-06-01/runtime/invocation/next` and records
when it arrives, and accepts `POST .../init/error` (reported as a failed start). Each
binary is started N times with AWS_LAMBDA_RUNTIME_API pointing here; its init time is
from just before the process is spawned to its first `next` request (what Lambda
bills as Init Duration). The process is then killed: the bench measures init only.

    cold_start.py --runs 10 hello-world=target/lambda/hello-world/bootstrap api=...
"""

import argparse
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

PREFIX = "/2018-06-01/runtime"
# Per binary: (CPU ms, minor page faults) of each start, from wait4's rusage.
RUSAGE = {}


class Emulator(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.arrived = threading.Event()
        self.first_next = None
        self.init_error = None

    def reset(self):
        with self.lock:
            self.arrived.clear()
            self.first_next = None
            self.init_error = None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        now = time.perf_counter_ns()
        if self.path == f"{PREFIX}/invocation/next":
            with self.server.lock:
                if self.server.first_next is None:
                    self.server.first_next = now
            self.server.arrived.set()
            # Hold the request: the bench kills the process once `next` arrived,
            # as a function waits here for its first event.
            time.sleep(30)
            return
        self.send_error(404)

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        if self.path == f"{PREFIX}/init/error":
            with self.server.lock:
                self.server.init_error = body
            self.server.arrived.set()
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()


def lambda_env(port, name):
    env = dict(os.environ)
    # Lambda sets neither; with them every error built at init would capture a backtrace.
    env.pop("RUST_BACKTRACE", None)
    env.pop("RUST_LIB_BACKTRACE", None)
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        }
    )
    return env


def start_once(server, name, path, port, timeout_s=20):
    server.reset()
    env = lambda_env(port, name)
    started = time.perf_counter_ns()
    proc = subprocess.Popen(
        [path], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    arrived = server.arrived.wait(timeout_s)
    proc.kill()
    # The process's own CPU time (all threads, user + system) and minor faults: unlike
    # the wall time, they barely move with the machine's load.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status
    stderr = proc.stderr.read()
    RUSAGE.setdefault(name, []).append(
        ((usage.ru_utime + usage.ru_stime) * 1000, usage.ru_minflt)
    )
    if not arrived:
        raise SystemExit(f"{name}: no `next` within {timeout_s} s\n{stderr.decode()[-2000:]}")
    if server.init_error is not None:
        raise SystemExit(
            f"{name}: init failed: {server.init_error}\n{stderr.decode()[-2000:]}"
        )
    return (server.first_next - started) / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", default="hello-world")
    parser.add_argument("binaries", nargs="+", help="name=path/to/bootstrap")
    args = parser.parse_args()
    server = Emulator()
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()

    pairs = [b.split("=", 1) for b in args.binaries]
    results = {}
    # Interleave the functions run by run, so a busy moment of the machine falls on all.
    for name, path in pairs:
        start_once(server, name, path, port)  # warm the page cache; not counted
    for _ in range(args.runs):
        for name, path in pairs:
            results.setdefault(name, []).append(start_once(server, name, path, port))

    base = statistics.median(results[args.baseline]) if args.baseline in results else None
    base_cpu = (
        statistics.median(c for c, _ in RUSAGE[args.baseline][1:])
        if args.baseline in RUSAGE
        else None
    )
    print(
        f"{'function':<20} {'min ms':>8} {'median ms':>10} {'x hello':>8}"
        f" {'cpu min':>8} {'cpu med':>8} {'x hello':>8} {'faults':>7} {'size MiB':>9}"
    )
    for name, path in pairs:
        times = results[name]
        median = statistics.median(times)
        ratio = f"{median / base:.2f}" if base else "-"
        cpu = [c for c, _ in RUSAGE[name]][1:]  # the warm-up start is not counted
        faults = statistics.median(f for _, f in RUSAGE[name][1:])
        cpu_ratio = f"{statistics.median(cpu) / base_cpu:.2f}" if base_cpu else "-"
        size = os.path.getsize(path) / (1024 * 1024)
        print(
            f"{name:<20} {min(times):>8.2f} {median:>10.2f} {ratio:>8}"
            f" {min(cpu):>8.2f} {statistics.median(cpu):>8.2f} {cpu_ratio:>8} {faults:>7.0f} {size:>9.1f}"
        )
    print(
        f"({args.runs} starts each, interleaved; init = spawn to first `next`;"
        " cpu = the process's CPU ms, all threads; faults = minor page faults, median)"
    )
    server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
