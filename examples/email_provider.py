"""A stand-in for an email provider's API client, so that the examples run anywhere."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class Sent:
    to: str
    template: str
    name: str


outbox: list[Sent] = []


async def send(to: str, *, template: str, name: str) -> None:
    await asyncio.sleep(0.05)  # the provider's API call
    outbox.append(Sent(to, template, name))
