"""The README's examples are files under `examples/`, and the suite runs them: docs cannot drift.

Every Python block of the README (and any other block naming a file) starts with `# <path>` and
holds that file exactly; `examples/tests` is a user's test suite, run as a user runs it: pytest
with the jobs plugin's automatic mocks on and pytest-asyncio in auto mode.
"""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import timedelta

from redis.asyncio import Redis

from examples import quickstart
from jobs import RateLimit
from jobs.store import keys
from jobs.testing import mock_triggers, triggered

from .conftest import run_burst
from .processes import ROOT, process_env, run_to_exit

BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def readme_blocks() -> list[tuple[str, str]]:
    return BLOCK.findall((ROOT / "README.md").read_text())


def test_every_python_block_of_the_readme_is_a_file_of_the_repository_verbatim() -> None:
    """A block's first line names its file; the rest is the file's text, whole."""
    checked = 0
    for language, text in readme_blocks():
        first, _, body = text.partition("\n")
        if language != "python" and not first.startswith("# examples/"):
            continue
        assert first.startswith("# "), f"a README {language} block does not name its file:\n{text[:200]}"
        path = ROOT / first.removeprefix("# ").strip()
        assert path.is_file(), f"the README shows {path}, which does not exist"
        shown = path.relative_to(ROOT)
        assert body == path.read_text(), f"README: {shown} differs; run scripts/sync_readme_examples.py"
        checked += 1
    assert checked >= 10


def test_the_quickstart_triggers_its_job_with_a_validated_payload() -> None:
    """The README's first example, run: the trigger (mocked here) receives the validated payload."""
    with mock_triggers():
        asyncio.run(quickstart.on_signup("u-1"))
        (item,) = triggered(quickstart.send_welcome_job)
    assert (item.job.name, item.job.queue, item.payload) == ("send-welcome", "emails", {"user_id": "u-1"})


def test_the_example_apps_test_suite_passes_as_a_user_runs_it() -> None:
    """examples/tests under pytest with the plugin's defaults: mocked triggers, and real ones with jobs_worker."""
    command = [sys.executable, "-m", "pytest", "-c", "examples/pyproject.toml", "--rootdir", ".", "examples/tests"]
    done = run_to_exit(
        [*command, "-q", "-p", "no:cacheprovider", "-W", "error"], process_env(JOBS_MODULES=""), timeout=120
    )
    assert done.returncode == 0, done.output
    assert re.search(r"\b13 passed\b", done.stdout), done.stdout


async def test_the_job_control_examples_declare_their_limits_and_order_their_triggers(redis: Redis) -> None:
    """examples/sms.py and payments.py declare their limits; examples/login_codes.py's login code,
    triggered last, runs first, and the campaign (priority -5) after the message at priority 0."""
    from examples import login_codes, payments, sms

    assert sms.send_sms.config.rate_limit == RateLimit(100, per=timedelta(minutes=1))
    assert payments.capture_payment.config.max_running == 2
    campaign = await login_codes.send_campaign(["+100", "+101"], "Spring sale")
    parcel = await sms.send_sms.trigger({"to": "+102", "text": "Your parcel is on its way"})
    code = await login_codes.send_login_code("+103", "123456")
    await run_burst(["sms"], jobs_concurrency=1)
    finished = [i.decode() for i in await redis.zrange(keys.finished("sms", "completed"), 0, -1)]
    assert [i for i in finished if i in {h.id for h in [*campaign, parcel, code]}] == [
        code.id,
        parcel.id,
        *(h.id for h in campaign),
    ]
