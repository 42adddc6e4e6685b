// OPEL status board: the words the board shows for levels, times and scores.
// Pure functions of a status value (the opel.status.v1 contract) and the time now (ms since
// the epoch, the server's clock), so they are tested on their own (tests/test_web_board_text.py).
// Times are UK time. A time in the future is never shown relative to now: it is a clock time.
"use strict";

(function (root) {
  const ZONE = "Europe/London";
  const COLOURS = { 1: "green", 2: "amber", 3: "red", 4: "black" };
  const TIME = new Intl.DateTimeFormat("en-GB", { timeZone: ZONE, hour: "2-digit", minute: "2-digit" });
  const DATE = new Intl.DateTimeFormat("en-GB", { timeZone: ZONE, day: "numeric", month: "short" });
  const DAY = new Intl.DateTimeFormat("en-GB", { timeZone: ZONE, year: "numeric", month: "numeric", day: "numeric" });
  const FULL = new Intl.DateTimeFormat("en-GB", {
    timeZone: ZONE, weekday: "short", day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  const SKEW_MS = 60 * 1000; // a time this little ahead of the clock is "just now", not the future

  function validLevel(level) { return Number.isInteger(level) && level >= 1 && level <= 4; }
  function levelName(level) { return validLevel(level) ? `OPEL ${level}` : "not assessed"; }
  function levelLabel(level) { return validLevel(level) ? `OPEL ${level} ${COLOURS[level]}` : "not assessed"; }

  function parse(iso) { return typeof iso === "string" ? Date.parse(iso) : NaN; }

  function plural(count, word) { return `${count} ${word}${count === 1 ? "" : "s"}`; }

  // A length of time: "less than a minute", "5 min", "2 h", "2 h 10 min", "3 d", "3 d 4 h".
  function span(ms) {
    const minutes = Math.floor(Math.abs(ms) / 60000);
    if (minutes < 1) return "less than a minute";
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
    const days = Math.floor(hours / 24);
    return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
  }

  // The UK calendar day of an instant, as a day count (for "today", "tomorrow", "yesterday").
  function ukDay(ms) {
    const parts = Object.fromEntries(DAY.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
    return Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day)) / 86400000;
  }

  // A clock time: "09:30", "09:30 tomorrow", "09:30 yesterday", else "14 Nov 09:30".
  function clock(iso, nowMs) {
    const then = parse(iso);
    if (Number.isNaN(then)) return "an unknown time";
    const time = TIME.format(new Date(then));
    const days = ukDay(then) - ukDay(nowMs);
    if (days === 0) return time;
    if (days === 1) return `${time} tomorrow`;
    if (days === -1) return `${time} yesterday`;
    return `${DATE.format(new Date(then))} ${time}`;
  }

  // The full date and time, for a tooltip.
  function fullTime(iso) {
    const then = parse(iso);
    return Number.isNaN(then) ? "" : FULL.format(new Date(then));
  }

  // When something happened: "just now", "2 h 10 min ago"; a future time as a clock time.
  function ago(iso, nowMs) {
    const then = parse(iso);
    if (Number.isNaN(then)) return "at an unknown time";
    const behind = nowMs - then;
    if (behind < -SKEW_MS) return `at ${clock(iso, nowMs)}`;
    if (behind < 60000) return "just now";
    return `${span(behind)} ago`;
  }

  // How long something has lasted: "for 2 h 10 min"; under a minute or ahead of the clock,
  // "since 09:30"; further ahead, "from 09:30 tomorrow".
  function lasting(iso, nowMs) {
    const then = parse(iso);
    if (Number.isNaN(then)) return "since an unknown time";
    const behind = nowMs - then;
    if (behind >= 60000) return `for ${span(behind)}`;
    if (behind >= -SKEW_MS) return `since ${clock(iso, nowMs)}`;
    return `from ${clock(iso, nowMs)}`;
  }

  function formatNumber(value) {
    return Number.isInteger(value) ? String(value) : String(Math.round(value * 10) / 10);
  }

  function formatValue(value) {
    if (value === null || value === undefined) return "no value";
    if (typeof value === "number") return formatNumber(value);
    return String(value).replace(/_/g, " ");
  }

  function isNumber(value) { return typeof value === "number" && Number.isFinite(value); }

  // The step-down wait, or null: "held at OPEL 3 until 09:30 tomorrow" (", then OPEL 2 amber"
  // when the wait ends on a level above what the data gives).
  function heldText(status, nowMs) {
    const held = status && status.held;
    if (!held || !validLevel(held.level)) return null;
    let text = `held at ${levelName(held.level)} until ${clock(held.until, nowMs)}`;
    if (validLevel(held.next_level) && held.next_level !== held.computed_level) {
      text += `, then ${levelLabel(held.next_level)}`;
    }
    return text;
  }

  // What the data gives while a wait holds a higher level: "OPEL 1 green since 09:30".
  function dataText(status, nowMs) {
    const held = status && status.held;
    if (!held) return null;
    return `${levelLabel(held.computed_level)} since ${clock(held.lower_since, nowMs)}`;
  }

  // The whole story of a held level, e.g. for an indicator
  // "71: OPEL 1 green since 09:30; held at OPEL 3 until 09:30 tomorrow"; null when not held.
  function heldStory(status, nowMs) {
    const held = heldText(status, nowMs);
    if (!held) return null;
    const data = `${dataText(status, nowMs)}; ${held}`;
    if (status.kind === "indicator") return `${formatValue(status.value)}: ${data}`;
    return `Data gives ${data}`;
  }

  // The scale a site's or system's score is out of: the status's score_scale (44 for the NHS
  // acute catalogue). A value written before statuses carried it gives the scale through its
  // normalised score, score / scale × 100. Null if neither says.
  function scoreScale(status) {
    const { score, score_scale: scale, normalised_score: normalised } = status;
    if (isNumber(scale) && scale > 0) return scale;
    if (!isNumber(score) || !isNumber(normalised) || score <= 0 || normalised <= 0) return null;
    return Math.round((score * 100) / normalised);
  }

  // A site's or system's score: "15 of 44", with what is not reported:
  // "12 of 44; at most 16, 1 parameter not reported", "21.7 of 44; 2 sites not reported".
  function scoreText(status) {
    if (!status || !isNumber(status.score)) return "no score";
    const scale = scoreScale(status);
    let text = scale ? `${formatNumber(status.score)} of ${formatNumber(scale)}` : formatNumber(status.score);
    const missing = Array.isArray(status.missing) ? status.missing.length : 0;
    if (status.kind === "site" && status.complete === false) {
      const most = isNumber(status.score_max) && status.score_max > status.score
        ? `at most ${formatNumber(status.score_max)}, ` : "";
      text += `; ${most}${plural(missing, "parameter")} not reported`;
    } else if (status.kind === "system" && missing > 0) {
      text += `; ${plural(missing, "site")} not reported`;
    }
    return text;
  }

  // The normalised score with its scale: "34.1 of 100".
  function normalisedText(status) {
    if (!status || !isNumber(status.normalised_score)) return "no normalised score";
    return `${formatNumber(status.normalised_score)} of 100`;
  }

  // How long a level has been in force, with its start: "for 2 h 10 min (since 07:50)"; under a
  // minute "since 07:50". A start ahead of the clock (clocks apart) is "since just now": a level
  // in force never began in the future.
  function inForce(iso, nowMs) {
    const then = parse(iso);
    if (Number.isNaN(then)) return "since an unknown time";
    const behind = nowMs - then;
    if (behind >= 60000) return `for ${span(behind)} (since ${clock(iso, nowMs)})`;
    if (behind >= -SKEW_MS) return `since ${clock(iso, nowMs)}`;
    return "since just now";
  }

  // Why the county has its level, from the rule's explanation ("in some areas: 2 of 4 assessed
  // areas at OPEL 2 or above"): "2 of 4 assessed areas at OPEL 2 or above (in some areas)".
  function countyReason(explanation) {
    if (typeof explanation !== "string" || !explanation) return null;
    const match = /^(in some areas|county-wide): (.*)$/.exec(explanation);
    return match ? `${match[2]} (${match[1]})` : explanation;
  }

  // ------------------------------------------------------------ the 24-hour strip
  // A scope's level changes ([{at, level}], oldest first, as GET /timeline gives them) as bands
  // between fromMs and nowMs: [{start, end, level}] in ms, merged where the level repeats. Before
  // the first change the level is unknown: a band with level undefined ("no record"). A change
  // dated after now is not drawn (nothing on the board is in the future).
  function bands(changes, fromMs, nowMs) {
    const found = [];
    let current = { start: fromMs, level: undefined };
    for (const change of changes || []) {
      const at = parse(change.at);
      if (Number.isNaN(at) || at > nowMs) continue;
      const level = validLevel(change.level) ? change.level : null;
      if (at <= fromMs) { current = { start: fromMs, level, began: at }; continue; }
      if (level === current.level) continue;
      if (at > current.start) found.push({ ...current, end: at });
      current = { start: at, level, began: at };
    }
    found.push({ ...current, end: nowMs });
    return found.filter((band, i) => band.end > band.start || i === found.length - 1);
  }

  function bandLabel(level) {
    if (level === undefined) return "no record";
    return levelLabel(level);
  }

  // The strip in words, for people who do not see it:
  // "OPEL 1 green until 01:38; OPEL 2 amber from 01:38 to 03:20; OPEL 3 red since 03:20 (for 2 h 16 min)."
  function stripText(changes, fromMs, nowMs) {
    const drawn = bands(changes, fromMs, nowMs);
    const parts = drawn.map((band, i) => {
      const label = bandLabel(band.level);
      const startIso = new Date(band.began !== undefined ? band.began : band.start).toISOString();
      const endIso = new Date(band.end).toISOString();
      const last = i === drawn.length - 1;
      const first = i === 0;
      if (last && band.level === undefined) return "no record";
      if (last && first) {
        return band.began !== undefined ? `${label} throughout (${lasting(startIso, nowMs)})` : label;
      }
      if (last) {
        const how = lasting(startIso, nowMs);
        return `${label} since ${clock(startIso, nowMs)}${how.startsWith("for ") ? ` (${how})` : ""}`;
      }
      if (first) return `${label} until ${clock(endIso, nowMs)}`;
      const start = clock(startIso, nowMs);
      const end = clock(endIso, nowMs);
      const day = / yesterday$/.test(start) && / yesterday$/.test(end) ? " yesterday" : "";
      return `${label} from ${day ? start.slice(0, -day.length) : start} to ${end}`;
    });
    return `${parts.join("; ")}.`;
  }

  // When the level in force began: the status's since, unless the timeline knows of a later
  // change (an override that ended gives back the state's level with the state's older since).
  function inForceFrom(status, changes) {
    let best = status && typeof status.since === "string" ? status.since : null;
    const list = changes || [];
    const last = list.length ? list[list.length - 1] : null;
    if (last && status && last.level === status.level && (!best || parse(last.at) > parse(best))) best = last.at;
    return best;
  }

  // An early warning beside its cell, in words: the projected level, when and how sure
  // ("OPEL 3 red expected about 14:20, confidence 80 %"). Information only: never the level.
  function warningText(warning, nowMs) {
    const data = warning && warning.data;
    if (!data) return "";
    const sure = Math.round(Number(data.confidence) * 100);
    return `${levelLabel(data.projected_level)} expected about ${clock(data.expected_at, nowMs)}, confidence ${sure} %`;
  }

  root.OpelText = Object.freeze({
    COLOURS, validLevel, levelName, levelLabel, span, clock, fullTime, ago, lasting, formatValue,
    heldText, dataText, heldStory, scoreScale, scoreText, normalisedText, inForce, countyReason,
    bands, stripText, inForceFrom, warningText,
  });
})(window);
