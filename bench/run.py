#!/usr/bin/env python3
"""Run every benchmark scenario for every peer library and write RESULTS.md.

Runs on the plain system Python (3.11+, stdlib only).  Each peer lives in its own
virtualenv under bench/.venvs/ (created or refreshed here from bench/peers.toml),
and each (peer, scenario) is one run of the peer's script, which prints one JSON
line on stdout (contract: bench/README.md).  Peers and scenarios run one after
another, never in parallel.

    python3 bench/run.py --quick                 # smoke run, small N -> RESULTS.quick.md
    python3 bench/run.py                         # full run -> RESULTS.md
    python3 bench/run.py --peers arq,saq --scenarios latency
    python3 bench/run.py --setup-only            # just create/refresh the venvs
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH / "peers"))

from _resp import ALLOWED_DBS, MiniRedis, RedisTarget  # noqa: E402

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"  # db 15 is the jobs test suite's; see README
STAMP = ".bench-requirements"


# --------------------------------------------------------------------------- peers and venvs


@dataclass(frozen=True)
class PeerSpec:
    """One ``[[peer]]`` entry of peers.toml."""

    name: str
    label: str
    script: Path
    venv: str
    requirements: tuple[str, ...]
    args: tuple[str, ...] = ()

    @property
    def venv_dir(self) -> Path:
        return BENCH / ".venvs" / self.venv

    @property
    def python(self) -> Path:
        return self.venv_dir / "bin" / "python"


def load_peers(path: Path) -> list[PeerSpec]:
    """Read peers.toml; a venv shared by several peers must have one requirement list."""
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    peers: list[PeerSpec] = []
    for entry in raw.get("peer", []):
        reqs = tuple(r.replace("{repo}", str(REPO)) for r in entry["requirements"])
        peers.append(
            PeerSpec(
                name=entry["name"],
                label=entry.get("label", entry["name"]),
                script=BENCH / entry["script"],
                venv=entry["venv"],
                requirements=reqs,
                args=tuple(entry.get("args", ())),
            )
        )
    names = [p.name for p in peers]
    if len(names) != len(set(names)):
        raise SystemExit(f"peers.toml: duplicate peer names in {names}")
    by_venv: dict[str, tuple[str, ...]] = {}
    for peer in peers:
        if by_venv.setdefault(peer.venv, peer.requirements) != peer.requirements:
            raise SystemExit(f"peers.toml: venv {peer.venv!r} is shared with different requirements")
    return peers


def ensure_venv(peer: PeerSpec, python: str) -> None:
    """Create the peer's venv, or reinstall if its requirement list changed."""
    wanted = "\n".join(peer.requirements) + "\n"
    stamp = peer.venv_dir / STAMP
    if peer.python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return
    log(f"setting up venv {peer.venv_dir.relative_to(BENCH)}: {' '.join(peer.requirements)}")
    if not peer.python.exists():
        subprocess.run([python, "-m", "venv", str(peer.venv_dir)], check=True)
    pip = [str(peer.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *peer.requirements], check=True)
    stamp.write_text(wanted)


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Sizes:
    """Scenario sizes for a full or a quick run."""

    n: int
    n_c1: int
    samples: int
    max_drain_s: float
    timeout_s: float


FULL = Sizes(n=20000, n_c1=2000, samples=200, max_drain_s=180.0, timeout_s=900.0)
QUICK = Sizes(n=500, n_c1=200, samples=30, max_drain_s=20.0, timeout_s=180.0)

SCENARIO_NAMES = ("drain-c32", "drain-c1", "latency", "enqueue")


def scenario_args(name: str, sizes: Sizes) -> list[str]:
    """Peer-script arguments for one runner scenario."""
    if name == "drain-c32":
        return [
            "--scenario",
            "drain",
            "--concurrency",
            "32",
            "--n",
            str(sizes.n),
            "--max-drain-s",
            str(sizes.max_drain_s),
        ]
    if name == "drain-c1":
        return [
            "--scenario",
            "drain",
            "--concurrency",
            "1",
            "--n",
            str(sizes.n_c1),
            "--max-drain-s",
            str(sizes.max_drain_s),
        ]
    if name == "latency":
        return ["--scenario", "latency", "--concurrency", "32", "--samples", str(sizes.samples)]
    if name == "enqueue":
        return ["--scenario", "enqueue", "--n", str(sizes.n)]
    raise ValueError(name)


@dataclass
class RunRecord:
    """Outcome of one (peer, scenario) run."""

    peer: str
    scenario: str
    command: list[str]
    seconds: float
    result: dict[str, Any] | None = None
    error: str | None = None
    log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, Any]:
        if self.result and self.result.get("ok"):
            return dict(self.result.get("metrics") or {})
        return {}


def run_one(peer: PeerSpec, scenario: str, sizes: Sizes, redis_url: str) -> RunRecord:
    """Run one peer script once and parse the JSON line it prints last."""
    cmd = [str(peer.python), str(peer.script), *scenario_args(scenario, sizes), "--redis-url", redis_url, *peer.args]
    logs = BENCH / ".logs"
    logs.mkdir(exist_ok=True)
    log_path = logs / f"{peer.name.replace(':', '_')}__{scenario}.log"
    record = RunRecord(peer.name, scenario, cmd, 0.0, log=str(log_path.relative_to(BENCH)))
    start = time.monotonic()
    with log_path.open("w") as log_fh:
        try:
            proc = subprocess.run(
                cmd, cwd=BENCH, stdout=subprocess.PIPE, stderr=log_fh, text=True, timeout=sizes.timeout_s
            )
        except subprocess.TimeoutExpired:
            record.seconds = time.monotonic() - start
            record.error = f"timed out after {sizes.timeout_s:.0f}s"
            return record
    record.seconds = time.monotonic() - start
    lines = [line for line in proc.stdout.splitlines() if line.strip().startswith("{")]
    if lines:
        try:
            record.result = json.loads(lines[-1])
        except json.JSONDecodeError as exc:
            record.error = f"bad JSON from peer: {exc}"
    if record.result is None and record.error is None:
        record.error = f"no JSON result (exit {proc.returncode}); see {record.log}"
    elif record.result is not None and not record.result.get("ok"):
        record.error = record.result.get("error") or f"peer reported failure (exit {proc.returncode})"
    return record


# --------------------------------------------------------------------------- machine details


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_details(redis_url: str, command: str) -> dict[str, Any]:
    """What RESULTS.md says about where and how the numbers were taken."""
    with MiniRedis(RedisTarget.from_url(redis_url)) as client:
        info = client.info("server")
    return {
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "runner_python": platform.python_version(),
        "redis_version": info.get("redis_version", "?"),
        "redis_url": redis_url,
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": command,
        "loadavg_start": os.getloadavg(),
    }


def check_redis(redis_url: str, force: bool) -> None:
    """Refuse to run on db 0-9, or on a non-empty DB unless --force (it gets flushed)."""
    target = RedisTarget.from_url(redis_url)
    if target.db not in ALLOWED_DBS:
        raise SystemExit(
            f"--redis-url must name a bench DB {ALLOWED_DBS.start}-{ALLOWED_DBS.stop - 1}, got db {target.db}"
        )
    with MiniRedis(target) as client:
        keys = client.dbsize()
    if keys and not force:
        raise SystemExit(
            f"Redis db {target.db} holds {keys} keys and every scenario FLUSHes it. "
            "If they are leftovers of a bench run, pass --force; otherwise pick another DB with --redis-url."
        )


# --------------------------------------------------------------------------- report


def fmt_rate(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, int | float) else "—"


def fmt_ms(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def metrics_of(records: dict[tuple[str, str], RunRecord], peer: PeerSpec, scenario: str) -> dict[str, Any]:
    """Metrics of a successful run, or {} when it was not run or failed."""
    rec = records.get((peer.name, scenario))
    return rec.metrics if rec else {}


def render_markdown(
    peers: list[PeerSpec], records: dict[tuple[str, str], RunRecord], machine: dict[str, Any], quick: bool, sizes: Sizes
) -> str:
    """The RESULTS.md text: main table, details, per-peer configuration, machine."""
    out: list[str] = []
    title = "Benchmark results (QUICK smoke run: small N, not for comparison)" if quick else "Benchmark results"
    out += [f"# {title}", "", f"Generated by `{machine['command']}` on {machine['date_utc']}.", ""]
    out += [
        "| Library | version | drain c32 jobs/s | drain c1 jobs/s | latency p50 / p99 ms "
        "| enqueue single/s | enqueue bulk/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    footnotes: list[str] = []

    def cell(peer: PeerSpec, scenario: str, text: str, note: bool = True) -> str:
        rec = records.get((peer.name, scenario))
        if rec is None:
            return "not run"
        if rec.error:
            if note:
                footnotes.append(f"{peer.name} {scenario}: {rec.error} (log: `bench/{rec.log}`)")
            return f"error[^{len(footnotes)}]"
        if rec.metrics.get("capped"):
            m = rec.metrics
            footnotes.append(
                f"{peer.name} {scenario}: capped at {sizes.max_drain_s:.0f} s after {m['completed']} of {m['n']} jobs; "
                "rate over the jobs done"
            )
            return f"{text}[^{len(footnotes)}]"
        return text

    for peer in peers:
        version = next((r.result.get("version") for (p, _), r in records.items() if p == peer.name and r.result), None)
        lat = metrics_of(records, peer, "latency")
        enq = metrics_of(records, peer, "enqueue")
        lat_text = f"{fmt_ms(lat.get('p50_ms'))} / {fmt_ms(lat.get('p99_ms'))}" if lat else "—"
        row = [
            peer.label,
            version or "?",
            cell(peer, "drain-c32", fmt_rate(metrics_of(records, peer, "drain-c32").get("drain_jobs_per_s"))),
            cell(peer, "drain-c1", fmt_rate(metrics_of(records, peer, "drain-c1").get("drain_jobs_per_s"))),
            cell(peer, "latency", lat_text),
            cell(peer, "enqueue", fmt_rate(enq.get("single_jobs_per_s"))),
            cell(peer, "enqueue", fmt_rate(enq.get("bulk_jobs_per_s")), note=False),
        ]
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append(
        f"Sizes: drain c32 N={sizes.n}, drain c1 N={sizes.n_c1} (each drain capped at {sizes.max_drain_s:.0f} s), "
        f"latency {sizes.samples} samples at concurrency 32, enqueue N={sizes.n} (bulk in calls of 1000). "
        "`—` in the bulk column: the library has no bulk-enqueue API."
    )
    out.append("")

    out += [
        "## Details",
        "",
        "| Library | enqueue/s during drain c32 | drain c32 wall s | worker start s "
        "| latency p90 / max ms | bulk API | event loop |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for peer in peers:
        m32 = metrics_of(records, peer, "drain-c32")
        mlat = metrics_of(records, peer, "latency")
        bulk = metrics_of(records, peer, "enqueue").get("bulk_api") or "none"
        wall = f"{m32['wall_s']:.2f}" if "wall_s" in m32 else "—"
        start = f"{m32['startup_s']:.2f}" if "startup_s" in m32 else "—"
        loop = (m32 or mlat).get("event_loop", "?")
        out.append(
            f"| {peer.label} | {fmt_rate(m32.get('enqueue_jobs_per_s'))} | {wall} | {start} | "
            f"{fmt_ms(mlat.get('p90_ms'))} / {fmt_ms(mlat.get('max_ms'))} | {bulk} | `{loop}` |"
        )
    out.append("")

    out += ["## How each library was set up", ""]
    for peer in peers:
        config = next((r.result.get("config") for (p, _), r in records.items() if p == peer.name and r.result), None)
        out.append(f"- **{peer.label}** (`{' '.join(peer.requirements)}`)")
        for key, value in (config or {}).items():
            out.append(f"  - {key}: {value}")
    out.append("")

    load_end = os.getloadavg()
    out += [
        "## Machine",
        "",
        f"- CPU: {machine['cpu_model']}, {machine['cpu_cores']} cores; {machine['os']}",
        f"- Python: {', '.join(sorted(machine['peer_pythons'])) or '?'} in the peer venvs "
        f"(runner: {machine['runner_python']})",
        f"- Redis: {machine['redis_version']} on {machine['redis_url']} (local, same machine)",
        f"- Date: {machine['date_utc']}",
        f"- Command: `{machine['command']}`",
        f"- Load average (1/5/15 min) at start: {'/'.join(f'{x:.2f}' for x in machine['loadavg_start'])}, "
        f"at end: {'/'.join(f'{x:.2f}' for x in load_end)} (other work on the machine skews the numbers)",
        "",
        "Method: see bench/README.md. Worker = a subprocess of the peer script, one process, run through the "
        "library's own worker API; jobs are no-op `async def`s; job start is taken inside the job body with "
        "`time.time()`. Drain rate = (done - 1) / (last job start - first job start). Latency = job start - "
        "just before the enqueue call, with a random 10-500 ms pause between samples.",
        "",
    ]
    if footnotes:
        out += [f"[^{i}]: {text}" for i, text in enumerate(footnotes, 1)]
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Run the peer benchmark suite and write RESULTS.md.")
    p.add_argument("--quick", action="store_true", help="smoke run: N=500, c1 N=200, 30 latency samples")
    p.add_argument("--peers", help="comma-separated peer names from peers.toml (default: all)")
    p.add_argument("--scenarios", help=f"comma-separated subset of {','.join(SCENARIO_NAMES)}")
    p.add_argument("--n", type=int, help="override N for drain c32 and enqueue")
    p.add_argument("--n-c1", type=int, help="override N for drain c1")
    p.add_argument("--samples", type=int, help="override latency samples")
    p.add_argument("--max-drain-s", type=float, help="override the per-drain time cap (0: none)")
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help=f"bench DB (flushed!), default {DEFAULT_REDIS_URL}")
    p.add_argument("--force", action="store_true", help="run even if the bench DB is not empty")
    p.add_argument("--python", default=sys.executable, help="interpreter used to create the venvs")
    p.add_argument("--setup-only", action="store_true", help="create/refresh the venvs and exit")
    p.add_argument("--no-setup", action="store_true", help="do not touch the venvs")
    p.add_argument("--manifest", type=Path, default=BENCH / "peers.toml", help="peer list (default bench/peers.toml)")
    p.add_argument("--out", type=Path, help="Markdown output (default RESULTS.md, or RESULTS.quick.md with --quick)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python3", os.path.relpath(sys.argv[0]), *sys.argv[1:]])
    peers = load_peers(args.manifest)
    if args.peers:
        wanted = args.peers.split(",")
        unknown = set(wanted) - {p.name for p in peers}
        if unknown:
            raise SystemExit(f"unknown peers: {sorted(unknown)}")
        peers = [p for p in peers if p.name in wanted]
    scenarios = args.scenarios.split(",") if args.scenarios else list(SCENARIO_NAMES)
    if bad := set(scenarios) - set(SCENARIO_NAMES):
        raise SystemExit(f"unknown scenarios: {sorted(bad)}")

    if not args.no_setup:
        for peer in peers:
            ensure_venv(peer, args.python)
    if args.setup_only:
        return 0

    base = QUICK if args.quick else FULL
    sizes = Sizes(
        n=args.n or base.n,
        n_c1=args.n_c1 or base.n_c1,
        samples=args.samples or base.samples,
        max_drain_s=base.max_drain_s if args.max_drain_s is None else args.max_drain_s,
        timeout_s=base.timeout_s,
    )
    check_redis(args.redis_url, args.force)
    machine = machine_details(args.redis_url, command)

    records: dict[tuple[str, str], RunRecord] = {}
    for peer in peers:
        for scenario in scenarios:
            log(f"{peer.name} {scenario} ...")
            rec = run_one(peer, scenario, sizes, args.redis_url)
            records[(peer.name, scenario)] = rec
            status = f"ERROR {rec.error}" if rec.error else json.dumps(rec.metrics, default=str)
            log(f"{peer.name} {scenario}: {rec.seconds:.1f}s {status}")

    machine["peer_pythons"] = sorted({r.result["python"] for r in records.values() if r.result})
    out = args.out or BENCH / ("RESULTS.quick.md" if args.quick else "RESULTS.md")
    out.write_text(render_markdown(peers, records, machine, args.quick, sizes))
    raw = {
        "machine": machine,
        "sizes": sizes.__dict__,
        "runs": [{**r.__dict__, "command": shlex.join(r.command)} for r in records.values()],
    }
    out.with_suffix(".json").write_text(json.dumps(raw, indent=2, default=str) + "\n")
    log(f"wrote {out.relative_to(BENCH.parent) if out.is_relative_to(BENCH.parent) else out} and its .json")
    return 1 if any(r.error for r in records.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
