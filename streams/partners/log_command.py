"""``opel partners log NAME``: one partner's delivery log, as the operators read it.

Read from the compacted ``opel.partner-deliveries.v1``: each event's latest attempt, and the
earlier attempts the log cleaner has not removed yet, oldest first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable
from typing import TextIO

from pydantic import ValidationError

from opel.contracts.partner_delivery import PartnerDelivery
from streams import topics
from streams.compacted import read_topic_to_end
from streams.kafka_security import PLAINTEXT, KafkaSecurity

HEADER = ("time", "event id", "scope", "attempt", "outcome", "http", "error")


async def delivery_log(
    bootstrap: str, partner: str, security: KafkaSecurity = PLAINTEXT
) -> tuple[list[PartnerDelivery], int]:
    """``partner``'s log entries in the order written, and how many records could not be read."""
    entries: list[PartnerDelivery] = []
    unreadable = 0
    async for record in read_topic_to_end(bootstrap, topics.PARTNER_DELIVERIES, security=security):
        if record.value is None:
            continue
        try:
            entry = PartnerDelivery.model_validate_json(record.value)
        except ValidationError:
            unreadable += 1
            continue
        if entry.partner == partner:
            entries.append(entry)
    entries.sort(key=lambda e: e.at)
    return entries, unreadable


def render(entries: Iterable[PartnerDelivery], out: TextIO) -> None:
    rows = [HEADER] + [
        (
            e.at.isoformat(),
            e.event_id,
            e.subject or "-",
            str(e.attempt),
            e.outcome,
            str(e.status_code) if e.status_code is not None else "-",
            e.error or "",
        )
        for e in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
    for row in rows:
        padded = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write("  ".join([*padded, row[-1]]).rstrip() + "\n")


def run(args: argparse.Namespace, bootstrap: str, security: KafkaSecurity) -> int:
    entries, unreadable = asyncio.run(delivery_log(bootstrap, args.partner, security))
    if unreadable:
        print(
            f"opel partners log: {unreadable} records of {topics.PARTNER_DELIVERIES} could not be read",
            file=sys.stderr,
        )
    if not entries:
        print(f"opel partners log: no deliveries recorded for {args.partner!r}", file=sys.stderr)
        return 1
    render(entries, sys.stdout)
    return 0
