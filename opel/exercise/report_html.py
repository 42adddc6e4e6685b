"""``report.html``: the after-action report as one printable page that opens offline.

Built from the same :class:`ExerciseReport` as ``report.json``, so the two agree. Every text is
escaped; styles are in the page and nothing is loaded from anywhere else (no script, no link).
Outcomes are told by words as well as colour, for print and for readers who cannot tell the
colours apart.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Final

from opel.alerting.clock import LONDON
from opel.contracts.exercise_report import ExerciseReport, ExpectedResult

STYLE: Final = """
body { font-family: system-ui, Arial, sans-serif; margin: 1.5rem; color: #0b0c0c; max-width: 72rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; width: 100%; }
th, td { border: 1px solid #b1b4b6; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
.banner { background: #0b0c0c; color: #fff; padding: 0.4rem 0.8rem; font-weight: bold; letter-spacing: 0.1em;
  }
.outcome { font-weight: bold; padding: 0 0.3rem; }
.on_time { background: #cce2d8; } .late { background: #fff7bf; }
.never_done { background: #f4cdc6; } .not_triggered { background: #e8e8e8; }
.note { color: #505a5f; }
@media print { body { margin: 0; } .banner { border: 2px solid #0b0c0c; } }
"""
WORDS: Final = {
    "on_time": "on time",
    "late": "late",
    "never_done": "never done",
    "not_triggered": "not triggered",
}


def local(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(LONDON).strftime("%a %d %b %H:%M %Z")


def _outcome(result: ExpectedResult) -> str:
    words = WORDS[result.outcome]
    if result.late_by_minutes is not None:
        hours, minutes = divmod(result.late_by_minutes, 60)
        words += f" by {hours} h {minutes:02d} min" if hours else f" by {minutes} min"
    return f'<span class="outcome {result.outcome}">{escape(words)}</span>'


def _row(cells: list[str]) -> str:
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def render(report: ExerciseReport) -> str:
    counts = ", ".join(f"{n} {WORDS[o]}" for o, n in report.counts.items())
    expected = "\n".join(
        _row(
            [
                escape(r.role),
                f"{escape(r.text)}<br><span class=note>{escape(r.action_id)}</span>",
                escape(r.scope),
                f"OPEL {r.level}",
                escape(local(r.triggered_at)),
                f"{escape(local(r.due_at))}<br><span class=note>{escape(r.due_rule or '')}</span>",
                escape(local(r.done_at)),
                _outcome(r),
            ]
        )
        for r in report.expected
    )
    timeline = "\n".join(
        _row(
            [
                escape(e.offset),
                escape(local(e.at)),
                escape(e.kind.replace("_", " ")),
                escape(e.scope or ""),
                escape(e.role or ""),
                escape(e.text),
            ]
        )
        for e in report.timeline
    )
    levels = "\n".join(_row([escape(scope), f"OPEL {level}"]) for scope, level in report.final_levels.items())
    return f"""<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>EXERCISE after-action report: {escape(report.scenario)}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<p class="banner">EXERCISE – not a live escalation</p>
<h1>After-action report: {escape(report.scenario)}</h1>
<p>{escape(report.description)}</p>
<p>From {escape(local(report.started_at))} to {escape(local(report.ended_at))}
{report.started_at.astimezone(LONDON).year};
catalogue {escape(report.catalogue)}, action plan {escape(report.action_plan or "none")}.</p>
<h2>Expected actions against the plan's deadlines</h2>
<p id="counts">{escape(counts)}</p>
<table id="expected">
<caption class="note">Each action is due from when its scope first reached the level.</caption>
<thead><tr><th scope="col">Role</th><th scope="col">Action</th><th scope="col">Scope</th>
<th scope="col">Level</th><th scope="col">In force from</th><th scope="col">Due</th>
<th scope="col">Done</th><th scope="col">Outcome</th></tr></thead>
<tbody>
{expected}
</tbody>
</table>
<h2>Levels at the end</h2>
<table id="levels"><thead><tr><th scope="col">Scope</th><th scope="col">Level</th></tr></thead>
<tbody>
{levels}
</tbody></table>
<h2>Timeline</h2>
<table id="timeline">
<thead><tr><th scope="col">Offset</th><th scope="col">Time</th><th scope="col">What</th>
<th scope="col">Scope</th><th scope="col">Role</th><th scope="col">Detail</th></tr></thead>
<tbody>
{timeline}
</tbody>
</table>
</main>
</body>
</html>
"""
