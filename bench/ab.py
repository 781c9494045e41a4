#!/usr/bin/env python3
"""The core's speed, this tree against an older checkout, alternating in one run.

    .venv/bin/python bench/ab.py --before ../checkout-of-main-before-a-change
    .venv/bin/python bench/ab.py --before ../old --rounds 5 --json bench/ab.json

What `make bench` measures of our worker (drain at concurrency 32 and 1, pickup latency), with no
optional feature in use, run by the same peer script (`bench/peers/jobs_peer.py`) with the older
checkout's `jobs` package first on the path, old and new alternating round by round so both see
the same machine. It is how a feature shows that, unused, it costs the per-job path nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REDIS_URL = "redis://127.0.0.1:6379/13"
SCENARIOS = {
    "drain_c32": ["--scenario", "drain", "--n", "20000", "--concurrency", "32"],
    "drain_c1": ["--scenario", "drain", "--n", "3000", "--concurrency", "1"],
    "latency": ["--scenario", "latency", "--samples", "200", "--gap-max-ms", "100", "--concurrency", "32"],
}


def run(arguments: list[str], before: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    if before is not None:
        env["PYTHONPATH"] = f"{before}{os.pathsep}{env.get('PYTHONPATH', '')}"
    command = [sys.executable, str(BENCH / "peers" / "jobs_peer.py"), *arguments, "--redis-url", REDIS_URL]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed:\n{done.stderr[-3000:]}")
    line = json.loads([row for row in done.stdout.splitlines() if row.startswith("{")][-1])
    if not line["ok"]:
        raise SystemExit(f"{' '.join(arguments)}: {line['error']}")
    metrics: dict[str, Any] = line["metrics"]
    return metrics


def headline(scenario: str, metrics: dict[str, Any]) -> dict[str, float]:
    if scenario == "latency":
        return {"p50_ms": metrics["p50_ms"], "p99_ms": metrics["p99_ms"]}
    return {"jobs_per_s": metrics["drain_jobs_per_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the commit to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    chosen = args.scenarios.split(",")
    rows: dict[str, dict[str, list[dict[str, float]]]] = {s: {"before": [], "after": []} for s in chosen}
    for round_number in range(args.rounds):
        for scenario in chosen:
            order = ("before", "after") if round_number % 2 == 0 else ("after", "before")
            for side in order:
                found = run(SCENARIOS[scenario], args.before.resolve() if side == "before" else None)
                rows[scenario][side].append(headline(scenario, found))
        print(f"round {round_number + 1}: {json.dumps({s: {k: v[-1] for k, v in r.items()} for s, r in rows.items()})}")
    medians = {
        scenario: {
            side: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for side, runs in sides.items()
        }
        for scenario, sides in rows.items()
    }
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "bench/ab.py " + " ".join(sys.argv[1:]),
        "rounds": args.rounds,
        "medians": medians,
        "each_round": rows,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
