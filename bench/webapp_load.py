"""Load on the webapp as the instances run it: `python3 -m webapp.server` on Python 3.9 (Amazon
Linux 2023's interpreter, found by e2e/runtimes.py; missing is an error), GET /health over
keep-alive connections on loopback, at 50 and 400 concurrent connections (`make bench-web`).

The load comes from wrk when it is installed (Debian: `apt-get install wrk`; the figures in
docs/testing.md), else from a Python generator here that needs nothing beyond this repository. The
Python one runs in its own processes (asyncio, one event loop per process), so it does not share
the server's interpreter lock, and counts what wrk counts: requests/s, latency percentiles from
the request's first byte written to its response's last byte read, and errors: connections
refused or reset, responses other than 200, and requests without an answer within --timeout
(2 s, wrk's default). It spends more CPU per request than wrk, so on a small machine it reports
fewer requests/s. On a shared machine the figures vary run to run; compare runs made one after
the other.

    python3 bench/webapp_load.py [--connections 50,400] [--duration 10] [--source DIR]
                                 [--generator auto|wrk|python]

--source runs another copy of the webapp (for example the previous commit's, extracted with
`git archive HEAD webapp | tar -x -C /tmp/before`), which is how the before/after figures in
docs/testing.md were made. The server's access log goes to /dev/null (journald on the instances); tracebacks
on its stderr (exceptions that escaped the service's own handling) are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import webapp  # noqa: E402
from e2e.runtimes import INSTANCE_PYTHON, RuntimeMissing, find_python  # noqa: E402

REQUEST = f"GET {webapp.HEALTH_PATH} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, server closes the connection) of one HTTP/1.1 response with a Content-Length."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
    await reader.readexactly(int(fields.get("content-length", "0")))
    return status, fields.get("connection", "").lower() == "close"


async def client(port: int, until: float, timeout: float, latencies: list[float], errors: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        except (TimeoutError, OSError):
            errors["connect"] += 1
            await asyncio.sleep(0.01)
            continue
        try:
            while loop.time() < until:
                started = time.perf_counter()
                writer.write(REQUEST)
                status, close = await asyncio.wait_for(read_response(reader), timeout)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors["status"] += 1
                if close:
                    break
        except TimeoutError:
            errors["timeout"] += 1
        except (OSError, EOFError, ValueError, IndexError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            errors["read"] += 1
        finally:
            writer.close()


def worker(port: int, connections: int, duration: float, timeout: float, out) -> None:
    async def run() -> tuple[list[float], dict[str, int]]:
        latencies: list[float] = []
        errors = {"connect": 0, "read": 0, "status": 0, "timeout": 0}
        until = asyncio.get_running_loop().time() + duration
        await asyncio.gather(*(client(port, until, timeout, latencies, errors) for _ in range(connections)))
        return latencies, errors

    out.send(asyncio.run(run()))
    out.close()


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def measure(port: int, connections: int, duration: float, timeout: float, processes: int) -> dict:
    ctx = multiprocessing.get_context("spawn")
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    pipes, workers = [], []
    for share in (s for s in shares if s):
        receive, send = ctx.Pipe(duplex=False)
        process = ctx.Process(target=worker, args=(port, share, duration, timeout, send))
        process.start()
        pipes.append(receive)
        workers.append(process)
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "status": 0, "timeout": 0}
    for receive in pipes:
        got, counts = receive.recv()
        latencies += got
        for key, value in counts.items():
            errors[key] += value
    for process in workers:
        process.join()
    latencies.sort()
    return {
        "connections": connections,
        "requests": len(latencies),
        "rps": len(latencies) / duration,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "errors": errors,
    }


def measure_wrk(wrk: str, port: int, connections: int, duration: float, timeout: float, threads: int) -> dict:
    """The same figures from wrk's report (its latency distribution, socket errors, non-2xx)."""
    done = subprocess.run(
        [
            wrk,
            f"-t{min(threads, connections)}",
            f"-c{connections}",
            f"-d{duration:g}s",
            f"--timeout={timeout:g}s",
            "--latency",
            f"http://127.0.0.1:{port}{webapp.HEALTH_PATH}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}

    def latency(pct: str) -> float:
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", done, re.M).groups()
        return float(value) * scale[unit]

    sockets = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", done)
    connect, read, write, timed_out = (int(n) for n in sockets.groups()) if sockets else (0, 0, 0, 0)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done)
    return {
        "connections": connections,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", done).group(1)),
        "p50_ms": latency(50),
        "p99_ms": latency(99),
        "errors": {
            "connect": connect,
            "read": read + write,
            "status": int(non_2xx.group(1)) if non_2xx else 0,
            "timeout": timed_out,
        },
    }


def start_server(python: str, source: Path, port: int, stderr: IO[bytes]) -> subprocess.Popen:
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONPATH": str(source),
        "WEBAPP_HOST": "127.0.0.1",
        "WEBAPP_PORT": str(port),
        "WEBAPP_ENVIRONMENT": "bench",
        "WEBAPP_REGION": "local",
    }
    process = subprocess.Popen(
        [python, "-m", "webapp.server"], cwd=source, env=env, stdout=subprocess.DEVNULL, stderr=stderr
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"error: the webapp exited at start ({process.returncode})") from None
            time.sleep(0.1)
    process.kill()
    raise SystemExit("error: the webapp did not listen within 10 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", default="50,400", help="comma-separated levels (default 50,400)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per level (default 10)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds before a request counts as timed out")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes or wrk threads (2)")
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="wrk when installed (auto), or the Python generator",
    )
    parser.add_argument("--source", type=Path, default=ROOT, help="folder holding the webapp package to run")
    args = parser.parse_args(argv)
    try:
        levels = [int(n) for n in args.connections.split(",")]
    except ValueError:
        parser.error("--connections takes numbers separated by commas, e.g. 50,400")
    if not (args.source / "webapp" / "server.py").is_file():
        parser.error(f"--source {args.source} holds no webapp/server.py")
    try:
        python = find_python(INSTANCE_PYTHON)
    except RuntimeMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    wrk = shutil.which("wrk") if args.generator != "python" else None
    if args.generator == "wrk" and not wrk:
        print(
            "error: wrk is not installed (Debian: apt-get install wrk); --generator python needs nothing",
            file=sys.stderr,
        )
        return 1
    version = subprocess.run([python, "-V"], capture_output=True, text=True).stdout.strip()
    print(
        f"webapp {args.source} on {version}, GET {webapp.HEALTH_PATH}, keep-alive, {args.duration:g} s per level, "
        f"{os.cpu_count()} CPUs, load from {'wrk' if wrk else 'the Python generator'}"
    )
    print(f"{'connections':>11} {'requests/s':>10} {'p50 ms':>8} {'p99 ms':>8}  errors (connect/read/status/timeout)")
    port = free_port()
    stderr = tempfile.TemporaryFile()
    server = start_server(python, args.source.resolve(), port, stderr)
    try:
        for connections in levels:
            if wrk:
                r = measure_wrk(wrk, port, connections, args.duration, args.timeout, args.processes)
            else:
                r = measure(port, connections, args.duration, args.timeout, args.processes)
            e = r["errors"]
            print(
                f"{connections:>11} {r['rps']:>10.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}  "
                f"{sum(e.values())} ({e['connect']}/{e['read']}/{e['status']}/{e['timeout']})",
                flush=True,
            )
            time.sleep(1)  # let closed connections drain between levels
    finally:
        server.terminate()
        server.wait(timeout=10)
    stderr.seek(0)
    tracebacks = stderr.read().count(b"Traceback (most recent call last)")
    if tracebacks:  # the service logs JSON on stdout; a traceback on stderr escaped its handling
        print(f"the server wrote {tracebacks} tracebacks to stderr")
    return 0


if __name__ == "__main__":
    sys.exit(main())
