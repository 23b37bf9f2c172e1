"""Load on the web app: concurrent photo uploads to POST /api/scan, and /health meanwhile.

    python benchmarks/load.py [--url http://127.0.0.1:8000] [--requests 50] [--concurrency 50]

Without --url it starts `digitscan serve` itself on a free loopback port and stops it at the end.
Only loopback addresses are accepted. Every upload is the same 1600x1200 JPEG page of handwritten
(MNIST) numbers; an answer counts as an error unless it is HTTP 200 with the same numbers as a
first, lone upload. Prints errors (goal: 0), upload latency p50/p90/p99, throughput, and the
latency of /health polled during the load (the event loop must keep answering while scans run).
Bounded: at most --requests uploads, and the whole run is stopped after --time-limit seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.image import make_page  # noqa: E402

try:
    import httpx2 as httpx  # the client Starlette now recommends; same API
except ImportError:
    import httpx


def loopback_only(url: str) -> str:
    """The URL without a trailing slash, if every address its host resolves to is loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SystemExit(f"load: {url}: not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port)}
    except OSError as exc:
        raise SystemExit(f"load: {parts.hostname}: cannot resolve ({exc})") from None
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise SystemExit(f"load: {parts.hostname} is not a loopback address (this benchmark loads loopback only)")
    return url.rstrip("/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "digitscan", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"load: the server exited ({proc.returncode}); see {log}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"load: the server did not answer within 60 s; see {log}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def run_load(url: str, photo: bytes, requests: int, concurrency: int, timeout: float) -> dict:
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        first = await client.post("/api/scan", files={"file": ("page.jpg", photo, "image/jpeg")})
        first.raise_for_status()
        expected = [n["text"] for n in first.json()["numbers"]]

        gate = asyncio.Semaphore(concurrency)
        latencies: list[float] = []
        errors: list[str] = []
        health: list[float] = []
        done = asyncio.Event()

        async def upload(i: int) -> None:
            async with gate:
                start = time.perf_counter()
                try:
                    r = await client.post("/api/scan", files={"file": (f"page{i}.jpg", photo, "image/jpeg")})
                    latencies.append(time.perf_counter() - start)
                    if r.status_code != 200:
                        errors.append(f"#{i}: HTTP {r.status_code} {r.text[:120]}")
                    elif [n["text"] for n in r.json()["numbers"]] != expected:
                        errors.append(f"#{i}: read {r.json()['numbers']} instead of {expected}")
                except httpx.HTTPError as exc:
                    errors.append(f"#{i}: {type(exc).__name__}: {exc}")

        async def poll_health() -> None:
            while not done.is_set():
                start = time.perf_counter()
                try:
                    await client.get("/health")
                    health.append(time.perf_counter() - start)
                except httpx.HTTPError as exc:
                    errors.append(f"/health: {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.1)

        poller = asyncio.create_task(poll_health())
        start = time.perf_counter()
        await asyncio.gather(*(upload(i) for i in range(requests)))
        wall = time.perf_counter() - start
        done.set()
        await poller
    return {"expected": expected, "latencies": latencies, "errors": errors, "health": health, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (loopback only); default: start one")
    parser.add_argument("--requests", type=int, default=50, help="uploads in all (default 50, at most 500)")
    parser.add_argument("--concurrency", type=int, default=50, help="uploads under way at once (default 50)")
    parser.add_argument("--size", default="1600x1200", help="photo size WxH (default 1600x1200)")
    parser.add_argument("--time-limit", type=float, default=300, help="stop the run after this many seconds")
    args = parser.parse_args()
    requests = max(1, min(args.requests, 500))
    concurrency = max(1, min(args.concurrency, requests))
    width, height = (int(v) for v in args.size.lower().split("x"))

    ok, buf = cv2.imencode(".jpg", make_page(width, height), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    photo = buf.tobytes()

    proc = None
    if args.url:
        url = loopback_only(args.url)
        try:
            httpx.get(url + "/health", timeout=5).raise_for_status()
        except httpx.HTTPError as exc:
            raise SystemExit(f"load: {url}/health: {exc}") from None
    else:
        proc, url = start_server(Path(os.environ.get("TMPDIR", "/tmp")) / "digitscan-load-server.log")
    try:
        report = asyncio.run(asyncio.wait_for(
            run_load(url, photo, requests, concurrency, timeout=args.time_limit), args.time_limit))
    except asyncio.TimeoutError:
        raise SystemExit(f"load: stopped after the time limit of {args.time_limit:.0f} s") from None
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    lat = report["latencies"]
    print(f"server: {url}  photo: {width}x{height} JPEG, {len(photo) / 1024:.0f} KB, reads {report['expected']}")
    print(f"uploads: {requests}, {concurrency} at once, on {os.cpu_count()} CPUs")
    print(f"errors: {len(report['errors'])} (goal 0)")
    for line in report["errors"][:10]:
        print(f"  {line}")
    if lat:
        print(f"latency: p50 {percentile(lat, 50):.2f} s  p90 {percentile(lat, 90):.2f} s  "
              f"p99 {percentile(lat, 99):.2f} s  max {max(lat):.2f} s")
        print(f"throughput: {len(lat) / report['wall']:.1f} uploads/s ({report['wall']:.1f} s in all)")
    if report["health"]:
        h = report["health"]
        print(f"/health during the load: {len(h)} polls, median {statistics.median(h) * 1000:.0f} ms, "
              f"max {max(h) * 1000:.0f} ms")
    sys.exit(1 if report["errors"] else 0)


if __name__ == "__main__":
    main()
