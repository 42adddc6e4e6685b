"""Pure state transitions for alerting: escalations and acks in, records and messages out.

The shell owns the records (read back from the compacted topic on start), calls these
functions with ``now``, persists what they return, and sends the messages. Every change
carries the reason from the stage that decided it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from opel.actions import ActionPlan
from opel.alerting import stages
from opel.alerting.message import Item, Rendered, Vocabulary, render
from opel.alerting.plan_routes import with_plan_actions
from opel.alerting.records import (
    AlertRecord,
    Delivery,
    GroupRecord,
    NoticeKind,
    alert_id,
    delivery_id,
    notice_id,
)
from opel.alerting.routing import Match, Route, RoutingConfig
from opel.contracts.escalation import EscalationData, EscalationEvent

ACK_PREFIX = 8
"""Shortest alert id prefix an acknowledgement may use (the SMS shows this many characters)."""


@dataclass(frozen=True, slots=True)
class Change:
    record: AlertRecord
    reason: str


def alert_key(route: str, role: str, scope: str) -> str:
    return f"{route}|{role}|{scope}"


def group_key(route: Route, role: str, data: EscalationData) -> str:
    if route.group_by == "area" and data.area is not None:
        return f"{route.name}|{role}|area/{data.area}"
    return f"{route.name}|{role}|{data.scope}"


def matches(match: Match, data: EscalationData) -> bool:
    """Everything except the level: the route's interest in this scope at all."""
    checks = (
        (match.kinds, data.kind),
        (match.areas, data.area),
        (match.indicators, data.indicator),
        (match.sites, data.site),
    )
    if any(allowed is not None and value not in allowed for allowed, value in checks):
        return False
    return match.exercise == data.exercise


def _open(  # noqa: PLR0917  (internal helper; every argument is needed)
    route: Route,
    role: str,
    event: EscalationEvent,
    config: RoutingConfig,
    now: datetime,
    existing: AlertRecord | None,
    groups: Mapping[str, GroupRecord],
    escalated_by: str | None = None,
) -> Change:
    data = event.data
    told = existing.notified_level if existing is not None and existing.status == "firing" else None
    gkey = group_key(route, role, data)
    last = groups.get(gkey)
    raises = told is None or data.to_level > told
    due = stages.group_due(
        now, config.timing(route), last.last_sent_at if last else None, raises_level=raises
    )
    reason = due.reason
    if existing is not None and existing.pending == "notify" and existing.status == "firing":
        reason = f"{stages.inhibit(existing.level, False, data.to_level, data.scope).reason}; {reason}"
    record = AlertRecord(
        key=alert_key(route.name, role, data.scope),
        route=route.name,
        role=role,
        scope=data.scope,
        group=gkey,
        area=data.area,
        alert_id=alert_id(event.id, route.name, role),
        event_id=event.id,
        status="firing",
        level=data.to_level,
        threshold=route.match.level_at_least,
        notified_level=told,
        exercise=data.exercise,
        data=data,
        changed_at=now,
        pending="notify",
        due_at=due.at,
        reason=reason,
        recipients=existing.recipients if existing is not None else (),
        escalated_by=escalated_by if existing is None else existing.escalated_by,
    )
    return Change(record, reason)


def apply_escalation(  # noqa: PLR0917  (the shell passes its state positionally)
    event: EscalationEvent,
    config: RoutingConfig,
    book: Mapping[str, AlertRecord],
    groups: Mapping[str, GroupRecord],
    now: datetime,
    plan: ActionPlan | None = None,
) -> list[Change]:
    """What an escalation event changes in the alert book (nothing for a replay).

    The actions each role reads are settled first (:func:`opel.alerting.plan_routes.with_plan_actions`:
    Appendix 3's summary actions given to the roles that do them, a site's or system's taken from
    ``plan``). A route limited by ``when`` opens alerts only for a change inside its period of the
    plan calendar; people it has already told still hear the later changes and the resolution.
    """
    enriched = with_plan_actions(event.data, config, plan)
    if enriched is not event.data:
        event = event.model_copy(update={"data": enriched})
    data = event.data
    calendar = config.plan_calendar
    changes: list[Change] = []
    keys_seen: set[str] = set()
    for route in config.routes:
        if not matches(route.match, data):
            continue
        firing = data.to_level >= route.match.level_at_least
        roles: list[str] = list(route.roles)
        # Roles the policy already brought in must hear about changes and the resolution too.
        roles += [
            r.role
            for r in book.values()
            if r.route == route.name and r.scope == data.scope and r.role not in roles
        ]
        for role in roles:
            key = alert_key(route.name, role, data.scope)
            if key in keys_seen:
                continue
            keys_seen.add(key)
            existing = book.get(key)
            if existing is not None and existing.event_id == event.id:
                continue  # a replay: the record already reflects it
            if existing is not None and existing.data.at > data.at:
                continue  # older than what the record holds
            is_route_role = role in route.roles
            if firing:
                unwanted = route.match.directions is not None and data.direction not in route.match.directions
                unwanted = unwanted or not calendar.applies(route.when, data.at)
                if unwanted and (existing is None or existing.status != "firing"):
                    continue
                if not is_route_role and (existing is None or existing.status == "closed"):
                    continue
                if existing is not None and existing.status == "resolved" and existing.pending == "resolve":
                    refire = stages.refire_within_hold(
                        existing.notified_level, data.to_level, resolve_sent=False
                    )
                    if refire.act:
                        changes.append(
                            Change(
                                existing.model_copy(
                                    update={
                                        "status": "firing",
                                        "pending": "none",
                                        "due_at": None,
                                        "event_id": event.id,
                                        "data": data,
                                        "changed_at": now,
                                        "reason": refire.reason,
                                    }
                                ),
                                refire.reason,
                            )
                        )
                        continue
                changes.append(_open(route, role, event, config, now, existing, groups))
            elif existing is not None and existing.status == "firing":
                changes.append(_resolve(existing, event, config.timing(route).hold, now))
    names = {route.name for route in config.routes}
    for record in book.values():
        # A route removed by a reload still owes its people the resolved notice.
        orphan = record.route not in names and record.scope == data.scope and record.status == "firing"
        if orphan and record.event_id != event.id and data.to_level < record.threshold:
            changes.append(_resolve(record, event, config.defaults.hold, now))
    return changes


def _resolve(existing: AlertRecord, event: EscalationEvent, hold_for: timedelta, now: datetime) -> Change:
    data = event.data
    if existing.notified_level is None:
        reason = "resolved before anyone was told (within group_wait): nothing to send"
        update: dict[str, object] = {"status": "closed", "pending": "none", "due_at": None}
    else:
        hold = stages.flap_hold(now, hold_for, now)
        reason = hold.reason
        update = {"status": "resolved", "pending": "resolve", "due_at": hold.at, "level": data.to_level}
    update |= {"event_id": event.id, "data": data, "changed_at": now, "reason": reason}
    return Change(existing.model_copy(update=update), reason)


def apply_ack(
    alert: str, author: str, at: datetime, book: Mapping[str, AlertRecord]
) -> tuple[list[Change], str]:
    """Acknowledge an alert: it and every record of the same route and scope stop repeating and escalating."""
    firing = [r for r in book.values() if r.status == "firing"]
    target = next((r for r in firing if r.alert_id == alert), None)
    if target is None and len(alert) >= ACK_PREFIX:
        # Phones show the first 8 characters; accept them when they name one alert only.
        found = {r.alert_id: r for r in firing if r.alert_id.startswith(alert.lower())}
        target = next(iter(found.values())) if len(found) == 1 else None
    if target is None:
        return [], f"no firing alert {alert} (unknown, ambiguous, superseded or already resolved)"
    reason = f"acknowledged by {author}"
    changes = [
        Change(r.model_copy(update={"acked_by": author, "acked_at": at, "reason": reason}), reason)
        for r in book.values()
        if r.route == target.route and r.scope == target.scope and r.status == "firing" and r.acked_by is None
    ]
    return changes, f"{reason}: {len(changes)} record(s) of {target.route} for {target.scope}"


def apply_policy(
    config: RoutingConfig, book: Mapping[str, AlertRecord], groups: Mapping[str, GroupRecord], now: datetime
) -> list[Change]:
    """Unacknowledged OPEL 3/4 alerts that have waited long enough go to the policy's next level."""
    changes: list[Change] = []
    staged = dict(book)
    for anchor in list(book.values()):
        route = config.route(anchor.route)
        if route is None or anchor.status != "firing" or anchor.role != route.roles[0] or anchor.escalated_by:
            continue
        policy = config.escalation_policies.get(route.escalation_policy or "")
        decision, step = stages.escalate_next(
            anchor.level,
            policy=policy,
            notified_at=anchor.notified_at,
            steps_done=anchor.policy_steps,
            acked=anchor.acked_by is not None,
            now=now,
        )
        if not decision.act or step is None:
            continue
        event = EscalationEvent(
            specversion="1.0",
            id=anchor.event_id,
            source="urn:opel:alerting",
            type="uk.gov.kent.opel.escalation",
            subject=anchor.scope,
            time=anchor.data.at,
            data=anchor.data,
        )
        for role in step.roles:
            key = alert_key(route.name, role, anchor.scope)
            existing = staged.get(key)
            if existing is not None and existing.status == "firing" and existing.pending == "notify":
                continue
            change = _open(
                route, role, event, config, now, existing, groups, escalated_by=route.escalation_policy
            )
            record = change.record.model_copy(
                update={"due_at": now, "reason": decision.reason, "notified_level": None}
            )
            staged[key] = record
            changes.append(Change(record, decision.reason))
        advanced = anchor.model_copy(
            update={"policy_steps": anchor.policy_steps + 1, "reason": decision.reason}
        )
        staged[anchor.key] = advanced
        changes.append(Change(advanced, decision.reason))
    return changes


@dataclass(frozen=True, slots=True)
class Flush:
    """One message to one role: the records as they will be once it is recorded, and the deliveries."""

    group: str
    role: str
    route: str
    notice_id: str
    reason: str
    rendered: Rendered
    records: tuple[AlertRecord, ...]
    deliveries: tuple[Delivery, ...]
    group_record: GroupRecord


def plan_flushes(
    config: RoutingConfig,
    book: Mapping[str, AlertRecord],
    now: datetime,
    vocab: Vocabulary | None = None,
) -> list[Flush]:
    """Messages due now: pending notices whose group is due, resolved notices past their hold, repeats."""
    by_group: dict[str, list[AlertRecord]] = {}
    for record in book.values():
        if record.status != "closed":
            by_group.setdefault(record.group, []).append(record)
    flushes: list[Flush] = []
    for group, records in sorted(by_group.items()):
        route_name = records[0].route
        route = config.route(route_name)
        # A route removed by a reload still owes its people the resolved notice and repeats.
        timing = config.timing(route) if route is not None else config.defaults
        notify = [r for r in records if r.pending == "notify"]
        resolve = [r for r in records if r.pending == "resolve" and r.due_at is not None and r.due_at <= now]
        repeats = [
            r
            for r in records
            if r.pending == "none"
            and r.status == "firing"
            and stages.repeat_due(
                r.notified_at, r.repeats, timing.repeat_interval, r.acked_by is not None, now
            ).act
        ]
        due_times = [r.due_at for r in notify if r.due_at is not None]
        flush_notify = stages.group_flush(due_times, now)
        if not flush_notify.act:
            notify = []
        if not (notify or resolve or repeats):
            continue
        items: list[tuple[AlertRecord, NoticeKind, int]] = []
        items += [(r, "escalated" if r.escalated_by else "firing", 0) for r in notify]
        items += [(r, "resolved", 0) for r in resolve]
        items += [(r, "repeat", r.repeats + 1) for r in repeats]
        role = records[0].role
        nid = notice_id(group, [(r.alert_id, kind, n) for r, kind, n in items])
        rendered = render(
            [Item(kind, r.alert_id, r.data, told_level=r.notified_level, repeat=n) for r, kind, n in items],
            role,
            vocab,
        )
        area = records[0].area
        top = max((r.level for r, kind, _ in items if kind != "resolved"), default=None)
        # Outside office hours a contact kept for urgent alerts (a senior manager's mobile) is
        # used only at or above its level; the resolved notice goes to whoever was told.
        current = tuple(c.id for c in config.contacts(role, area, at=now, level=top))
        updated: list[AlertRecord] = []
        recipients: set[str] = set()
        for r, kind, n in items:
            if kind == "resolved":
                recipients.update(r.recipients)
                updated.append(
                    r.model_copy(
                        update={
                            "status": "closed",
                            "pending": "none",
                            "due_at": None,
                            "reason": "resolved notice sent",
                        }
                    )
                )
            elif kind == "repeat":
                recipients.update(current)
                updated.append(r.model_copy(update={"repeats": n, "reason": f"repeat {n} sent"}))
            else:
                recipients.update(current)
                updated.append(
                    r.model_copy(
                        update={
                            "pending": "none",
                            "due_at": None,
                            "notified_at": now,
                            "notified_level": r.level,
                            "repeats": 0,
                            "recipients": tuple(sorted(set(r.recipients) | set(current))),
                            "reason": f"{kind} notice sent",
                        }
                    )
                )
        contacts = {c.id: c for entry in config.roles.values() for c in entry.contacts}
        deliveries = tuple(
            Delivery(
                delivery_id=delivery_id(nid, contact),
                notice_id=nid,
                kind=items[0][1],
                role=role,
                route=route_name,
                contact=contact,
                channel=contacts[contact].channel,
                alert_ids=tuple(r.alert_id for r, _, _ in items),
                subject=rendered.subject,
                text=rendered.text,
                short=rendered.short,
                exercise=any(r.exercise for r, _, _ in items),
                created_at=now,
                next_at=now,
            )
            for contact in sorted(recipients)
            if contact in contacts
        )
        reasons = "; ".join(sorted({r.reason for r, _, _ in items if r.reason}))
        flushes.append(
            Flush(
                group,
                role,
                route_name,
                nid,
                f"{flush_notify.reason}; {reasons}",
                rendered,
                tuple(updated),
                deliveries,
                GroupRecord(key=group, last_sent_at=now),
            )
        )
    return flushes


def fresh_deliveries(flush: Flush, logged: Collection[str]) -> list[Delivery]:
    """The flush's deliveries the notification log does not hold yet (the dedup stage)."""
    return [d for d in flush.deliveries if stages.dedup(d.delivery_id, logged).act]
