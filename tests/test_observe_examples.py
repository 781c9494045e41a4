"""The README's Metrics and Tracing examples, run: the Prometheus files name what the worker serves,
and the traced FastAPI app's request, trigger and worker attempt share one trace."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import yaml

from jobs.observe.metrics import WorkerMetrics
from jobs.observe.queue_gauges import QueueGauges
from jobs.store.counts import QueueCounts

from .processes import ROOT, process_env, run_to_exit

PROMETHEUS = ROOT / "examples" / "prometheus"
REQUEST = """
import asyncio, json, httpx
from opentelemetry import trace
from examples.traced_web import app

async def main():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/signups", json={"email": "ada@example.com", "name": "Ada"})
    print("RESULT " + json.dumps(response.json()), flush=True)

asyncio.run(main())
trace.get_tracer_provider().force_flush()
"""


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in `text`: log lines and the console exporter's indented spans alike."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (start := text.find("{", at)) >= 0:
        try:
            value, at = decoder.raw_decode(text, start)
        except ValueError:
            at = start + 1
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


async def exposed_names() -> set[str]:
    async def read() -> list[QueueCounts]:
        return [QueueCounts("q", 0, 0, 0, 0, 0, False)]

    gauges = QueueGauges(read)
    await gauges.refresh()
    families = [*WorkerMetrics({"q": ["j"]}).collect(), *gauges.collect()]
    return {sample.name for family in families for sample in family.samples}


async def test_the_alert_rules_and_scrape_config_name_what_the_worker_serves() -> None:
    """Each metric an alert reads is one a worker's scrape has; the config loads the rules beside it."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert all((PROMETHEUS / name).is_file() for name in config["rule_files"])
    assert any(c.get("metrics_path") == "/jobs/metrics" for c in config["scrape_configs"])
    rules = [r for group in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"] for r in group["rules"]]
    named = {m for r in rules for m in re.findall(r"\bjobs_[a-z_]+", r["expr"])}
    assert {"jobs_queue_jobs", "jobs_failed_total", "jobs_completed_total", "jobs_wait_seconds_bucket"} <= named
    assert named <= await exposed_names()


def test_the_traced_fastapi_request_its_trigger_and_the_workers_attempt_share_one_trace() -> None:
    """POST /signups: the request's server span, the trigger's `send emails` span (its child) and,
    in a worker whose JOBS_MODULES set up tracing first, the `process emails` attempt span, whose
    job's log lines carry the trace id; the audit job that job triggers is in the same trace."""
    web = run_to_exit([sys.executable, "-c", REQUEST], process_env(JOBS_MODULES=""), timeout=60)
    assert web.returncode == 0, web.output
    (result,) = [json.loads(line[7:]) for line in web.stdout.splitlines() if line.startswith("RESULT ")]
    web_spans = {s["name"]: s for s in json_objects(web.stdout) if "context" in s}
    sent, request = web_spans["send emails"], web_spans["POST /signups"]
    trace_id = sent["context"]["trace_id"]
    assert request["context"]["trace_id"] == trace_id and sent["parent_id"] == request["context"]["span_id"]
    assert sent["attributes"]["messaging.message.id"] == result["job_id"]

    worker_env = process_env(JOBS_MODULES="examples.worker_telemetry,examples.jobs")
    burst = [sys.executable, "-m", "servers.jobs", "--burst", "--queue", "emails", "--queue", "audit"]
    worker = run_to_exit(burst, worker_env, timeout=60)  # audit: the job the email triggers, nothing left behind
    assert worker.returncode == 0, worker.output
    found = json_objects(worker.stdout)
    (attempt,) = [
        s for s in found if "context" in s and s["attributes"].get("messaging.message.id") == result["job_id"]
    ]
    assert attempt["name"] == "process emails" and attempt["kind"] == "SpanKind.CONSUMER"
    assert attempt["context"]["trace_id"] == trace_id and attempt["parent_id"] == sent["context"]["span_id"]
    (completed,) = [e for e in found if e.get("event") == "job.completed" and e.get("job_id") == result["job_id"]]
    assert completed["trace_id"] == trace_id.removeprefix("0x")
    audited = [s for s in found if s.get("name") == "process audit" and s["context"]["trace_id"] == trace_id]
    assert len(audited) == 1, "the job the email triggers runs in the same trace"
