"""The actions, all POSTs: retry, remove, cancel, pause, resume, retry every failure, trigger.

Each checks, before anything else, that the request may act (403 in read-only mode) and is not
cross-site (403: the CSRF token and the request's origin), then does what `jobs.admin` does for
the CLI and redirects to the page that shows the result (303, so a reload does not repeat it).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .. import registry
from ..errors import PayloadNotJSONError, PayloadTooLargeError, UnknownJobError
from ..ops import admin
from ..ops import schedules as schedule_ops
from ..records import JobStatus
from ..text import parse_duration
from . import trigger_form
from .access import CSRF_FIELD, CSRF_HEADER, cross_site_reason
from .render import Renderer


class Refused(Exception):
    def __init__(self, title: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.title, self.message, self.status = title, message, status


class Actions:
    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    async def retry(self, request: Request) -> Response:
        return await self._act(request, self._retry)

    async def remove(self, request: Request) -> Response:
        return await self._act(request, self._remove)

    async def cancel(self, request: Request) -> Response:
        return await self._act(request, self._cancel)

    async def pause(self, request: Request) -> Response:
        return await self._act(request, self._pause)

    async def resume(self, request: Request) -> Response:
        return await self._act(request, self._resume)

    async def retry_failed(self, request: Request) -> Response:
        return await self._act(request, self._retry_failed)

    async def run_schedule_now(self, request: Request) -> Response:
        return await self._act(request, self._run_schedule_now)

    async def trigger(self, request: Request) -> Response:
        name = request.path_params["job_name"]
        try:
            job = registry.get(name)
        except UnknownJobError as exc:
            return self._refused(request, Refused("No such job", str(exc), 404))
        form = trigger_form.build(job)
        if request.method != "POST":
            return self._form(request, job, form)
        return await self._act(request, lambda request, data: self._trigger(request, data, job, form))

    async def _act(self, request: Request, action: Any) -> Response:
        """Refuse what may not act or may be cross-site; else run `action(request, form)`."""
        try:
            if not request.state.may_act:
                raise Refused("Read-only", "This dashboard is read-only: it cannot act on jobs or queues.")
            form = await request.form()
            submitted = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
            reason = cross_site_reason(request, submitted if isinstance(submitted, str) else "")
            if reason is not None:
                raise Refused("Request refused", f"Refused as a possible cross-site request: {reason}.")
            response: Response = await action(request, form)
            return response
        except Refused as refused:
            return self._refused(request, refused)
        except admin.JobNotFoundError as exc:
            return self._refused(request, Refused("No such job", str(exc), 404))
        except admin.JobStateError as exc:
            return self._refused(request, Refused("Not possible now", str(exc), 409))

    async def _retry(self, request: Request, form: FormData) -> Response:
        handle = await admin.retry_failed(request.path_params["job_id"])
        return self._redirect(self.renderer.links(request).job(handle.id), done="retried")

    async def _remove(self, request: Request, form: FormData) -> Response:
        info = await admin.remove(request.path_params["job_id"])
        links = self.renderer.links(request)
        target = links.queue(info.queue, state=info.status.value) if info.queue else links.home()
        return self._redirect(target, done="removed")

    async def _cancel(self, request: Request, form: FormData) -> Response:
        result = await admin.cancel(request.path_params["job_id"])
        if result.outcome == "not_found":
            raise Refused("No such job", result.message, 404)
        done = result.outcome if result.changed else "not-cancelled"
        return self._redirect(self.renderer.links(request).job(result.id), done=done)

    async def _pause(self, request: Request, form: FormData) -> Response:
        queue = await self._queue(request)
        changed = await admin.pause(queue)
        return self._redirect(self._back(request, form, queue), done="paused" if changed else "already-paused")

    async def _resume(self, request: Request, form: FormData) -> Response:
        queue = await self._queue(request)
        changed = await admin.resume(queue)
        return self._redirect(self._back(request, form, queue), done="resumed" if changed else "not-paused")

    async def _retry_failed(self, request: Request, form: FormData) -> Response:
        queue = await self._queue(request)
        result = await admin.retry_all_failed(queue)
        target = self.renderer.links(request).queue(queue, state=JobStatus.FAILED.value)
        return self._redirect(target, done="retried-all", n=len(result.retried), skipped=len(result.skipped))

    async def _trigger(self, request: Request, data: FormData, job: Any, form: trigger_form.TriggerForm) -> Response:
        values = {k: v for k, v in data.items() if isinstance(v, str)}
        try:
            payload = trigger_form.read(form, values)
        except trigger_form.FormError:
            return self._form(request, job, form, 422)
        try:
            delay = parse_duration(form.delay) if form.delay else None
        except ValueError as exc:
            form.errors.append(f"delay: {exc}")
            return self._form(request, job, form, 422)
        try:
            handle = await job.trigger(payload, delay=delay, job_id=form.job_id or None)
        except ValidationError as exc:
            trigger_form.show_errors(form, exc)
            return self._form(request, job, form, 422)
        except (PayloadTooLargeError, PayloadNotJSONError) as exc:
            form.errors.append(str(exc))
            return self._form(request, job, form, 422)
        return self._redirect(
            self.renderer.links(request).job(handle.id), done="triggered" if handle.enqueued else "taken"
        )

    async def _run_schedule_now(self, request: Request, form: FormData) -> Response:
        schedule_id = request.path_params["schedule_id"]
        try:
            handle = await schedule_ops.run_schedule_now(schedule_id)
        except admin.JobNotFoundError as exc:
            raise Refused("No such schedule", str(exc), 404) from None
        return self._redirect(self.renderer.links(request).job(handle.id), done="ran-now")

    async def _queue(self, request: Request) -> str:
        queue: str = request.path_params["queue"]
        if not await admin.queue_exists(queue):
            raise Refused("No such queue", f"No job uses the queue {queue!r}, and Redis holds nothing for it.", 404)
        return queue

    def _back(self, request: Request, form: FormData, queue: str) -> str:
        """Where the form came from (`next`, a path of this dashboard), else the queue's page."""
        links = self.renderer.links(request)
        target = form.get("next")
        inside = isinstance(target, str) and target.startswith(links.base + "/") and not target.startswith("//")
        return target if inside and isinstance(target, str) and "\\" not in target else links.queue(queue)

    def _redirect(self, target: str, **params: Any) -> Response:
        separator = "&" if "?" in target else "?"
        return RedirectResponse(target + separator + urlencode(params), status_code=303)

    def _form(self, request: Request, job: Any, form: trigger_form.TriggerForm, status: int = 200) -> Response:
        return self.renderer.page(request, "trigger.html", status, job=job, form=form, title=f"Trigger {job.name}")

    def _refused(self, request: Request, refused: Refused) -> Response:
        return self.renderer.page(request, "error.html", refused.status, title=refused.title, message=refused.message)
