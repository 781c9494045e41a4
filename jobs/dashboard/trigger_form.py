"""The trigger form: inputs built from a job's payload JSON schema, read back into a payload.

A flat object schema (string, number, integer, boolean and enum properties) becomes one input per
property, with required marks and defaults; a property that is anything else (nested object,
list, union) gets a small JSON box of its own, and a payload that is not an object one JSON box
for all of it. Validation is the job's own (`job.trigger`): pydantic's errors are put next to the
fields they name. Values are passed as typed as the schema says, so a strict model sees an int.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..definition import Job

WHOLE = "__payload__"  # the field name of the one JSON box, when the payload is not a flat object
_SIMPLE = {"string", "integer", "number", "boolean"}


class FormError(ValueError):
    """Input that is not even a payload (a JSON box that does not parse): shown, nothing enqueued."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class Field:
    name: str
    kind: str  # text, integer, number, checkbox, select, json
    required: bool
    label: str
    description: str = ""
    value: str = ""  # as shown in the input
    checked: bool = False
    options: list[tuple[str, Any]] = field(default_factory=list)  # (shown, value) of an enum
    nullable: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass
class TriggerForm:
    fields: list[Field]
    whole: bool  # one JSON box for the whole payload
    errors: list[str] = field(default_factory=list)  # not tied to one field
    delay: str = ""
    job_id: str = ""

    @property
    def has_errors(self) -> bool:
        return bool(self.errors or any(f.errors for f in self.fields))


def build(job: Job[Any]) -> TriggerForm:
    """The empty form for `job`, defaults filled in."""
    try:
        schema = job.adapter.json_schema()
    except Exception:  # noqa: BLE001 - a payload type pydantic validates but cannot describe
        schema = {}
    defs = schema.get("$defs", {})
    properties = schema.get("properties") if schema.get("type") == "object" else None
    if not isinstance(properties, dict) or not properties:
        example = "{}" if schema.get("type") == "object" else ""
        return TriggerForm([Field(WHOLE, "json", True, "payload (JSON)", value=example)], whole=True)
    required = set(schema.get("required", []))
    return TriggerForm(
        [_field(name, _resolve(p, defs), name in required, defs) for name, p in properties.items()], False
    )


def read(form: TriggerForm, data: Mapping[str, str]) -> Any:
    """The payload the submitted `data` describes (values typed by the schema); `form` keeps what
    was typed, to show it again. Raises `FormError` for JSON boxes that do not parse."""
    form.delay, form.job_id = data.get("_delay", "").strip(), data.get("_job_id", "").strip()
    errors: dict[str, list[str]] = {}
    payload: dict[str, Any] = {}
    for f in form.fields:
        raw = data.get(f.name, "")
        f.value = raw
        f.checked = f.name in data
        if f.kind == "checkbox":
            payload[f.name] = f.name in data
            continue
        if raw.strip() == "":
            if f.required and (f.nullable or f.kind == "text"):
                payload[f.name] = None if f.nullable else raw
            continue  # left out: its default applies, or pydantic says it is required
        try:
            payload[f.name] = _typed(f, raw)
        except ValueError as exc:
            errors[f.name] = [str(exc)]
    if errors:
        for f in form.fields:
            f.errors = errors.get(f.name, [])
        raise FormError(errors)
    if form.whole:
        return payload.get(WHOLE)
    return payload


def show_errors(form: TriggerForm, exc: ValidationError) -> None:
    """Put each of pydantic's errors next to the field it names (the rest above the form)."""
    names = {f.name: f for f in form.fields}
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        target = names.get(WHOLE) if form.whole else names.get(loc[0]) if loc else None
        rest = loc if form.whole else loc[1:]
        message = error["msg"] + (f" (at {'.'.join(rest)})" if rest else "")
        if target is None:
            where = ".".join(loc) or "payload"
            form.errors.append(f"{where}: {message}")
        else:
            target.errors.append(message)


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A property's schema with a local `$ref` (an enum, a nested model) looked up."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        merged = {**defs.get(ref.removeprefix("#/$defs/"), {}), **{k: v for k, v in schema.items() if k != "$ref"}}
        return merged
    return schema


def _field(name: str, schema: dict[str, Any], required: bool, defs: dict[str, Any]) -> Field:
    label = str(schema.get("title") or name)
    description = str(schema.get("description") or "")
    nullable = False
    options = schema.get("anyOf")
    if isinstance(options, list):  # `X | None`: an input for X, empty meaning null
        others = [_resolve(o, defs) for o in options if o.get("type") != "null"]
        if len(others) == 1 and len(others) < len(options):
            schema = {**others[0], **{k: v for k, v in schema.items() if k != "anyOf"}}
            nullable = True
    f = Field(name, "json", required, label, description, nullable=nullable)
    default = schema.get("default")
    if isinstance(schema.get("enum"), list):
        f.kind = "select"
        f.options = [(str(v), v) for v in schema["enum"]]
        f.value = "" if default is None else str(default)
    elif schema.get("type") in _SIMPLE and "const" not in schema:
        f.kind = {"string": "text", "integer": "integer", "number": "number", "boolean": "checkbox"}[schema["type"]]
        f.checked = default is True
        f.value = "" if default is None or f.kind == "checkbox" else str(default)
    else:
        f.value = "" if "default" not in schema else json.dumps(default)
    return f


def _typed(f: Field, raw: str) -> Any:
    if f.kind == "integer":
        try:
            return int(raw.strip())
        except ValueError:
            return raw  # pydantic says what is wrong with it
    if f.kind == "number":
        try:
            return float(raw.strip())
        except ValueError:
            return raw
    if f.kind == "select":
        return next((value for shown, value in f.options if shown == raw), raw)
    if f.kind == "json":
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
    return raw
