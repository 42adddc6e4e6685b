"""What a person reads: scope in words, level and colour, evidence, their actions, plan refs, how to ack."""

from __future__ import annotations

from test_alerting_fixtures import T0, escalation, stp_actions

from opel.alerting.duties import keah_notice
from opel.alerting.message import SMS_LIMIT, Item, render
from opel.alerting.records import KeahRecord
from opel.contracts.escalation import EscalationEvent


def data(value: dict[str, object]) -> EscalationEvent:
    return EscalationEvent.model_validate(value)


def test_firing_message_for_the_team_manager() -> None:
    event = data(escalation("area/dgs", 2, 3, actions=stp_actions()))
    out = render([Item("firing", "a1b2c3d4-0000", event.data)], "stp_team_manager")
    assert out.subject == "OPEL 3 RED: Dartford, Gravesham and Swanley"
    assert "For: Short Term Pathway Team Manager" in out.text
    assert "is OPEL 3 red, up from OPEL 2 amber at 09:30 Wed 12 Nov." in out.text
    assert "Why: Referrals 48 is in the OPEL 3 band (45-59)." in out.text
    assert (
        "Start now:\n- Make sure SHREWD is updated by 10:30 and again between 14:00 and 15:30. (plan App. 3)"
        in out.text
    )
    assert "Plan v1.8: App. 3." in out.text
    assert "ACK a1b2c3d4-0000" in out.text
    assert out.short.startswith("OPEL 3 RED: Dartford")
    assert "Ack: a1b2c3d4" in out.short


def test_role_without_actions_in_the_event_is_told_so() -> None:
    event = data(escalation("indicator/referrals/swale", None, 3))
    out = render([Item("firing", "x", event.data)], "senior_practitioner")
    assert "Referrals pending assessment outcome in Swale is OPEL 3 red, first assessed" in out.text
    assert "No change to your role's actions" in out.text


def test_resolved_notice_names_what_people_were_told() -> None:
    event = data(escalation("area/dgs", 3, 1, cause="dwell", explanation=""))
    out = render([Item("resolved", "abc", event.data, told_level=3)], "stp_team_manager")
    assert out.subject == "RESOLVED Dartford, Gravesham and Swanley: now OPEL 1 green"
    assert "You were told it was OPEL 3 red." in out.text
    assert "held long enough to step down" in out.text
    assert "Nothing to acknowledge" in out.text


def test_repeat_escalated_and_exercise_wording() -> None:
    event = data(escalation("county/kent", 3, 4, exercise=True))
    repeat = render([Item("repeat", "r", event.data, repeat=2)], "duty")
    assert repeat.subject == "EXERCISE REMINDER OPEL 4 BLACK: Kent County Council (all areas)"
    assert repeat.text.startswith("EXERCISE EXERCISE EXERCISE")
    assert "STILL (reminder 2)" in repeat.text
    live = data(escalation("county/kent", 3, 4))
    escalated = render([Item("escalated", "e", live.data)], "assistant_director")
    assert escalated.subject.startswith("UNACKNOWLEDGED OPEL 4 BLACK")
    assert "NOT ACKNOWLEDGED, passed to you" in escalated.text


def test_sms_form_is_bounded() -> None:
    event = data(escalation("area/dgs", 2, 3, explanation="x" * 2000))
    assert len(render([Item("firing", "a", event.data)], "duty").short) <= SMS_LIMIT


def test_keah_notice_in_london_time() -> None:
    record = KeahRecord(
        event_id="e1",
        area="east_kent",
        ref="KEAH-1",
        received_at=T0,
        due_at=T0.replace(hour=11),
        notice_id="n",
    )
    out = keah_notice(record)
    assert out.subject == "KEaH: tell the referrer KEAH-1 by 11:30 Wed 12 Nov"
    assert "(East Kent) received 09:30 Wed 12 Nov" in out.text
    # The board's "Referrer told" button and the API route both record the confirmation.
    assert "confirm it on the board or in the API\n(POST /keah/e1/referrer-told)" in out.text
