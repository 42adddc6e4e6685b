"""A scripted winter Monday in Kent, compressed to about 75 seconds, for demonstrations.

The story, on the simulated clock from 06:00:

* All four areas start green. Acute sites William Harvey (East Kent) and Maidstone (West Kent)
  report hourly, both at OPEL 1.
* The Monday surge: East Kent's Short-term Pathway team takes on health cases faster than it
  closes them (amber by 08:00, red by 11:00), staff sickness takes its staffing to amber at
  09:00 and red at 11:00, and KEaH capacity falls to amber at 10:00 and red at 12:00.
* West Kent's D2A pathway one weekly availability drops to amber at 09:00 and red at 13:00.
* Both acute sites climb to OPEL 3 around midday, William Harvey first, then ease.
* 13:00: a KEaH referral in East Kent with no start date within 24 hours (plan 7.6).
* 14:00: the escalation group overrides county/kent to OPEL 3 until 20:00, with its reason.
* The evening eases: staffing back, caseloads falling, acute sites back to OPEL 2.

Everything here is pure: :func:`winter_day` returns the messages, :func:`play` paces them.
``observed_at`` and the other event times are simulated times, so levels and dwell follow the
plan's clock however fast the day is played; by default the day is placed so that it ends now
(:func:`ending_now`), so nothing is stamped in the future. Only ids from the shipped catalogues are used.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from streams import topics
from streams.codec import key_for

SECONDS_PER_HOUR: Final = 4.5
"""Real seconds per simulated hour by default: the 17-hour day plays in about 77 s."""
DAY_HOURS: Final = 17
"""The script runs from 06:00 to 23:00 on the simulated clock."""

Script = list[tuple[float, str, dict[str, Any]]]
Send = Callable[[str, bytes | None, bytes], Awaitable[None]]

AREAS: Final = ("dgs", "east_kent", "swale", "west_kent")
SITES: Final = ("william_harvey", "maidstone")

# (hour from 06:00, value) steps: the value holds until the next step.
Steps = tuple[tuple[float, float], ...]
STAFFING: Final[dict[str, Steps]] = {
    "dgs": ((0, 82), (7, 78), (13, 81)),
    "east_kent": ((0, 76), (3, 62), (5, 45), (10, 52), (13, 71)),
    "swale": ((0, 80),),
    "west_kent": ((0, 78), (6, 72)),
}
KEAH: Final[dict[str, Steps]] = {
    "dgs": ((0, 5),),
    "east_kent": ((0, 5), (4, 3), (6, 2), (12, 3), (15, 4)),
    "swale": ((0, 6), (8, 5)),
    "west_kent": ((0, 5),),
}
D2A_WEST_KENT: Final[Steps] = ((0, 38), (3, 30), (7, 12), (12, 18))
# Areas whose referral counts come as readings on the referrals topic (the others send events).
REFERRAL_READINGS: Final[dict[tuple[str, str], Steps]] = {
    ("swale", "health_caseload"): ((0, 34), (6, 42), (12, 38)),
    ("swale", "social_caseload"): ((0, 28),),
    ("west_kent", "referrals"): ((0, 6), (5, 8), (11, 7)),
    ("west_kent", "health_caseload"): ((0, 31), (6, 36)),
    ("west_kent", "social_caseload"): ((0, 33),),
}
# Acute pressure from 0 (calm) to 1 (worst) through the day, by hour.
PRESSURE: Final[dict[str, Steps]] = {
    "william_harvey": (
        (0, 0.10),
        (2, 0.35),
        (4, 0.60),
        (5, 0.74),
        (6, 0.80),
        (9, 0.80),
        (11, 0.55),
        (14, 0.30),
    ),
    "maidstone": ((0, 0.05), (3, 0.30), (6, 0.55), (7, 0.72), (10, 0.72), (12, 0.50), (15, 0.30)),
}
# Each acute parameter's value at pressure 0 and at pressure 1; in between is a straight line.
CALM_TO_WORST: Final[dict[str, tuple[float, float]]] = {
    "ambulance_handover_mean_min": (12, 75),
    "ed_4h_performance_pct": (88, 55),
    "ed_attendances_vs_expected_pct": (-5, 25),
    "majors_resus_occupancy_pct": (70, 125),
    "time_to_treatment_median_min": (45, 130),
    "ed_over_12h_pct": (1, 12),
    "ga_bed_occupancy_pct": (90, 99),
    "escalation_beds_pct": (1, 7),
    "nctr_beds_pct": (9, 16),
}
SNAPSHOTS: Final[dict[str, tuple[int, int, int]]] = {
    # area: (pending, health caseload, social caseload) at 06:00, as Mosaic reports them
    "dgs": (5, 26, 31),
    "east_kent": (4, 34, 36),
}


def at_hour(steps: Steps, hour: float) -> float:
    """The value a step schedule holds at ``hour``."""
    value = steps[0][1]
    for start, step_value in steps:
        if start <= hour:
            value = step_value
    return value


def acute_parameters(pressure: float) -> dict[str, float]:
    return {name: round(calm + (worst - calm) * pressure, 1) for name, (calm, worst) in CALM_TO_WORST.items()}


class _Story:
    """Collects the script's messages with both clocks worked out in one place."""

    def __init__(self, start: datetime, seconds_per_hour: float) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if not seconds_per_hour > 0:
            raise ValueError(f"seconds_per_hour must be above 0, got {seconds_per_hour}")
        self.start = start
        self.seconds_per_hour = seconds_per_hour
        self.items: Script = []
        self.day = start.strftime("%Y%m%d")
        self._events = 0

    def time(self, hour: float) -> str:
        return (self.start + timedelta(hours=hour)).isoformat()

    def add(self, hour: float, topic: str, value: dict[str, Any]) -> None:
        self.items.append((round(hour * self.seconds_per_hour, 6), topic, value))

    def reading(self, hour: float, indicator: str, area: str, value: float) -> None:
        topic = (
            topics.REFERRALS
            if indicator in ("referrals", "health_caseload", "social_caseload")
            else topics.CAPACITY
        )
        number: float | int = int(value) if float(value).is_integer() else value
        self.add(
            hour,
            topic,
            {"indicator": indicator, "area": area, "value": number, "observed_at": self.time(hour)},
        )

    def event(self, hour: float, area: str, kind: str, **fields: Any) -> None:
        self._events += 1
        value = {
            "event_id": f"demo-{self.day}-{self._events:04d}",
            "area": area,
            "kind": kind,
            "occurred_at": self.time(hour),
            **fields,
        }
        self.add(hour, topics.REFERRAL_EVENTS, value)


def ending_now(now: datetime) -> datetime:
    """The start (06:00 of the story) that makes the scripted day end at ``now``: however fast it
    is played, no message is stamped in the future, and a reading sent afterwards with the real
    time is newer than all of it."""
    # The acute returns of the last hour are stamped a quarter past it.
    return (now - timedelta(hours=DAY_HOURS, minutes=15)).replace(second=0, microsecond=0)


def winter_day(start: datetime, *, seconds_per_hour: float = SECONDS_PER_HOUR) -> Script:
    """The day's messages as (seconds after the start, topic, value), in sending order.

    ``start`` is 06:00 of the simulated day (any aware time works); a message ``h`` hours
    into the day is sent ``h * seconds_per_hour`` seconds after the start and says it was
    observed at ``start + h hours``.
    """
    story = _Story(start, seconds_per_hour)
    _snapshots(story)
    for hour in range(DAY_HOURS + 1):
        _hourly_feeds(story, hour)
    _referral_flow(story)
    _keah_referrals(story)
    _override(story)
    story.items.sort(key=lambda item: item[0])  # stable: same-time messages keep their story order
    return story.items


def _snapshots(story: _Story) -> None:
    for area, (pending, health, social) in SNAPSHOTS.items():
        story.event(0, area, "snapshot", pending=pending, health_caseload=health, social_caseload=social)
    # Reported for county-wide awareness; the plan sets them no triggers.
    story.reading(0, "assessment_bed_availability", "dgs", 6)
    story.reading(0, "dementia_bed_availability", "dgs", 2)
    story.reading(0, "referrals", "swale", 4)  # Swale has no referral triggers: not assessed


def _hourly_feeds(story: _Story, hour: int) -> None:
    for area in AREAS:
        story.reading(hour, "stp_staffing_pct", area, at_hour(STAFFING[area], hour))
        story.reading(hour, "keah_capacity", area, at_hour(KEAH[area], hour))
    story.reading(hour, "d2a_p1_weekly_availability", "west_kent", at_hour(D2A_WEST_KENT, hour))
    for (area, indicator), steps in REFERRAL_READINGS.items():
        story.reading(hour, indicator, area, at_hour(steps, hour))
    for site in SITES:
        pressure = at_hour(PRESSURE[site], hour)
        story.add(
            hour + 0.25,  # returns land a quarter past the hour
            topics.ACUTE,
            {"site": site, "observed_at": story.time(hour + 0.25), "parameters": acute_parameters(pressure)},
        )


def _referral_flow(story: _Story) -> None:
    # East Kent's Monday: new referrals every half hour and health cases accepted faster than
    # they close, until the afternoon when closures overtake.
    for slot in range(1, 13):
        hour = slot / 2
        if slot >= 2:
            story.event(hour, "east_kent", "accepted", count=3, caseload="health")
        received = 3 if slot % 3 else 2
        story.event(hour + 0.1, "east_kent", "received", count=received, ref=f"STP-EK-{story.day}-{slot:02d}")
    story.event(3.2, "east_kent", "accepted", count=2, caseload="social")
    for hour in range(7, DAY_HOURS):
        story.event(hour + 0.3, "east_kent", "closed", count=3, caseload="health")
        if hour < 13:
            story.event(hour + 0.5, "east_kent", "received", count=1)
            story.event(hour + 0.6, "east_kent", "accepted", count=1, caseload="health")
    story.event(15.5, "east_kent", "closed", count=3, caseload="social")
    # DGS keeps pace: what comes in is assessed and what is done is closed.
    for hour in range(1, DAY_HOURS, 2):
        story.event(hour + 0.2, "dgs", "received", count=2)
        story.event(hour + 0.7, "dgs", "accepted", count=1, caseload="health")
        story.event(hour + 0.7, "dgs", "accepted", count=1, caseload="social")
        story.event(hour + 0.9, "dgs", "closed", count=2, caseload="health")
        story.event(hour + 0.9, "dgs", "closed", count=1, caseload="social")
    story.event(16.5, "dgs", "closed", count=1)  # a referral withdrawn before assessment


def _keah_referrals(story: _Story) -> None:
    story.event(
        2.4, "east_kent", "received", service="keah", ref=f"KEAH-{story.day}-0017", start_date_within_24h=True
    )
    story.event(
        7.0,
        "east_kent",
        "received",
        service="keah",
        ref=f"KEAH-{story.day}-0042",
        start_date_within_24h=False,
    )


def _override(story: _Story) -> None:
    story.add(
        8.0,
        topics.COMMANDS,
        {
            "type": "override",
            "id": f"demo-{story.day}-county-ovr",
            "scope": "county/kent",
            "level": 3,
            "author": "asch-escalation-group",
            "reason": (
                "East Kent at OPEL 3 with KEaH capacity red, West Kent D2A red and both acute sites "
                "at OPEL 3: county OPEL 3 actions until the 20:00 review"
            ),
            "at": story.time(8.0),
            "expires_at": story.time(14.0),
        },
    )


def encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


async def play(
    script: Sequence[tuple[float, str, dict[str, Any]]],
    producer_send: Send,
    *,
    speed: float = 1.0,
    on_item: Callable[[float], None] | None = None,
) -> int:
    """Send the script through ``producer_send(topic, key, value)``, each item at its offset / speed.

    Offsets are kept against one start time rather than slept one after another, so slow
    sends do not add up into a late day. Returns how many messages were sent.
    """
    if not speed > 0:
        raise ValueError(f"speed must be above 0, got {speed}")
    loop = asyncio.get_running_loop()
    began = loop.time()
    for offset, topic, value in script:
        delay = began + offset / speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if on_item is not None:
            on_item(offset)
        await producer_send(topic, key_for(topic, value), encode(value))
    return len(script)
