"""One live exercise: the core's escalations published at scenario time, a second alerting
service acting on them, and the after-action report when it ends.

The levels come from the pure core (:func:`opel.exercise.play.play` with ``exercise=True``), which
the oracle tests prove equal to what the Kafka stages compute: the exercise never writes to the
live input topics and never touches the live stages, tables, statuses or metrics. What is live:
publication on Kafka (the ``opel.exercise.*`` topics), alert routing and delivery (only
``exercise: true`` routes match), action items, acknowledgements and marks by real people
through the API, reminders and timing, all in scenario time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from opel.actions import ActionPlan
from opel.alerting.routing import RoutingConfig
from opel.contracts.exercise_report import ExerciseReport
from opel.contracts.exercise_state import ExerciseState
from opel.exercise.play import Played, until
from opel.exercise.report import build_report
from opel.exercise.responses import live_responses
from opel.exercise.scenario import Scenario
from streams import kafka_security, topics
from streams.alerting.service import AlertingService, AlertingTopics
from streams.exercise.clock import ScenarioClock, utc_now
from streams.kafka_security import PLAINTEXT, KafkaSecurity

log = logging.getLogger(__name__)

EXERCISE_TOPICS = AlertingTopics(
    escalations=topics.EXERCISE_ESCALATIONS,
    commands=topics.EXERCISE_COMMANDS,
    referral_events=topics.EXERCISE_REFERRAL_EVENTS,
    status=topics.EXERCISE_STATUS,
    alerts=topics.EXERCISE_ALERTS,
    audit=topics.EXERCISE_AUDIT,
    action_items=topics.EXERCISE_ACTION_ITEMS,
    warnings=topics.EXERCISE_WARNINGS,
    notifications=topics.EXERCISE_NOTIFICATIONS,
)
"""Everything the exercise alerting reads and writes: none of it is a live topic."""

Ended = Literal["finished", "stopped"]


class ExerciseRunner:
    """Plays one scenario; :meth:`start`, then it finishes by itself or on :meth:`stop`."""

    def __init__(
        self,
        scenario: Scenario,
        played: Played,
        plan: ActionPlan,
        *,
        speed: float,
        bootstrap: str,
        routing: RoutingConfig,
        group_id: str,
        security: KafkaSecurity = PLAINTEXT,
        topic_names: AlertingTopics = EXERCISE_TOPICS,
        wall: Callable[[], datetime] = utc_now,
        settle_seconds: float = 2.0,
        tick_seconds: float = 0.5,
        on_end: Callable[[], None] = lambda: None,
    ) -> None:
        self.scenario = scenario
        self.played = played
        self.plan = plan
        self.run_id = uuid.uuid4()
        self.clock = ScenarioClock(scenario.start, speed, wall=wall)
        self.topic_names = topic_names
        self.status: Literal["running", "finished", "stopped"] = "running"
        self.report: ExerciseReport | None = None
        self.published = 0
        self._settle = settle_seconds
        self._on_end = on_end
        self._bootstrap = bootstrap
        self._security = security
        self.alerting = AlertingService(
            bootstrap=bootstrap,
            security=security,
            routing=routing,
            exercise_only=True,
            clock=self.clock,
            group_id=group_id,
            # Per run: a scenario played again must alert and open its items again.
            log_namespace=f"{group_id}/{self.run_id}",
            topic_names=topic_names,
            action_plan=plan,
            tick_seconds=tick_seconds,
        )
        self._producer = kafka_security.producer(bootstrap, security=security, acks="all", linger_ms=2)
        self._task: asyncio.Task[None] | None = None
        self._ending = asyncio.Lock()

    @property
    def end(self) -> datetime:
        return self.scenario.start + self.scenario.duration

    async def start(self) -> None:
        await self._producer.start()
        try:
            await self.alerting.start()
        except BaseException:
            await self._producer.stop()
            raise
        # The scenario starts once its alerting listens: joining a group can take seconds, which
        # at speed would be scenario hours with nobody to act on the first escalations.
        self.clock.restart()
        self._task = asyncio.create_task(self._play(), name=f"exercise-{self.scenario.name}")
        log.warning(
            "EXERCISE %s started at %gx: scenario %s to %s",
            self.scenario.name,
            self.clock.speed,
            self.scenario.start.isoformat(),
            self.end.isoformat(),
        )

    async def _play(self) -> None:
        for event in self.played.escalations:
            await asyncio.sleep(self.clock.seconds_until(event.time))
            # Ids of this run only: the same scenario played again is new traffic, not a replay.
            fresh = event.model_copy(update={"id": str(uuid.uuid5(self.run_id, event.id))})
            await self._producer.send_and_wait(
                self.topic_names.escalations, key=event.subject.encode(), value=fresh.to_json()
            )
            self.published += 1
        await asyncio.sleep(self.clock.seconds_until(self.end))
        await self._finish("finished")

    async def stop(self) -> None:
        """End it now (``stopped``); a finished exercise stays finished."""
        await self._finish("stopped")

    async def _finish(self, how: Ended) -> None:
        async with self._ending:
            if self.report is not None:
                return
            ended = self.clock.stop(min(self.clock(), self.end))
            if self._task is not None and self._task is not asyncio.current_task():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            # Marks sent just before the end are still on their way to the exercise alerting.
            await asyncio.sleep(self._settle)
            items = self.alerting.state.items.values()
            responses = live_responses(self.scenario, items, self.alerting.acks)
            scenario, played = until(self.scenario, self.played, ended)
            self.report = build_report(scenario, played, self.plan, responses)
            self.status = how
            self._on_end()
            await self.alerting.stop()
            await self._producer.stop()
            counts = ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in self.report.counts.items())
            log.warning("EXERCISE %s %s: %s", self.scenario.name, how, counts)

    def state(self) -> ExerciseState:
        return ExerciseState(
            status=self.status,
            name=self.scenario.name,
            speed=self.clock.speed,
            wall_start=self.clock.wall_start,
            scenario_start=self.scenario.start,
            scenario_end=self.end,
            scenario_now=min(self.clock(), self.end),
            injects_played=self.published,
            injects_total=len(self.played.escalations),
            report=self.report,
        )
