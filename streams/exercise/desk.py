"""The worker's exercise desk: at most one live exercise at a time, started, watched and stopped
through the API (``streams/web/exercise.py``), and the last one's state kept until the next.

A scenario is checked in full before anything starts (its YAML, its keys, its expected actions
against the plan, every inject through the core): a bad one is a :class:`ScenarioError` naming
the key, and nothing is published.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from opel.actions import ActionPlan
from opel.alerting.records import AlertRecord
from opel.alerting.routing import RoutingConfig, load_routing
from opel.contracts.action_item import ActionItem
from opel.contracts.exercise_state import ExerciseState
from opel.exercise.play import Played
from opel.exercise.scenario import Scenario, ScenarioError, check_against_plan, parse_scenario
from opel.yaml_files import parse_yaml_mapping
from streams import kafka_security, metrics
from streams.alerting.service import AlertingTopics
from streams.exercise.clock import utc_now
from streams.exercise.runner import EXERCISE_TOPICS, ExerciseRunner
from streams.kafka_security import PLAINTEXT, KafkaSecurity

SOURCE = "scenario"
"""How errors name the scenario sent in a request body (there is no file)."""


class ExerciseRunningError(RuntimeError):
    """An exercise is already running: one at a time."""


class NoExerciseError(RuntimeError):
    """Nothing is running to stop or act on."""


class ExerciseDesk:
    def __init__(
        self,
        *,
        bootstrap: str,
        routing_file: Path,
        app_id: str,
        security: KafkaSecurity = PLAINTEXT,
        topic_names: AlertingTopics = EXERCISE_TOPICS,
        routing_loader: Callable[[str | Path], RoutingConfig] = load_routing,
        wall: Callable[[], datetime] = utc_now,
        settle_seconds: float = 2.0,
    ) -> None:
        self._bootstrap = bootstrap
        self._routing_file = routing_file
        self._load_routing = routing_loader
        self._security = security
        self._topics = topic_names
        self._wall = wall
        self._settle = settle_seconds
        self.group_id = f"{app_id}-exercise-alerting"
        self.runner: ExerciseRunner | None = None
        self._starting = asyncio.Lock()
        self._producer = kafka_security.producer(bootstrap, security=security, acks="all")
        self._producer_started = False

    # ------------------------------------------------------------------ lifecycle
    async def close(self) -> None:
        if self.runner is not None and self.runner.status == "running":
            await self.runner.stop()
        if self._producer_started:
            self._producer_started = False
            await self._producer.stop()
        metrics.set_exercise_running(False)

    async def start(self, scenario_text: str, speed: float) -> ExerciseState:
        async with self._starting:
            if self.running is not None:
                raise ExerciseRunningError(f"exercise {self.running.scenario.name!r} is running")
            # Reading catalogues and replaying the injects is blocking work; clients need the loop.
            prepared = await asyncio.to_thread(self._prepare, scenario_text)
            runner = ExerciseRunner(
                *prepared,
                speed=speed,
                bootstrap=self._bootstrap,
                routing=self._load_routing(self._routing_file),
                group_id=self.group_id,
                security=self._security,
                topic_names=self._topics,
                wall=self._wall,
                settle_seconds=self._settle,
                on_end=lambda: metrics.set_exercise_running(False),
            )
            await runner.start()
            self.runner = runner
            metrics.set_exercise_running(True)
            return runner.state()

    def _prepare(self, scenario_text: str) -> tuple[Scenario, Played, ActionPlan]:
        # Imported here: the core's replay and catalogues load only when an exercise starts.
        from opel.backtest.run import build_context  # noqa: PLC0415
        from opel.exercise.play import play  # noqa: PLC0415  (the core's replay)

        scenario = parse_scenario(parse_yaml_mapping(scenario_text, SOURCE, error=ScenarioError), SOURCE)
        ctx = build_context(scenario.catalogue, acute=scenario.acute)
        check_against_plan(scenario, ctx.actions, SOURCE)
        if ctx.actions is None:
            raise ScenarioError(SOURCE, "catalogue", f"{scenario.catalogue} has no action plan")
        return scenario, play(scenario, dataclasses.replace(ctx, exercise=True)), ctx.actions

    async def stop(self) -> ExerciseState:
        runner = self.running
        if runner is None:
            raise NoExerciseError("no exercise is running")
        await runner.stop()
        return runner.state()

    # ------------------------------------------------------------------ reading
    @property
    def running(self) -> ExerciseRunner | None:
        runner = self.runner
        return runner if runner is not None and runner.status == "running" else None

    def state(self) -> ExerciseState:
        return ExerciseState(status="none") if self.runner is None else self.runner.state()

    def now(self) -> datetime:
        """Scenario time of the running exercise: what a mark or an ack is stamped with."""
        runner = self.running
        if runner is None:
            raise NoExerciseError("no exercise is running")
        return runner.clock()

    def items(self) -> list[ActionItem]:
        if self.runner is None:
            return []
        return sorted(self.runner.alerting.state.items.values(), key=lambda i: (i.opened_at, i.scope, i.id))

    def item(self, item_id: str) -> ActionItem | None:
        return None if self.runner is None else self.runner.alerting.state.items.get(item_id)

    def alert(self, alert_id: str) -> AlertRecord | None:
        if self.runner is None:
            return None
        return next((a for a in self.runner.alerting.state.alerts.values() if a.alert_id == alert_id), None)

    # ------------------------------------------------------------------ commands
    async def send(self, command: dict[str, object], key: str) -> None:
        """Put an ack or a mark on the exercise commands topic, for the exercise alerting alone."""
        if not self._producer_started:
            await self._producer.start()
            self._producer_started = True
        await self._producer.send_and_wait(
            self._topics.commands, key=key.encode(), value=json.dumps(command, separators=(",", ":")).encode()
        )
