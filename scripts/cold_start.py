#!/usr/bin/env python3
"""Cold-start timer for Lambda bootstrap binaries (used by scripts/bench-cold-start).

A minimal Lambda Runtime API emulator (the AWS Runtime Interface Emulator is not
available offline): it serves `GET /2018-06-01/runtime/invocation/next` and records
when it arrives, and accepts `POST .../init/error` (reported as a failed start). Each
binary is started N times with AWS_LAMBDA_RUNTIME_API pointing here; its init time is
from just before the process is spawned to its first `next` request (what Lambda
bills as Init Duration). The process is then killed.

With `--event NAME=FILE` a binary is also started as many times again, interleaved with
the init-only starts, and handed FILE as its first event: those starts are timed from
spawn to the function's `POST .../invocation/{id}/response` (or `/error`), which is
what the first caller of a cold instance waits for (init + first invocation), and
killed there.

    cold_start.py --runs 10 hello-world=target/lambda/hello-world/bootstrap api=...
    cold_start.py --runs 10 --event api=events/api/health.json hello-world=... api=...
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
# Per binary and kind of start ("init", "first"): (CPU ms, minor page faults) of each
# start, from wait4's rusage: up to the kill, so they include the process's exit.
RUSAGE = {}
# Per binary and kind of start: the process's CPU ms (all threads) when it asked for its
# first event ("init") or answered it ("first"), read from /proc while it waits there:
# what the start itself cost, without the exit that killing it adds (Lambda does not
# end an instance there).
CPU_AT = {}


def cpu_ms(pid):
    """CPU time used so far by every thread of `pid` (ms): the first field of each
    thread's schedstat is its time on a CPU, in ns. None if it cannot be read."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e6
REQUEST_ID = "00000000-0000-4000-8000-00000000c01d"


class Emulator(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.arrived = threading.Event()
        self.first_next = None
        self.cpu_at = None
        self.pid = None
        self.init_error = None
        # The first invocation: the event to hand out (None: hold `next`), whether it
        # was handed out, and when the function answered it.
        self.event = None
        self.delivered = False
        self.answered = threading.Event()
        self.answered_at = None
        self.answer = None

    def handle_error(self, request, client_address):
        # A start is killed with its connections open: their resets are expected.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)

    def reset(self, event=None):
        with self.lock:
            self.arrived.clear()
            self.first_next = None
            self.cpu_at = None
            self.pid = None
            self.init_error = None
            self.event = event
            self.delivered = False
            self.answered.clear()
            self.answered_at = None
            self.answer = None


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
                    if self.server.event is None and self.server.pid is not None:
                        self.server.cpu_at = cpu_ms(self.server.pid)
                deliver = self.server.event is not None and not self.server.delivered
                self.server.delivered = self.server.delivered or deliver
            self.server.arrived.set()
            if deliver:
                self.send_event(self.server.event)
                return
            # Hold the request: the bench kills the process once `next` arrived,
            # as a function waits here for its first event.
            time.sleep(30)
            return
        self.send_error(404)

    def send_event(self, body):
        deadline_ms = int(time.time() * 1000) + 30_000
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("lambda-runtime-aws-request-id", REQUEST_ID)
        self.send_header("lambda-runtime-deadline-ms", str(deadline_ms))
        self.send_header(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench",
        )
        self.send_header("lambda-runtime-trace-id", "Root=1-6941dc00-0123456789abcdef01234567")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        now = time.perf_counter_ns()
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        if self.path == f"{PREFIX}/init/error":
            with self.server.lock:
                self.server.init_error = body
            self.server.arrived.set()
            self.server.answered.set()
        elif self.path in (
            f"{PREFIX}/invocation/{REQUEST_ID}/response",
            f"{PREFIX}/invocation/{REQUEST_ID}/error",
        ):
            with self.server.lock:
                self.server.answered_at = now
                if self.server.pid is not None:
                    self.server.cpu_at = cpu_ms(self.server.pid)
                self.server.answer = (self.path.rsplit("/", 1)[1], body)
            self.server.answered.set()
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


def start_once(name, path, event=None, timeout_s=20):
    """One cold start: init only (killed at the first `next`), or with `event` init and
    the first invocation (killed when it is answered). Returns the wall ms.

    Each start gets an emulator on a port of its own: a killed process's last request
    (the `next` a function sends right after answering) may still wait in a shared
    server's backlog and would be taken for the next start's."""
    server = Emulator()
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        return run_start(server, port, name, path, event, timeout_s)
    finally:
        server.shutdown()
        server.server_close()


def run_start(server, port, name, path, event, timeout_s):
    server.reset(event)
    kind = "init" if event is None else "first"
    env = lambda_env(port, name)
    started = time.perf_counter_ns()
    proc = subprocess.Popen(
        [path], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    with server.lock:
        server.pid = proc.pid
    done = server.arrived if event is None else server.answered
    arrived = done.wait(timeout_s)
    proc.kill()
    # The process's own CPU time (all threads, user + system) and minor faults: unlike
    # the wall time, they barely move with the machine's load.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status
    stderr = proc.stderr.read()
    RUSAGE.setdefault((name, kind), []).append(
        ((usage.ru_utime + usage.ru_stime) * 1000, usage.ru_minflt)
    )
    CPU_AT.setdefault((name, kind), []).append(server.cpu_at)
    if not arrived:
        what = "`next`" if event is None else "answer to the first event"
        raise SystemExit(f"{name}: no {what} within {timeout_s} s\n{stderr.decode()[-2000:]}")
    if server.init_error is not None:
        raise SystemExit(
            f"{name}: init failed: {server.init_error}\n{stderr.decode()[-2000:]}"
        )
    if event is None:
        return (server.first_next - started) / 1e6
    ANSWERS[name] = server.answer
    return (server.answered_at - started) / 1e6


# Per binary: (kind, body) of the last answer to its first event.
ANSWERS = {}


def median_cpu(name, kind):
    """Median CPU ms and minor faults of a binary's starts of one kind (the warm-up
    start is not counted)."""
    samples = RUSAGE[(name, kind)][1:]
    return (
        statistics.median(c for c, _ in samples),
        statistics.median(f for _, f in samples),
        min(c for c, _ in samples),
    )


def median_cpu_at(name, kind):
    """Median CPU ms at `next` (or at the answer) of a binary's starts of one kind, the
    warm-up start not counted; None if /proc could not be read."""
    samples = CPU_AT[(name, kind)][1:]
    if not samples or any(c is None for c in samples):
        return None
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", default="hello-world")
    parser.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="also time init + the first invocation of NAME with FILE as its event",
    )
    parser.add_argument("binaries", nargs="+", help="name=path/to/bootstrap")
    args = parser.parse_intermixed_args()

    pairs = [b.split("=", 1) for b in args.binaries]
    events = {}
    for e in args.event:
        name, file = e.split("=", 1)
        with open(file, "rb") as f:
            events[name] = f.read()
    results = {}
    firsts = {}
    # Interleave the functions run by run, so a busy moment of the machine falls on all.
    for name, path in pairs:
        start_once(name, path)  # warm the page cache; not counted
        if name in events:
            start_once(name, path, events[name])
    for _ in range(args.runs):
        for name, path in pairs:
            results.setdefault(name, []).append(start_once(name, path))
            if name in events:
                firsts.setdefault(name, []).append(
                    start_once(name, path, events[name])
                )

    base = statistics.median(results[args.baseline]) if args.baseline in results else None
    base_cpu = median_cpu(args.baseline, "init")[0] if args.baseline in results else None
    base_at = median_cpu_at(args.baseline, "init") if args.baseline in results else None
    print(
        f"{'function':<20} {'min ms':>8} {'median ms':>10} {'x hello':>8}"
        f" {'cpu min':>8} {'cpu med':>8} {'x hello':>8} {'faults':>7}"
        f" {'cpu@next':>9} {'x hello':>8} {'size MiB':>9}"
    )
    for name, path in pairs:
        times = results[name]
        median = statistics.median(times)
        ratio = f"{median / base:.2f}" if base else "-"
        cpu, faults, cpu_min = median_cpu(name, "init")
        cpu_ratio = f"{cpu / base_cpu:.2f}" if base_cpu else "-"
        size = os.path.getsize(path) / (1024 * 1024)
        at = median_cpu_at(name, "init")
        at_s = f"{at:.2f}" if at is not None else "-"
        at_ratio = f"{at / base_at:.2f}" if at is not None and base_at else "-"
        print(
            f"{name:<20} {min(times):>8.2f} {median:>10.2f} {ratio:>8}"
            f" {cpu_min:>8.2f} {cpu:>8.2f} {cpu_ratio:>8} {faults:>7.0f}"
            f" {at_s:>9} {at_ratio:>8} {size:>9.1f}"
        )
    print(
        f"({args.runs} starts each, interleaved; init = spawn to first `next`;"
        " cpu = the process's CPU ms, all threads, to its end (killed at `next`: its exit"
        " included); cpu@next = its CPU ms when it asked for its first event, the exit"
        " not included; faults = minor page faults, median)"
    )
    if firsts:
        base_first = (
            median_cpu(args.baseline, "first")[0] if args.baseline in firsts else None
        )
        base_first_at = (
            median_cpu_at(args.baseline, "first") if args.baseline in firsts else None
        )
        print()
        print(
            f"{'init + 1st event':<20} {'min ms':>8} {'median ms':>10}"
            f" {'cpu min':>8} {'cpu med':>8} {'x hello':>8} {'faults':>7}"
            f" {'cpu@answer':>10} {'x hello':>8}  answer"
        )
        for name, _ in pairs:
            if name not in firsts:
                continue
            times = firsts[name]
            cpu, faults, cpu_min = median_cpu(name, "first")
            ratio = f"{cpu / base_first:.2f}" if base_first else "-"
            kind, body = ANSWERS[name]
            at = median_cpu_at(name, "first")
            at_s = f"{at:.2f}" if at is not None else "-"
            at_ratio = f"{at / base_first_at:.2f}" if at is not None and base_first_at else "-"
            print(
                f"{name:<20} {min(times):>8.2f} {statistics.median(times):>10.2f}"
                f" {cpu_min:>8.2f} {cpu:>8.2f} {ratio:>8} {faults:>7.0f}"
                f" {at_s:>10} {at_ratio:>8}  {kind}: {body[:60]}"
            )
        print(
            "(spawn to the function's answer to its first event, killed there: what the"
            " first caller of a cold instance waits for; the AWS calls go to moto)"
        )


if __name__ == "__main__":
    sys.exit(main())
