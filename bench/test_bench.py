"""Tests of the benchmark's arithmetic: the interleaved ratio and the cycles it is computed from.

The interleaved ratio corrects each turn's count for the requests the other side still has in flight when the turn
begins (`Measurement.interleaved_ratio`). Here a model of the measured server, one that answers one request at a
time in the order they arrive, runs the wrk script's protocol (each side's connections send only in their own turns
and send the next request when the answer arrives) with known costs per request, and the harness must recover their
ratio from the counts of requests sent per turn, as it does from wrk's.

Run by scripts/test: python3 -m pytest bench/test_bench.py -q
"""

from __future__ import annotations

import heapq
import random
import sys
from collections import deque
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402


def simulate(cost_a: float, cost_b: float, *, connections: int, turn: float, turns: float,
             jitter: float = 0.0, seed: int = 0) -> list[int]:
    """Requests sent in each turn by side A (even turns) and side B (odd turns), `connections` connections each,
    to a server that takes `cost_a` or `cost_b` (times 1 ± `jitter`, at random) for each request, one at a time,
    in arrival order. The run stops after `turns` turns, which may end in the middle of one."""
    rng = random.Random(seed)
    end = turns * turn
    sent: list[int] = []
    events: list[tuple[float, int, str, int]] = []  # (time, order, kind, side)
    order = 0

    def schedule(time: float, kind: str, side: int) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (time, order, kind, side))

    def send(ready: float, side: int) -> None:
        # The script's `delay`: a connection whose side does not have the turn waits for the side's next turn.
        index = int(ready // turn)
        if index % 2 != side:
            index += 1
        at = max(ready, index * turn)
        if at >= end:
            return
        while len(sent) <= index:
            sent.append(0)
        sent[index] += 1
        schedule(at, "arrive", side)

    for side in (0, 1):
        for _ in range(connections):
            send(0.0, side)
    queue: deque[int] = deque()
    busy = False
    while events:
        time, _, kind, side = heapq.heappop(events)
        if kind == "arrive":
            queue.append(side)
        else:  # "done": the answer reaches its connection, which sends its next request
            busy = False
            send(time, side)
        if not busy and queue:
            served = queue.popleft()
            cost = cost_a if served == 0 else cost_b
            schedule(time + cost * (1 + rng.uniform(-jitter, jitter)), "done", served)
            busy = True
    return sent


def measurement(cycles: list[tuple[int, int]], connections: int) -> bench.Measurement:
    scenario = bench.Scenario("row", "a row", [], connections)
    result = bench.WrkResult(rps=0, p50_ms=0, p90_ms=0, p99_ms=0, max_ms=0, requests=0, errors=0,
                             connections=connections)
    return bench.Measurement(scenario, result, interleaved=cycles)


def test_whole_cycles_leave_out_the_first_and_the_last_cycle() -> None:
    assert bench.whole_cycles([10, 20, 11, 21, 12, 22, 13, 23, 14, 24]) == [(11, 21), (12, 22), (13, 23)]
    # The run ended in a turn of A: that turn and the cycle before it are left out.
    assert bench.whole_cycles([10, 20, 11, 21, 12, 22, 13, 23, 14, 24, 15]) == [(11, 21), (12, 22), (13, 23)]
    assert bench.whole_cycles([10, 20, 11, 21, 12, 22, 13, 23, 14, 24, 15, 25]) == [
        (11, 21), (12, 22), (13, 23), (14, 24)]
    assert bench.whole_cycles([10, 20, 11, 21]) == []
    assert bench.whole_cycles([]) == []


@pytest.mark.parametrize("ratio", [0.7, 0.85, 1.0, 1.2])
@pytest.mark.parametrize(("turns", "whole"), [(40.0, 18), (41.5, 19), (43.0, 19)])
def test_the_interleaved_ratio_recovers_the_ratio_of_the_costs(ratio: float, turns: float, whole: int) -> None:
    # Turns of 20 ms with 64 connections a side and about 30,000 requests a second: about 600 answers a turn, so
    # the requests in flight are a tenth of a turn's, and uncorrected the ratio would be off by several points.
    connections, cost_a = 64, 33e-6
    sent = simulate(cost_a, cost_a / ratio, connections=connections, turn=0.02, turns=turns)
    cycles = bench.whole_cycles(sent)
    assert len(cycles) == whole
    assert measurement(cycles, connections).interleaved_ratio == pytest.approx(ratio, abs=0.002)
    uncorrected = sum(b for _, b in cycles) / sum(a for a, _ in cycles)
    if ratio != 1.0:
        assert abs(uncorrected - ratio) > 0.02


@pytest.mark.parametrize("ratio", [0.7, 0.85, 1.2])
def test_the_harness_turns_measure_the_ratio_when_requests_vary(ratio: float) -> None:
    # The harness's 200 ms turns, with each request's cost varying by up to 30 % either way: the ratio over 9 cycles
    # is within half a point, and between the 10th and the 90th percentiles of the cycles' own ratios.
    connections, cost_a = 64, 33e-6
    sent = simulate(cost_a, cost_a / ratio, connections=connections, turn=0.2, turns=22, jitter=0.3, seed=7)
    row = measurement(bench.whole_cycles(sent), connections)
    assert len(row.interleaved) == 9
    assert row.interleaved_ratio == pytest.approx(ratio, abs=0.005)
    low, high = row.interleaved_spread
    assert low <= row.interleaved_ratio <= high


def test_without_whole_cycles_there_is_no_interleaved_ratio() -> None:
    row = measurement([], 64)
    assert row.interleaved_ratio is None
    assert row.interleaved_spread is None
    # Turns too short to hold more than the requests in flight give no ratio rather than a negative one.
    assert measurement([(100, 120)], 64).interleaved_ratio is None
