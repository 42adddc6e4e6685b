"""``report.html``: what a replay (or two compared) says, as one page a person opens offline.

The page is self-contained: the charts are SVG drawn by matplotlib and written inline, the
styles are in the page, and there is no script and no link to anything outside it, so it opens
from a file, a mail attachment or a shared drive with no network. matplotlib because it is
maintained, draws static SVG with no JavaScript runtime (Altair and Plotly need a script
to render), and is already the plotting library most analysts who will read these reports use.

It shows, for catalogue A and (with ``--compare``) B:

- a level timeline per area and for the county, coloured as on the status board;
- days at each level, A beside B, per area and for the county;
- the table of differences: periods in which a scope's level differs, days at level per
  scope, and the transitions only one catalogue has.

Every number comes from ``report.json`` (the same dict), so the page and the file agree.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from .run import DAY, Outcome, Segment, segments

COLOURS: Final[dict[int | None, str]] = {
    1: "#00703c",
    2: "#ffbf47",
    3: "#b10e1e",
    4: "#0b0c0c",
    None: "#dee0e2",
}
"""The status board's level colours (streams/web/static), and a light grey for no level yet."""
NAMES: Final = {1: "OPEL 1", 2: "OPEL 2", 3: "OPEL 3", 4: "OPEL 4", None: "no level"}
MAX_ROWS: Final = 400
"""Rows a table shows before it says how many more report.json holds (a page stays readable)."""

STYLE: Final = """
body { font-family: system-ui, Arial, sans-serif; margin: 1.5rem; color: #0b0c0c; max-width: 72rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #b1b4b6; padding: 0.2rem 0.5rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 0.9rem; height: 0.9rem; vertical-align: middle;
  border: 1px solid #505a5f; margin-right: 0.3rem; }
.chart svg { max-width: 100%; height: auto; }
.note { color: #505a5f; }
"""


def scope_label(scope: str) -> str:
    kind, _, name = scope.partition("/")
    return f"{name} ({kind})" if kind in ("county", "area") else scope


CHARTED_AREAS = 24
"""Areas charted at most: a national replay has 153, which no chart shows readably; the table
of every scope below the charts still has them all."""


def chart_scopes(days: Mapping[str, Any]) -> list[str]:
    """The county first, then the areas by name (past CHARTED_AREAS, those with the most days
    at OPEL 3 or 4)."""
    county = sorted(s for s in days if s.startswith("county/"))
    areas = sorted(s for s in days if s.startswith("area/"))
    if len(areas) > CHARTED_AREAS:
        worst = sorted(areas, key=lambda s: (-(days[s]["3"] + days[s]["4"]), s))
        areas = sorted(worst[:CHARTED_AREAS])
    return county + areas


def chart_heading(days: Mapping[str, Any]) -> str:
    total = sum(1 for s in days if s.startswith("area/"))
    if total <= CHARTED_AREAS:
        return "Level in force, county and areas"
    return (
        f"Level in force, county and the {CHARTED_AREAS} of {total} areas with the most days at OPEL 3 or 4"
    )


def _svg(figure: Any) -> str:
    out = io.StringIO()
    figure.savefig(out, format="svg", bbox_inches="tight")
    text = out.getvalue()
    # Drop the XML prologue and doctype: the SVG is inlined into the HTML page.
    return text[text.index("<svg") :]


def timeline_svg(outcomes: Sequence[Outcome], scopes: Sequence[str]) -> str:
    """One bar per scope and catalogue, coloured by the level in force over the history."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    pieces = [segments(o.events, o.start, o.end) for o in outcomes]
    start = outcomes[0].start
    rows: list[tuple[str, list[Segment]]] = []
    for scope in scopes:
        for outcome, by_scope in zip(outcomes, pieces, strict=True):
            suffix = f" — {outcome.catalogue}" if len(outcomes) > 1 else ""
            rows.append(
                (
                    f"{scope_label(scope)}{suffix}",
                    by_scope.get(scope, [(outcome.start, outcome.end, None)]),
                )
            )
    with mpl.rc_context({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "opel"}):
        figure, axes = plt.subplots(figsize=(11, 0.42 * len(rows) + 1.2))
        for index, (_label, parts) in enumerate(rows):
            y = len(rows) - 1 - index
            for begin, end, level in parts:
                left = (begin - start) / DAY
                axes.broken_barh([(left, (end - begin) / DAY)], (y - 0.38, 0.76), facecolors=COLOURS[level])
        axes.set_yticks(range(len(rows)), [label for label, _ in reversed(rows)])
        # Days from the start on the axis, labelled with dates (matplotlib.dates is untyped).
        span = (outcomes[0].end - start) / DAY
        first = datetime(start.year, start.month, start.day, tzinfo=start.tzinfo)
        every = max(1, math.ceil(span / 12))
        ticks = [first + DAY * n for n in range(0, math.ceil(span) + 2, every)]
        ticks = [t for t in ticks if start <= t <= outcomes[0].end]
        axes.set_xticks([(t - start) / DAY for t in ticks], [t.strftime("%d %b") for t in ticks])
        axes.set_xlim(0, span)
        axes.set_ylim(-0.6, len(rows) - 0.4)
        axes.spines[["top", "right", "left"]].set_visible(False)
        axes.tick_params(axis="y", length=0)
        legend = [Patch(facecolor=COLOURS[lv], edgecolor="#505a5f", label=NAMES[lv]) for lv in COLOURS]
        axes.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=5, frameon=False)
        figure.tight_layout()
        svg = _svg(figure)
        plt.close(figure)
    return svg


def days_svg(report: Mapping[str, Any], scopes: Sequence[str]) -> str:
    """Days at each level as stacked bars, catalogue A beside B, per scope."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sides = [s for s in ("a", "b") if s in report]
    rows: list[tuple[str, dict[str, float]]] = []
    for scope in scopes:
        for side in sides:
            part = report[side]
            days = part["days_at_level"].get(scope, {})
            suffix = f" — {part['catalogue']}" if len(sides) > 1 else ""
            rows.append((f"{scope_label(scope)}{suffix}", days))
    with mpl.rc_context({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "opel"}):
        figure, axes = plt.subplots(figsize=(11, 0.42 * len(rows) + 1.0))
        for index, (_label, days) in enumerate(rows):
            y = len(rows) - 1 - index
            left = 0.0
            for level in (None, 1, 2, 3, 4):
                value = float(days.get("none" if level is None else str(level), 0.0))
                if value <= 0:
                    continue
                axes.barh(y, value, left=left, color=COLOURS[level], edgecolor="white", height=0.76)
                if value >= 1.5:
                    ink = "#0b0c0c" if level in (2, None) else "white"
                    axes.text(left + value / 2, y, f"{value:.1f}", ha="center", va="center", color=ink)
                left += value
        axes.set_yticks(range(len(rows)), [label for label, _ in reversed(rows)])
        axes.set_xlabel("days")
        axes.spines[["top", "right"]].set_visible(False)
        axes.tick_params(axis="y", length=0)
        figure.tight_layout()
        svg = _svg(figure)
        plt.close(figure)
    return svg


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.2f}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def _level(value: int | None) -> str:
    return f'<td><span class="swatch" style="background:{COLOURS[value]}"></span>{NAMES[value]}</td>'


def _when(text: str) -> str:
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M")


def _more(total: int) -> str:
    if total <= MAX_ROWS:
        return ""
    return f'<p class="note">First {MAX_ROWS} of {total} rows; report.json has them all.</p>'


def days_table(report: Mapping[str, Any], scopes: Sequence[str], table_id: str) -> str:
    sides = [s for s in ("a", "b") if s in report]
    head = "".join(
        f"<th>{NAMES[lv]} {html.escape(report[s]['catalogue'])}</th>" for lv in (1, 2, 3, 4) for s in sides
    )
    rows = []
    for scope in scopes[:MAX_ROWS]:
        cells = "".join(
            _cell(float(report[s]["days_at_level"].get(scope, {}).get(str(lv), 0.0)))
            for lv in (1, 2, 3, 4)
            for s in sides
        )
        rows.append(f'<tr data-scope="{html.escape(scope)}"><th>{html.escape(scope)}</th>{cells}</tr>')
    return (
        f'<table id="{table_id}"><thead><tr><th>scope</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{_more(len(scopes))}"
    )


def periods_table(periods: Sequence[Mapping[str, Any]], a: str, b: str) -> str:
    ordered = sorted(periods, key=lambda p: (_kind_rank(p["scope"]), p["scope"], p["from"]))
    rows = [
        f'<tr data-scope="{html.escape(p["scope"])}"><td>{html.escape(p["scope"])}</td>'
        f"<td>{_when(p['from'])}</td><td>{_when(p['until'])}</td>{_cell(float(p['days']))}"
        f"{_level(p['a'])}{_level(p['b'])}</tr>"
        for p in ordered[:MAX_ROWS]
    ]
    return (
        '<table id="periods"><thead><tr><th>scope</th><th>from</th><th>until</th><th>days</th>'
        f"<th>{html.escape(a)}</th><th>{html.escape(b)}</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{_more(len(periods))}"
    )


def transitions_table(keys: Sequence[Mapping[str, Any]], table_id: str) -> str:
    ordered = sorted(keys, key=lambda k: (_kind_rank(k["subject"]), k["time"], k["subject"]))
    rows = [
        f"<tr><td>{_when(k['time'])}</td><td>{html.escape(k['subject'])}</td>"
        f"{_level(k['from'])}{_level(k['to'])}</tr>"
        for k in ordered[:MAX_ROWS]
    ]
    return (
        f'<table id="{table_id}"><thead><tr><th>time</th><th>scope</th><th>from</th><th>to</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>{_more(len(keys))}"
    )


def _kind_rank(scope: str) -> int:
    order = ("county", "area", "system", "site", "indicator")
    kind = scope.split("/", 1)[0]
    return order.index(kind) if kind in order else len(order)


def render(report: Mapping[str, Any], outcomes: Sequence[Outcome]) -> str:
    """The whole page as text."""
    a = report["a"]
    compared = "compare" in report
    names = [o.catalogue for o in outcomes]
    title = f"Replay: {' against '.join(names)}"
    charted = a["days_at_level"] | (report["b"]["days_at_level"] if compared else {})
    scopes = chart_scopes(charted)
    every_scope = sorted(
        set(a["days_at_level"]) | (set(report["b"]["days_at_level"]) if compared else set()),
        key=lambda s: (_kind_rank(s), s),
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body><main>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p id="span">{report["inputs"]} inputs from {_when(a["start"])} to {_when(a["end"])} (UTC).</p>',
        '<table id="summary"><thead><tr><th>catalogue</th><th>inputs taken</th><th>transitions</th>'
        "</tr></thead><tbody>",
    ]
    for side in ("a", "b"):
        if side in report:
            part = report[side]
            parts.append(
                f"<tr><th>{html.escape(part['catalogue'])}</th>{_cell(part['inputs'])}"
                f"{_cell(part['transitions'])}</tr>"
            )
    parts.append("</tbody></table>")
    parts += [
        f"<h2>{html.escape(chart_heading(charted))}</h2>",
        f'<figure class="chart" id="timeline">{timeline_svg(outcomes, scopes)}</figure>',
        "<h2>Days at each level</h2>",
        f'<figure class="chart" id="days">{days_svg(report, scopes)}</figure>',
        days_table(report, scopes, "days-table"),
    ]
    if compared:
        diff = report["compare"]
        parts += [
            f"<h2>Where the levels differ ({len(diff['periods'])} periods)</h2>",
            periods_table(diff["periods"], diff["a"], diff["b"]),
            f"<h2>Transitions only in {html.escape(diff['a'])} ({len(diff['only_in_a'])})</h2>",
            transitions_table(diff["only_in_a"], "only-in-a"),
            f"<h2>Transitions only in {html.escape(diff['b'])} ({len(diff['only_in_b'])})</h2>",
            transitions_table(diff["only_in_b"], "only-in-b"),
        ]
    parts += [
        "<details><summary>Days at each level, every scope</summary>",
        days_table(report, every_scope, "all-days-table"),
        "</details>",
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report_html(path: Path, report: Mapping[str, Any], outcomes: Sequence[Outcome]) -> None:
    path.write_text(render(report, outcomes), encoding="utf-8")
