"""The load case reads wrk's own report: rate, percentiles and every kind of error."""

from __future__ import annotations

import subprocess
import sys

from bench.load import parse_wrk

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:40123/api/v1/tracks
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    38.12ms   12.40ms 212.77ms   81.20%
    Req/Sec   210.55     31.02   282.00     70.00%
  Latency Distribution
     50%   35.98ms
     75%   42.10ms
     90%   51.33ms
     99%    1.02s
  2106 requests in 5.01s, 80.43MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:    420.36
Transfer/sec:     16.05MB
"""


def test_rate_percentiles_and_errors_come_from_the_report() -> None:
    assert parse_wrk(WRK_OUTPUT) == {
        "requests_per_second": 420.4,
        "requests": 2106,
        "p50_ms": 35.98,
        "p99_ms": 1020.0,
        "errors": 7,
    }


def test_microsecond_latencies_and_a_clean_run() -> None:
    output = WRK_OUTPUT.replace("35.98ms", "812.00us").replace("1.02s", "4.50ms")
    output = output.replace("  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 4\n", "")
    figures = parse_wrk(output)
    assert (figures["p50_ms"], figures["p99_ms"], figures["errors"]) == (0.81, 4.5, 0)


def test_measured_charges_each_request_the_cpu_its_processes_spent() -> None:
    from bench.load import measured

    # A stand-in web server: spends 0.3 s of CPU, says so, then idles until it is stopped.
    server = subprocess.Popen([sys.executable, "-c", BURN], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:

        def run() -> dict[str, int]:
            assert server.stdout is not None and server.stdout.readline().strip() == "burnt"
            return {"requests": 100}

        figures = measured(server.pid, run)
    finally:
        server.kill()
        server.wait()
    assert set(figures["cpu_ms_per_request_by_role"]) == {"web", "database", "redis"}
    # 0.3 s over 100 requests: about 3 ms each (clock ticks are 10 ms).
    assert 2.0 <= figures["cpu_ms_per_request_by_role"]["web"] <= 5.0
    assert figures["cpu_ms_per_request"] >= figures["cpu_ms_per_request_by_role"]["web"]


BURN = """
import time
deadline = time.process_time() + 0.3
while time.process_time() < deadline:
    pass
print("burnt", flush=True)
time.sleep(60)
"""
