"""HTTP checks per second with a body assertion, against Prometheus blackbox_exporter.

Both sides probe the same local target (tests/plugins/synthetics/target.py, in a process of
its own) on the same cores, each probe on a new connection, with the same assertion:

- blackbox_exporter: module `http_2xx` (2xx status) with `fail_if_body_not_matches_regexp`
  for the body text, driven through its `/probe` endpoint by `wrk` (keep-alive to the
  exporter, a Lua script counting `probe_success 1`), or by a small asyncio client when wrk
  is not installed;
- opsyard: `run_check` on a check with `status == 200` and `body contains "..."`, in worker
  processes (one per core by default, as a location's probe worker runs), each an event loop
  on uvloop with many checks in flight.

The two sides run in rounds, alternating which goes first, and each round's ratio is printed
with the CPU time each side's probing process(es) used per probe (the exporter's, not wrk's
or the target's; the runner workers'), which varies less than rates on a shared machine.

Then the schedule lag: checks spread over their interval by `slots.offset_seconds` (a stable hash of
the check id), started by `run_cycle`, each one a real HTTP check against the target; the lag
is the time from a check's slot to its start. 100,000 checks every 5 minutes is 333 checks/s;
by default the cycle is compressed to 20,000 checks over 60 s, the same rate and the same
spread, so a run takes a minute rather than five (`--lag-checks 100000 --lag-interval 300`
runs the full cycle; add `--rounds 0` to measure the lag alone).

Nothing is installed at run time: blackbox_exporter comes from the Debian package
`prometheus-blackbox-exporter` (and wrk from `wrk`).

    .venv/bin/python bench/synthetics.py
    .venv/bin/python bench/synthetics.py --seconds 20 --workers 2 --concurrency 64
    .venv/bin/python bench/synthetics.py --skip-lag
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import uvloop

from opsyard_synthetics.definitions import CheckDefinition
from opsyard_synthetics.probes import ProbeClient
from opsyard_synthetics.runner import run_check, run_cycle

ROOT = Path(__file__).resolve().parent.parent
BODY_TEXT = "healthy"
BLACKBOX_NAMES = ("prometheus-blackbox-exporter", "blackbox_exporter")

BLACKBOX_CONFIG = f"""\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_body_not_matches_regexp:
        - "{BODY_TEXT}"
"""

# wrk runs this in each of its threads; `done` adds up what the threads counted.
WRK_SCRIPT = """\
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0 end
function response(status, headers, body)
  if string.find(body, "\\nprobe_success 1", 1, true) then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format("probes_ok %d\\nprobes_bad %d\\nseconds %f\\n", o, b,
    summary.duration / 1e6))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")


def start_target() -> tuple[subprocess.Popen[str], int]:
    """The loopback target in a process of its own; it prints its port first."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.plugins.synthetics.target", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, port


# ----------------------------------------------------------------------------------------
# blackbox_exporter


def find_blackbox() -> str:
    for name in BLACKBOX_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit(
        "blackbox_exporter is not installed. The benchmark compares against it and installs "
        "nothing itself:\n    apt-get install -y prometheus-blackbox-exporter"
    )


def blackbox_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).splitlines()
    return first[0] if first else "unknown version"


def run_wrk(url: str, seconds: float, connections: int, workdir: Path) -> tuple[int, int, float]:
    script = workdir / "probe.lua"
    script.write_text(WRK_SCRIPT)
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    values = dict(re.findall(r"^(probes_ok|probes_bad|seconds) ([\d.]+)$", out, re.MULTILINE))
    return int(values["probes_ok"]), int(values["probes_bad"]), float(values["seconds"])


async def _asyncio_driver(
    port: int, path: str, seconds: float, connections: int
) -> tuple[int, int, float]:
    """A keep-alive client for the exporter, for machines without wrk."""
    ok = bad = 0
    started = time.perf_counter()
    deadline = started + seconds
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()

    async def one_connection() -> None:
        nonlocal ok, bad
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            body = await reader.readexactly(length)
            if b"\nprobe_success 1" in body:
                ok += 1
            else:
                bad += 1
        writer.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return ok, bad, time.perf_counter() - started


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_blackbox(
    binary: str, target_port: int, seconds: float, connections: int, workdir: Path
) -> dict[str, Any]:
    config = workdir / "blackbox.yml"
    config.write_text(BLACKBOX_CONFIG)
    port = free_port()
    exporter = subprocess.Popen(
        [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        path = f"/probe?module=http_2xx&target=http://127.0.0.1:{target_port}/"
        cpu_before = process_cpu_seconds(exporter.pid)
        if shutil.which("wrk"):
            driver = "wrk"
            ok, bad, elapsed = run_wrk(
                f"http://127.0.0.1:{port}{path}", seconds, connections, workdir
            )
        else:
            driver = "asyncio keep-alive client"
            ok, bad, elapsed = uvloop.run(_asyncio_driver(port, path, seconds, connections))
        cpu = process_cpu_seconds(exporter.pid) - cpu_before
    finally:
        exporter.terminate()
        exporter.wait(timeout=10)
    return {
        "ok": ok,
        "bad": bad,
        "seconds": elapsed,
        "rate": ok / elapsed,
        "cpu_ms_per_probe": cpu * 1000 / max(ok, 1),
        "driver": driver,
    }


# ----------------------------------------------------------------------------------------
# opsyard


def bench_check(target_port: int) -> CheckDefinition:
    return CheckDefinition.model_validate(
        {
            "name": "bench-home",
            "kind": "http",
            "steps": [
                {
                    "url": f"http://127.0.0.1:{target_port}/",
                    "assertions": ["status == 200", f'body contains "{BODY_TEXT}"'],
                }
            ],
        }
    )


async def _closed_loop(
    target_port: int, seconds: float, concurrency: int, go: Event
) -> tuple[int, int, float]:
    check = bench_check(target_port)
    client = ProbeClient(location="bench")
    ok = bad = 0
    await asyncio.to_thread(go.wait)  # every worker starts at the same instant
    deadline = time.perf_counter() + seconds
    cpu_before = time.process_time()

    async def worker() -> None:
        nonlocal ok, bad
        while time.perf_counter() < deadline:
            result = await run_check(check, location="bench", secrets={}, client=client)
            if result.outcome == "ok":
                ok += 1
            else:
                bad += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok, bad, time.process_time() - cpu_before


def _worker_process(
    target_port: int, seconds: float, concurrency: int, go: Event, results: Any
) -> None:
    results.put(uvloop.run(_closed_loop(target_port, seconds, concurrency, go)))


def measure_opsyard(
    target_port: int, seconds: float, workers: int, concurrency: int
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    results = context.Queue()
    processes = [
        context.Process(
            target=_worker_process, args=(target_port, seconds, concurrency, go, results)
        )
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    time.sleep(2.0)  # let every worker import and wait at the start line
    go.set()
    counts = [results.get(timeout=seconds + 60) for _ in processes]
    for process in processes:
        process.join(timeout=10)
    ok = sum(c[0] for c in counts)
    bad = sum(c[1] for c in counts)
    cpu = sum(c[2] for c in counts)
    return {
        "ok": ok,
        "bad": bad,
        "seconds": seconds,
        "rate": ok / seconds,
        "cpu_ms_per_probe": cpu * 1000 / max(ok, 1),
    }


# ----------------------------------------------------------------------------------------
# Schedule lag


def measure_lag(target_port: int, checks: int, interval: float) -> dict[str, Any]:
    check = bench_check(target_port)
    client = ProbeClient(location="bench")
    lags: list[float] = []
    outcomes: dict[str, int] = {}

    async def run_one(check_id: str) -> None:
        result = await run_check(check, location="bench", secrets={}, client=client)
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1

    async def cycle() -> None:
        await run_cycle(
            [f"team-{n % 50}/check-{n}" for n in range(checks)],
            run_one,
            interval_seconds=interval,
            cycle_start=time.time() + 1.0,
            on_start=lambda _cid, lag: lags.append(lag),
        )

    uvloop.run(cycle())
    ordered = sorted(lags)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000

    return {
        "checks": len(lags),
        "rate": checks / interval,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": ordered[-1] * 1000,
        "mean_ms": statistics.fmean(ordered) * 1000,
        "outcomes": outcomes,
    }


# ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="time for each side")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of both sides (0: the lag alone)"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--concurrency", type=int, default=64, help="checks in flight per worker")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections to blackbox")
    parser.add_argument("--lag-checks", type=int, default=20_000)
    parser.add_argument("--lag-interval", type=float, default=60.0)
    parser.add_argument("--skip-lag", action="store_true")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    binary = find_blackbox()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"anchor: {blackbox_version(binary)}")
    print("command: .venv/bin/python bench/synthetics.py " + " ".join(sys.argv[1:]))
    target, target_port = start_target()
    try:
        wait_for_port(target_port)
        if args.rounds > 0:
            throughput(args, binary, target_port)
        if not args.skip_lag:
            time.sleep(2.0)
            lag = measure_lag(target_port, args.lag_checks, args.lag_interval)
            print()
            print(
                f"schedule lag, {lag['checks']} checks over {args.lag_interval:g} s "
                f"({lag['rate']:.0f} checks/s, one worker process): "
                f"p50 {lag['p50_ms']:.1f} ms, p95 {lag['p95_ms']:.1f} ms, "
                f"p99 {lag['p99_ms']:.1f} ms, max {lag['max_ms']:.1f} ms; "
                f"outcomes {lag['outcomes']}"
            )
        print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    finally:
        target.terminate()
        target.wait(timeout=10)


def throughput(args: argparse.Namespace, binary: str, target_port: int) -> None:
    """Rounds of both sides, alternating which goes first, since other work on a shared
    machine comes and goes; each round's ratio compares two runs a few seconds apart."""
    label = f"opsyard ({args.workers} x {args.concurrency})"
    print()
    print(
        f"{'round':>5} {'blackbox/s':>11} {label + '/s':>22} {'ratio':>6}"
        f" {'CPU ms/probe bb':>16} {'ours':>6} {'not ok':>7}"
    )
    ratios: list[float] = []
    rates: dict[str, list[float]] = {"blackbox": [], "opsyard": []}
    for number in range(1, args.rounds + 1):
        sides: dict[str, dict[str, Any]] = {}
        order = ["blackbox", "opsyard"] if number % 2 else ["opsyard", "blackbox"]
        for side in order:
            if side == "blackbox":
                with tempfile.TemporaryDirectory() as workdir:
                    sides[side] = measure_blackbox(
                        binary, target_port, args.seconds, args.connections, Path(workdir)
                    )
            else:
                sides[side] = measure_opsyard(
                    target_port, args.seconds, args.workers, args.concurrency
                )
            time.sleep(1.0)
        bb, ours = sides["blackbox"], sides["opsyard"]
        ratios.append(ours["rate"] / bb["rate"])
        rates["blackbox"].append(bb["rate"])
        rates["opsyard"].append(ours["rate"])
        print(
            f"{number:>5} {bb['rate']:>11.0f} {ours['rate']:>22.0f} {ratios[-1]:>6.2f}"
            f" {bb['cpu_ms_per_probe']:>16.3f} {ours['cpu_ms_per_probe']:>6.3f}"
            f" {bb['bad'] + ours['bad']:>7}"
        )
    print(
        f"median: blackbox_exporter ({bb['driver']}) {statistics.median(rates['blackbox']):.0f}"
        f" probes/s, opsyard {statistics.median(rates['opsyard']):.0f} probes/s,"
        f" ratio opsyard / blackbox_exporter {statistics.median(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
