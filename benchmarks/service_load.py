#!/usr/bin/env python3
"""Load test of ``polypdet serve``: requests per minute, latency percentiles, errors, RSS per worker, time to ready.

Starts the real service (``polypdet serve --workers N`` on 127.0.0.1, SQLite store, in-process cache) and
posts real colonoscopy images from the datasets as raw ``image/jpeg``/``image/png`` bodies. Every body
is distinct (each image once, then with a few unique trailing bytes that decoders ignore), so the
result cache never helps. Two phases per worker count:

- ``open_loop``: a fixed arrival rate (default 50/s = 3000/min); latency counts from the scheduled send
  time, so a server that falls behind is charged for the queueing (no coordinated omission);
- ``closed_loop``: ``--concurrency`` clients back to back, the most the service sustains.

Run: ``.venv/bin/python benchmarks/service_load.py [--workers 1 2] [--rate 50] [--duration 30]``;
writes ``benchmarks/results/service_load.json``. The load client shares the 2 CPUs with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("POLYPDET_DATA", REPO.parent / "shared" / "data"))
GOAL = {"req_per_min": 3000, "p95_ms": 100, "p99_ms": 250, "rss_mb": 300, "ready_s": 3}
TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


def load_images(limit: int) -> list[tuple[bytes, str]]:
    paths = sorted(DATA.glob("kvasir-seg/images/*.jpg")) + sorted(DATA.glob("cvc-clinicdb/images/*/*.png"))
    paths += sorted(DATA.glob("frames-unlabeled/*.jpg"))
    return [(p.read_bytes(), TYPES[p.suffix.lower()]) for p in paths[:limit]]


class Bodies:
    """Distinct request bodies forever: image i, then image i plus a unique 8-byte tail."""

    def __init__(self, images: list[tuple[bytes, str]]) -> None:
        self.images = images
        self.count = 0

    def next(self) -> tuple[bytes, str]:
        data, kind = self.images[self.count % len(self.images)]
        round_ = self.count // len(self.images)
        self.count += 1
        return (data + round_.to_bytes(8, "big") if round_ else data), kind


def percentiles(latencies_ms: list[float]) -> dict[str, float]:
    if len(latencies_ms) < 2:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    cuts = statistics.quantiles(latencies_ms, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 1), "p95_ms": round(cuts[94], 1), "p99_ms": round(cuts[98], 1)}


class RssSampler(threading.Thread):
    """Peak RSS of each serving process (the uvicorn workers, or the single process) while the load runs."""

    def __init__(self, server: psutil.Process, workers: int) -> None:
        super().__init__(daemon=True)
        self.server, self.workers, self.peak_mb = server, workers, {}  # type: ignore[var-annotated]
        self.stop = threading.Event()

    def serving(self) -> list[psutil.Process]:
        if self.workers == 1:
            return [self.server]
        return [p for p in self.server.children() if "multiprocessing.resource_tracker" not in " ".join(p.cmdline())]

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                for proc in self.serving():
                    mb = proc.memory_info().rss / 2**20
                    self.peak_mb[proc.pid] = max(self.peak_mb.get(proc.pid, 0.0), round(mb, 1))
            except psutil.Error:
                pass
            self.stop.wait(0.25)


async def post(client: httpx.AsyncClient, body: bytes, kind: str) -> int:
    try:
        response = await client.post("/api/detect", content=body, headers={"content-type": kind})
        return response.status_code
    except httpx.HTTPError:
        return 0


async def open_loop(url: str, bodies: Bodies, rate: float, duration: float, headers: dict[str, str]) -> dict[str, Any]:
    total = int(rate * duration)
    latencies: list[float] = []
    codes: list[int] = []
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits, headers=headers) as client:
        start = time.perf_counter()

        async def one(index: int) -> None:
            scheduled = start + index / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            body, kind = bodies.next()
            codes.append(await post(client, body, kind))
            latencies.append((time.perf_counter() - scheduled) * 1000)

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    ok = sum(1 for c in codes if c == 200)
    return {
        "target_req_per_min": round(rate * 60),
        "requests": total,
        "req_per_min": round(ok / elapsed * 60),
        "errors": total - ok,
        "error_codes": sorted({c for c in codes if c != 200}),
        **percentiles(latencies),
    }


async def closed_loop(
    url: str, bodies: Bodies, concurrency: int, duration: float, headers: dict[str, str]
) -> dict[str, Any]:
    latencies: list[float] = []
    codes: list[int] = []
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:
        deadline = time.perf_counter() + duration

        async def client_loop() -> None:
            while time.perf_counter() < deadline:
                body, kind = bodies.next()
                sent = time.perf_counter()
                codes.append(await post(client, body, kind))
                latencies.append((time.perf_counter() - sent) * 1000)

        start = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    ok = sum(1 for c in codes if c == 200)
    return {
        "concurrency": concurrency,
        "requests": len(codes),
        "req_per_min": round(ok / elapsed * 60),
        "errors": len(codes) - ok,
        **percentiles(latencies),
    }


def server_env(home: Path, env_extra: dict[str, str]) -> dict[str, str]:
    # One load client is one caller: lift the per-client rate limit unless the run sets its own.
    env = os.environ | {"POLYPDET_HOME": str(home), "LOG_LEVEL": "WARNING", "RATE_LIMIT": "10000000/minute"}
    env = env | env_extra
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def api_key(home: Path, env_extra: dict[str, str]) -> dict[str, str]:
    """A service key for the load client, made as an operator would (``polypdet keys create``)."""
    command = [str(REPO / ".venv/bin/polypdet"), "keys", "create", "--role", "service", "--name", "load-test"]
    done = subprocess.run(command, env=server_env(home, env_extra), capture_output=True, text=True, check=True)
    return {"X-API-Key": done.stdout.strip().splitlines()[-1]}


def start_server(
    workers: int, port: int, home: Path, env_extra: dict[str, str]
) -> tuple[subprocess.Popen[bytes], float]:
    env = server_env(home, env_extra)
    started = time.perf_counter()
    command = [str(REPO / ".venv/bin/polypdet"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen([*command, "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL)
    ready_url = f"http://127.0.0.1:{port}/health/ready"
    while time.perf_counter() - started < 60:
        try:
            ready = httpx.get(ready_url, timeout=1).status_code == 200
            if ready and (workers == 1 or len(psutil.Process(process.pid).children()) >= workers):
                return process, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("server not ready within 60 s")


def run_config(workers: int, args: argparse.Namespace, images: list[tuple[bytes, str]]) -> dict[str, Any]:
    port = 18000 + workers
    with tempfile.TemporaryDirectory(prefix="polypdet-load-") as home:
        env_extra = dict(kv.split("=", 1) for kv in args.env)
        headers = api_key(Path(home), env_extra)
        process, ready_s = start_server(workers, port, Path(home), env_extra)
        sampler = RssSampler(psutil.Process(process.pid), workers)
        sampler.start()
        bodies = Bodies(images)
        url = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(closed_loop(url, bodies, 4, 3, headers))  # warm-up, not reported
            opened = asyncio.run(open_loop(url, bodies, args.rate, args.duration, headers))
            opened["peak_rss_mb_per_worker"] = sorted(sampler.peak_mb.values())
            closed = asyncio.run(closed_loop(url, bodies, args.concurrency, args.duration, headers))
        finally:
            sampler.stop.set()
            process.terminate()
            process.wait(30)
    return {
        "workers": workers,
        "ready_s": round(ready_s, 2),
        "open_loop": opened,
        "closed_loop": closed,
        "peak_rss_mb_per_worker": sorted(sampler.peak_mb.values()),  # over both phases
        "env": args.env,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rate", type=float, default=50.0, help="open-loop arrivals per second (50 = 3000/min)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients")
    parser.add_argument("--images", type=int, default=2000, help="most distinct dataset images to load")
    parser.add_argument("--env", nargs="*", default=[], help="KEY=VALUE settings for the server")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/service_load.json")
    args = parser.parse_args()
    images = load_images(args.images)
    runs = []
    for workers in args.workers:
        result = run_config(workers, args, images)
        print(json.dumps(result), flush=True)
        runs.append(result)
    from polypdet.engine.backends import cpu_has_bf16, cpu_name

    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": cpu_name(),
            "bf16": cpu_has_bf16(),
            "python": platform.python_version(),
            "shared_cpu": "load client on the same box",
        },
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "env": args.env,
        "images": len(images),
        "goal": GOAL,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
