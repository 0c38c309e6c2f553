#!/usr/bin/env python3
"""Two or more server builds side by side: each round starts each build in turn on a fresh store (a thousand
tokens), runs the no-op route and the given rows twice, and reads the server's CPU time from /proc around each run.
Prints, per build, the medians over all runs: requests a second, server CPU per request, and both as a ratio to the
no-op route; with --detail also user and system CPU and the server's context switches per request. Builds taking
turns within minutes see the same host, which a full `bench/run` an hour apart does not.

    python3 bench/ab.py OLD_BINARY NEW_BINARY [--rows self_basic,self_bearer] [--rounds 3]
    scripts/with-postgres python3 bench/ab.py OLD NEW --store postgres

Uses bench.py's server, fixture and wrk helpers (and its pinning: server on CPU 1, wrk on CPU 0).
"""
import argparse
import base64
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402


def cpu_ticks(pid: int) -> tuple[int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # utime, stime


def context_switches(pid: int) -> int:
    """Voluntary and involuntary switches of all the server's threads."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            total += sum(int(line.split()[1]) for line in status.read_text().splitlines() if "ctxt_switches" in line)
        except FileNotFoundError:  # a thread that ended meanwhile
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+", type=Path)
    parser.add_argument("--rows", default="self_basic,self_bearer", help="scenario names of bench.py")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--detail", action="store_true",
                        help="also print user and system CPU and the server's context switches per request")
    args = parser.parse_args()
    rows = ["healthz"] + [row for row in args.rows.split(",") if row != "healthz"]
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    # Per run: requests a second, and per request the server's CPU (µs), user and system CPU (µs), context switches.
    results: dict[tuple[Path, str], list[tuple[float, float, float, float, float]]] = {}
    for _ in range(args.rounds):
        for binary in args.binaries:
            work = Path(tempfile.mkdtemp(prefix="cloudfleet-ab."))
            (work / "data").mkdir()
            key = os.urandom(32)
            database_url, psql = None, []
            if args.store == "postgres":
                database_url, psql = bench.postgres_database("ab_1000")
                bench.pin_postgres()
            server = bench.Server(binary, work, database_url, base64.b64encode(key).decode(), True, "info")
            base, seeded = bench.seed_store(server, key, 1000, psql, 100)
            server.start()
            try:
                fixture = bench.prepare(server, base, seeded)
                scenarios = {scenario.name: scenario for scenario in bench.scenarios(fixture, 64)}
                for name in rows:  # warm-up
                    bench.run_wrk(server.url, scenarios[name].requests, seconds=1, connections=64, pin=True, work=work)
                for _ in range(2):
                    for name in rows:
                        pid = server.process.pid
                        (user, system), switches = cpu_ticks(pid), context_switches(pid)
                        run = bench.run_wrk(server.url, scenarios[name].requests, seconds=args.seconds, connections=64,
                                            pin=True, work=work)
                        (user_after, system_after), switches_after = cpu_ticks(pid), context_switches(pid)
                        per_request = 1e6 / ticks_per_second / run.requests
                        user_us, system_us = (user_after - user) * per_request, (system_after - system) * per_request
                        results.setdefault((binary, name), []).append(
                            (run.rps, user_us + system_us, user_us, system_us, (switches_after - switches) / run.requests))
            finally:
                server.stop()
                shutil.rmtree(work, ignore_errors=True)
    for binary in args.binaries:
        medians = {name: [statistics.median(run[i] for run in results[(binary, name)]) for i in range(5)] for name in rows}
        noop_rps, noop_cpu = medians["healthz"][:2]
        line = f"{binary}: healthz {noop_rps:,.0f} req/s {noop_cpu:.2f} µs"
        for name in rows[1:]:
            rps, cpu = medians[name][:2]
            line += f" | {name} {rps:,.0f} req/s {cpu:.2f} µs, × no-op {rps / noop_rps:.3f} (CPU {noop_cpu / cpu:.3f})"
        print(line, flush=True)
        if args.detail:
            for name in rows:
                _, _, user, system, switches = medians[name]
                print(f"    {name:12} user {user:.2f} µs, system {system:.2f} µs, {switches:.3f} context switches a request")


if __name__ == "__main__":
    main()
