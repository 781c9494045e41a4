"""Turn an exception into the bounded, JSON-safe description kept in records and logs."""

from __future__ import annotations

import traceback

from .records import ErrorInfo

MAX_MESSAGE = 2_000
MAX_TRACEBACK = 16_000


def describe(exc: BaseException) -> ErrorInfo:
    """Type, message and traceback of `exc`, truncated; never raises, whatever `exc` does."""
    return ErrorInfo(
        type=_type_name(exc),
        message=_truncate(_safe(lambda: str(exc)), MAX_MESSAGE),
        traceback=_truncate(_safe(lambda: "".join(traceback.format_exception(exc))), MAX_TRACEBACK, keep_end=True),
    )


def reason(kind: str, message: str) -> ErrorInfo:
    """An error the worker itself decided (unknown job, undecodable data): no traceback to show."""
    return ErrorInfo(type=kind, message=_truncate(message, MAX_MESSAGE), traceback="")


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ in ("builtins", "__main__") else f"{cls.__module__}.{cls.__qualname__}"


def _safe(render: object) -> str:
    try:
        return str(render())  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - a broken __str__ must not break the worker
        return f"<unprintable: {type(exc).__name__}>"


def _truncate(text: str, limit: int, *, keep_end: bool = False) -> str:
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    marker = f"... [{cut} characters truncated] ..."
    return marker + text[-limit:] if keep_end else text[:limit] + marker
