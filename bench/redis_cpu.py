#!/usr/bin/env python3
"""Redis's own CPU per job, this project before and after a change, and the peers, in one run.

    .venv/bin/python bench/redis_cpu.py --before ../old-checkout            # ours, old vs new
    .venv/bin/python bench/redis_cpu.py --before ../old --peers taskiq,saq,streaq,bullmq,celery
    .venv/bin/python bench/redis_cpu.py --json bench/redis-cpu.json

Each run is the bench harness's drain scenario (`bench/peers/*_peer.py --scenario drain`): N no-op
jobs triggered one by one, then drained by a worker at concurrency 32 with retention on, and the
Redis server's `used_cpu_user + used_cpu_sys` over the triggers and over the drain, per job.
Rounds alternate old and new, so both see the same machine. `--before` is a checkout of an older
commit: its `jobs` package is put first on the path of the same peer script (the benchmark code
itself stays this one's). Peers run from their venvs under bench/.venvs (made by bench/run.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
REDIS_URL = "redis://127.0.0.1:6379/13"


def run_peer(python: Path, script: Path, n: int, extra_path: Path | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = f"{extra_path}{os.pathsep}{env.get('PYTHONPATH', '')}"
    command = [str(python), str(script), "--scenario", "drain", "--n", str(n), "--concurrency", "32"]
    done = subprocess.run(
        [*command, "--redis-url", REDIS_URL], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{script.name} failed:\n{done.stderr[-3000:]}")
    line = json.loads([row for row in done.stdout.splitlines() if row.startswith("{")][-1])
    if not line["ok"]:
        raise SystemExit(f"{script.name}: {line['error']}")
    result: dict[str, Any] = line["metrics"]
    return result


def figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    return {
        "runs": len(runs),
        "trigger_us_per_job": median("redis_cpu_enqueue_us_per_job"),
        "claim_settle_us_per_job": median("redis_cpu_worker_us_per_job"),
        "total_us_per_job": median("redis_cpu_us_per_job"),
        "total_each_run": [round(r["redis_cpu_us_per_job"], 1) for r in runs],
        "drain_jobs_per_s": median("drain_jobs_per_s"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--peers", default="", help="comma-separated peer names of bench/peers.toml")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ours = BENCH / "peers" / "jobs_peer.py"
    python = Path(sys.executable)
    runs: dict[str, list[dict[str, Any]]] = {"after": [], **({"before": []} if args.before else {})}
    peers = [p for p in args.peers.split(",") if p]
    with (BENCH / "peers.toml").open("rb") as fh:
        specs = {entry["name"]: entry for entry in tomllib.load(fh)["peer"]}
    unknown = [p for p in peers if p not in specs]
    if unknown:
        raise SystemExit(f"unknown peers {unknown}; bench/peers.toml has {sorted(specs)}")
    for peer in peers:
        runs[peer] = []
    for round_number in range(args.rounds):
        if args.before:
            runs["before"].append(run_peer(python, ours, args.n, args.before.resolve()))
        runs["after"].append(run_peer(python, ours, args.n))
        for peer in peers:
            spec = specs[peer]
            venv = BENCH / ".venvs" / spec["venv"] / "bin" / "python"
            runs[peer].append(run_peer(venv, BENCH / spec["script"], args.n))
        shown = {name: round(r[-1]["redis_cpu_us_per_job"], 1) for name, r in runs.items()}
        print(f"round {round_number + 1}: Redis CPU µs per job {shown}", file=sys.stderr)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "bench/redis_cpu.py " + " ".join(sys.argv[1:]),
        "n": args.n,
        "concurrency": 32,
        "results": {name: figures(r) for name, r in runs.items()},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
