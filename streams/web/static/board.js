// OPEL status board: reads /status, /timeline, /actions, /action-items and /keah/open, then follows
// /events (Server-Sent Events).
// Plain script, no build step. Every piece of server data goes into the page as text
// (textContent), never as markup. The words for levels, times and scores come from
// board-text.js (window.OpelText), loaded first.
"use strict";

(function () {
  const AREAS = [
    ["dgs", "Dartford, Gravesham & Swanley"],
    ["east_kent", "East Kent"],
    ["swale", "Swale"],
    ["west_kent", "West Kent"],
  ];
  const INDICATORS = [
    ["stp_staffing_pct", "STP staffing %"],
    ["health_caseload", "Health caseload"],
    ["social_caseload", "Social caseload"],
    ["referrals", "Referrals pending"],
    ["keah_capacity", "KEaH capacity"],
    ["d2a_p1_weekly_availability", "D2A P1 weekly availability"],
    ["d2a_p1_discharged_yesterday", "D2A P1 discharged yesterday"],
    ["assessment_bed_availability", "Assessment beds"],
    ["dementia_bed_availability", "Dementia beds"],
  ];
  const SITES = {
    william_harvey: "William Harvey Hospital",
    qeqm: "Queen Elizabeth the Queen Mother Hospital",
    kent_and_canterbury: "Kent and Canterbury Hospital",
    tunbridge_wells: "Tunbridge Wells Hospital",
    maidstone: "Maidstone Hospital",
    darent_valley: "Darent Valley Hospital",
    medway_maritime: "Medway Maritime Hospital",
  };
  const T = window.OpelText;
  const TOKEN_KEY = "opel-api-token";

  const state = {
    statuses: new Map(),
    timelines: new Map(), // scope -> [{at, level}], oldest first (GET /timeline)
    timelineHours: 24,
    timelineNow: null, // the server's time of the last /timeline read; strips are drawn once it is known
    actions: null,
    items: null, // open action items (GET /action-items?state=open)
    keah: null, // KEaH referrals awaiting "referrer told" (GET /keah/open)
    warnings: new Map(), // indicator scope -> its open early warning (GET /warnings, "warning" events)
    staleAfterMs: 26 * 3600 * 1000,
    clockOffsetMs: 0, // server clock minus this browser's clock
    lastEventAt: null,
    retryMs: 3000,
  };

  // ---------------------------------------------------------------- helpers
  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const { validLevel, levelLabel, formatValue } = T;
  function levelClass(level) { return validLevel(level) ? `level-${level}` : "level-none"; }
  function badge(level) { return el("span", { class: `badge ${levelClass(level)}` }, levelLabel(level)); }

  function now() { return Date.now() + state.clockOffsetMs; }

  // Every <time> says whether it is a moment that has happened (data-when="past": a reading, the
  // start of a level) or a deadline (data-when="deadline": an expiry, the end of a wait), so a
  // test can check that nothing past is shown in the future.
  // A past moment ("2 h 10 min ago"), with the full time on hover.
  function agoEl(iso) {
    if (!iso) return el("span", {}, "no time");
    return el("time", { datetime: iso, title: T.fullTime(iso), "data-when": "past" }, T.ago(iso, now()));
  }

  // How long a level has been in force ("for 2 h 10 min"), with the full time on hover.
  function lastingEl(iso) {
    if (!iso) return el("span", {}, "no start time");
    return el("time", { datetime: iso, title: T.fullTime(iso), "data-when": "past" }, T.lasting(iso, now()));
  }

  // The same with its start: "for 2 h 10 min (since 07:50)".
  function inForceEl(iso) {
    if (!iso) return el("span", {}, "since an unknown time");
    return el("time", { datetime: iso, title: T.fullTime(iso), "data-when": "past" }, T.inForce(iso, now()));
  }

  // A clock time ("09:30 tomorrow"): for expiries and other deadlines.
  function clockEl(iso) {
    if (!iso) return el("span", {}, "no time");
    return el("time", { datetime: iso, title: T.fullTime(iso), "data-when": "deadline" }, T.clock(iso, now()));
  }

  // When the scope's level in force began, the timeline's later change taken into account.
  function inForceFrom(status) {
    return T.inForceFrom(status, state.timelines.get(status.scope));
  }

  // The SVG namespace, as the HTML parser gives it (the board names no address but its own).
  const SVG_NS = new DOMParser().parseFromString("<svg></svg>", "text/html").body.firstChild.namespaceURI;
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // What a step-down wait holds, in words beside the level it holds (null when not held).
  function heldEl(status) {
    const story = T.heldStory(status, now());
    return story ? el("span", { class: "held" }, story) : null;
  }

  function cellTitle(status) {
    return [T.heldStory(status, now()), status.explanation].filter(Boolean).join(". ") || null;
  }

  function isStale(status) {
    const at = Date.parse(status.observed_at || status.updated_at || "");
    return !Number.isNaN(at) && now() - at > state.staleAfterMs;
  }

  function areaName(id) {
    const found = AREAS.find(([key]) => key === id);
    return found ? found[1] : id;
  }

  function scopeName(scope) {
    const [kind, a, b] = scope.split("/");
    if (kind === "area") return areaName(a);
    if (kind === "county") return a === "kent" ? "Kent (county)" : a;
    if (kind === "site") return SITES[a] || a;
    if (kind === "system") return a === "kent-medway" ? "Kent and Medway system" : a;
    if (kind === "indicator") {
      const found = INDICATORS.find(([key]) => key === a);
      return `${found ? found[1] : a}, ${areaName(b)}`;
    }
    return scope;
  }

  function activeOverride(status) {
    const o = status && status.override;
    if (!o || typeof o !== "object") return null;
    const expires = Date.parse(o.expires_at || "");
    if (!Number.isNaN(expires) && expires <= now()) return null;
    return o;
  }

  function computedLevel(status) {
    return validLevel(status.state_level) ? status.state_level : status.computed_level;
  }

  // ---------------------------------------------------------------- authorisation
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function headers() {
    const t = token();
    return t ? { Authorization: `Bearer ${t}` } : {};
  }

  class Unauthorised extends Error {}

  function askForToken() {
    $("token-dialog").hidden = false;
    $("token-input").focus();
  }

  async function getJSON(path) {
    const response = await fetch(path, { headers: headers(), cache: "no-store" });
    if (response.status === 401) { askForToken(); throw new Unauthorised(path); }
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  // ---------------------------------------------------------------- rendering
  function renderBanner() {
    const county = state.statuses.get("county/kent");
    const level = county ? county.level : null;
    const banner = $("county-banner");
    banner.className = `banner ${levelClass(level)}`;
    $("county-level").textContent = levelLabel(level);
    const detail = $("county-detail");
    detail.replaceChildren();
    if (county) {
      const override = activeOverride(county);
      const since = inForceFrom(county);
      if (since) detail.append("In force ", inForceEl(since), ". ");
      if (override) {
        detail.append(`Declared by ${override.author} until `, clockEl(override.expires_at),
          `; the data gives ${levelLabel(computedLevel(county))}. `);
      }
      const held = T.heldStory(county, now());
      if (held) detail.append(`${held}. `);
      const reason = T.countyReason(county.explanation);
      if (reason) detail.append(`${override ? "Computed from" : "Why"}: ${reason}.`);
    } else {
      detail.append("No county level has been published yet.");
    }
    const systems = [...state.statuses.values()].filter((s) => s.kind === "system");
    const system = $("system-level");
    system.replaceChildren();
    for (const s of systems) {
      const held = T.heldStory(s, now());
      const override = activeOverride(s);
      system.append(
        `${scopeName(s.scope)}: ${levelLabel(s.level)}`,
        typeof s.score === "number" ? ` (score ${T.scoreText(s)})` : "",
        override ? `, declared by ${override.author}` : "",
        held ? `. ${held}` : "",
        ". ",
      );
    }
  }

  // ---------------------------------------------------------------- the 24-hour strips
  function stripScopes() {
    const scopes = [];
    const county = [...state.timelines.keys()].filter((s) => s.startsWith("county/"));
    scopes.push(...(county.length ? county : ["county/kent"]));
    for (const [area] of gridRows()) scopes.push(`area/${area}`);
    scopes.push(...[...state.timelines.keys()].filter((s) => s.startsWith("system/")).sort());
    return scopes;
  }

  function pct(ms, fromMs, spanMs) { return `${(((ms - fromMs) / spanMs) * 100).toFixed(3)}%`; }

  // Hour marks every 6 h of UK time (00:00, 06:00, 12:00, 18:00) inside the window.
  function hourMarks(fromMs, nowMs) {
    const marks = [];
    const first = Math.ceil(fromMs / 3600000) * 3600000;
    for (let at = first; at <= nowMs; at += 3600000) {
      const text = T.clock(new Date(at).toISOString(), nowMs).slice(0, 5);
      if (Number(text.slice(0, 2)) % 6 === 0 && text.endsWith(":00")) marks.push([at, text]);
    }
    return marks;
  }

  function strip(scope, fromMs, nowMs) {
    const changes = state.timelines.get(scope) || [];
    const spanMs = nowMs - fromMs;
    const name = scopeName(scope);
    const words = T.stripText(changes, fromMs, nowMs);
    const bands = T.bands(changes, fromMs, nowMs).map((band) => {
      const width = ((band.end - band.start) / spanMs) * 100;
      const cls = band.level === undefined ? "level-unknown" : levelClass(band.level);
      const label = band.level === undefined ? (width >= 12 ? "no record" : "") : band.level === null ? "–" : String(band.level);
      const x = pct(band.start, fromMs, spanMs);
      const title = `${band.level === undefined ? "no record" : levelLabel(band.level)}: `
        + `${T.clock(new Date(band.start).toISOString(), nowMs)} to ${band.end >= nowMs ? "now" : T.clock(new Date(band.end).toISOString(), nowMs)}`;
      return svg("g", { class: `band ${cls}` },
        svg("title", {}, title),
        svg("rect", { x, y: 0, width: `${width.toFixed(3)}%`, height: 28 }),
        width >= 2.2 && label
          ? svg("text", { x: pct(band.start + (band.end - band.start) / 2, fromMs, spanMs), y: 19, "text-anchor": "middle" }, label)
          : null);
    });
    // Marks too near an end would have their time cut off at the edge of the strip.
    const inside = hourMarks(fromMs, nowMs).filter(([at]) => (at - fromMs) / spanMs > 0.05 && (at - fromMs) / spanMs < 0.95);
    const marks = inside.map(([at, text]) =>
      svg("g", { class: "mark" },
        svg("line", { x1: pct(at, fromMs, spanMs), x2: pct(at, fromMs, spanMs), y1: 0, y2: 32 }),
        svg("text", { x: pct(at, fromMs, spanMs), y: 44, "text-anchor": "middle" }, text)));
    const picture = svg("svg", { class: "strip-svg", role: "img", "aria-label": `${name}, last 24 hours: ${words}`, width: "100%", height: 48 },
      ...bands, ...marks);
    const current = state.statuses.get(scope);
    return el("div", { class: "strip", "data-scope": scope },
      el("p", { class: "strip-name" }, el("span", { class: "name" }, name), " ",
        el("span", { class: `badge ${levelClass(current ? current.level : null)}` }, levelLabel(current ? current.level : null))),
      picture);
  }

  function renderTimelines() {
    const container = $("timelines");
    if (!state.timelineNow) return;
    const nowMs = now();
    const fromMs = nowMs - state.timelineHours * 3600 * 1000;
    container.replaceChildren(
      ...stripScopes().map((scope) => strip(scope, fromMs, nowMs)),
    );
  }

  function gridColumns() {
    const present = new Set();
    for (const s of state.statuses.values()) if (s.kind === "indicator" && s.indicator) present.add(s.indicator);
    const known = INDICATORS.filter(([id]) => present.has(id));
    const extra = [...present].filter((id) => !INDICATORS.some(([k]) => k === id)).sort().map((id) => [id, id]);
    return [...known, ...extra];
  }

  function gridRows() {
    const rows = AREAS.slice();
    for (const s of state.statuses.values()) {
      if ((s.kind === "area" || s.kind === "indicator") && s.area && !rows.some(([id]) => id === s.area)) {
        rows.push([s.area, s.area]);
      }
    }
    return rows;
  }

  function indicatorCell(status) {
    if (!status) return el("td", { class: "cell level-none" }, el("span", { class: "label" }, "not assessed"));
    const stale = isStale(status);
    const held = heldEl(status);
    return el(
      "td",
      {
        class: `cell ${levelClass(status.level)}${stale ? " stale" : ""}${held ? " held" : ""}`,
        "data-scope": status.scope,
        title: cellTitle(status),
      },
      el("span", { class: "label" }, levelLabel(status.level)),
      held || el("span", { class: "value" }, formatValue(status.value)),
      el("span", { class: "time" }, agoEl(status.observed_at || status.updated_at)),
      stale ? el("span", { class: "stale-badge" }, "stale") : null,
      warningEl(state.warnings.get(status.scope)),
    );
  }

  // The projected arrow: toward the level the trend is heading for, said in words beside it.
  function warningEl(warning) {
    if (!warning) return null;
    const projected = warning.data.projected_level;
    return el(
      "span",
      { class: `warning ${levelClass(projected)}`, "data-warning": warning.data.warning_id, title: warning.data.method_text },
      el("span", { class: "arrow", "aria-hidden": "true" }, "\u2197"),
      ` Early warning: ${T.warningText(warning, now())}`,
    );
  }

  function areaCell(status) {
    if (!status) {
      return el("td", { class: "cell area-level level-none" }, el("span", { class: "label" }, "not assessed"));
    }
    const override = activeOverride(status);
    const held = heldEl(status);
    const cell = el("td", {
      class: `cell area-level ${levelClass(status.level)}${override ? " overridden" : ""}${held ? " held" : ""}`,
      "data-scope": status.scope,
      title: cellTitle(status),
    });
    if (override) {
      cell.append(
        el("span", { class: "pair" },
          el("span", { class: "caption" }, "Declared"), badge(status.level)),
        el("span", { class: "pair" },
          el("span", { class: "caption" }, "Computed"), badge(computedLevel(status))),
      );
    } else {
      cell.append(el("span", { class: "label" }, levelLabel(status.level)));
    }
    if (held) cell.append(held);
    const since = inForceFrom(status);
    if (since) cell.append(el("span", { class: "time" }, lastingEl(since)));
    return cell;
  }

  function renderGrid() {
    const columns = gridColumns();
    const head = $("grid-head");
    head.replaceChildren(
      el("th", { scope: "col" }, "Area"),
      el("th", { scope: "col" }, "Area level"),
      ...columns.map(([, name]) => el("th", { scope: "col" }, name)),
    );
    const body = $("grid-body");
    body.replaceChildren(
      ...gridRows().map(([area, name]) =>
        el(
          "tr",
          { "data-area": area },
          el("th", { scope: "row" }, name),
          areaCell(state.statuses.get(`area/${area}`)),
          ...columns.map(([indicator]) => indicatorCell(state.statuses.get(`indicator/${indicator}/${area}`))),
        ),
      ),
    );
  }

  function renderOverrides() {
    const rows = [];
    for (const status of [...state.statuses.values()].sort((a, b) => a.scope.localeCompare(b.scope))) {
      const o = activeOverride(status);
      if (!o) continue;
      rows.push(
        el(
          "tr",
          { "data-override": o.id },
          el("th", { scope: "row" }, scopeName(status.scope)),
          el("td", {}, badge(o.level), o.declaration ? " (daily declaration)" : ""),
          el("td", {}, badge(computedLevel(status))),
          el("td", {}, o.author || "unknown"),
          el("td", {}, o.reason || ""),
          el("td", {}, o.expires_at ? clockEl(o.expires_at) : "no expiry"),
        ),
      );
    }
    $("overrides-body").replaceChildren(...rows);
    $("overrides").hidden = rows.length === 0;
    $("no-overrides").hidden = rows.length !== 0;
  }

  function renderSites() {
    const sites = [...state.statuses.values()].filter((s) => s.kind === "site").sort((a, b) => a.scope.localeCompare(b.scope));
    const body = $("sites-body");
    if (sites.length === 0) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 5 }, "No acute site returns yet.")));
      return;
    }
    body.replaceChildren(
      ...sites.map((s) => {
        const stale = isStale(s);
        const held = heldEl(s);
        return el(
          "tr",
          { "data-scope": s.scope },
          el("th", { scope: "row" }, SITES[s.site] || s.site),
          el("td", { class: `cell ${levelClass(s.level)}${stale ? " stale" : ""}${held ? " held" : ""}`, title: cellTitle(s) },
            el("span", { class: "label" }, levelLabel(s.level)),
            held,
            stale ? el("span", { class: "stale-badge" }, "stale") : null),
          el("td", { class: "score" }, T.scoreText(s)),
          el("td", { class: "normalised" }, T.normalisedText(s)),
          el("td", {}, agoEl(s.observed_at || s.updated_at)),
        );
      }),
    );
  }

  function renderActions() {
    const container = $("actions");
    const summary = $("actions-summary");
    const data = state.actions;
    if (!data) { summary.textContent = "Loading actions…"; return; }
    const level = data.county.level;
    summary.replaceChildren(
      "County level ", badge(level), ` (action plan ${data.plan.id}).`,
      data.areas.length ? " Areas: " : "",
      ...data.areas.flatMap((a, i) => [i ? ", " : "", `${areaName(a.area)} ${a.label}`]),
    );
    const roles = data.roles.map((role) => {
      const items = role.actions.map((action) =>
        el("li", {}, el("span", { class: `badge ${levelClass(action.level)}` }, `L${action.level}`), " ", action.text, " ",
          el("span", { class: "plan-ref" }, `(plan ${action.plan_ref})`)));
      return el(
        "details",
        { "data-role": role.role, open: items.length > 0 && items.length <= 6 ? true : null },
        el("summary", {}, `${role.name}: ${items.length ? `${items.length} action${items.length === 1 ? "" : "s"}` : "business as usual"}`),
        items.length ? el("ul", {}, ...items) : el("p", {}, "Nothing beyond business as usual at this level."),
      );
    });
    container.replaceChildren(...roles);
  }

  // Open action items, one group per role, each with the controls to mark it.
  function itemControls(item) {
    const noteId = `note-${item.id}`;
    return el(
      "form",
      { class: "item-mark", "data-item": item.id },
      el("label", { for: noteId }, "Note (needed for not applicable)"),
      el("input", { id: noteId, name: "note", type: "text", maxlength: "500", autocomplete: "off" }),
      el("button", { type: "submit", name: "state", value: "done" }, "Done"),
      el("button", { type: "submit", name: "state", value: "not_applicable" }, "Not applicable"),
    );
  }

  function renderItems() {
    const container = $("items");
    const summary = $("items-summary");
    const items = state.items;
    if (!items) return;
    const link = $("daily-record-link");
    // en-CA writes dates as YYYY-MM-DD; the day is Kent's, whatever the browser's zone.
    const today = new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/London" }).format(new Date(now()));
    link.setAttribute("href", `/daily-record/${today}.html`);
    summary.textContent = items.length
      ? `${items.length} open action item${items.length === 1 ? "" : "s"}.`
      : "No action item is open.";
    const byRole = new Map();
    for (const item of items) {
      if (!byRole.has(item.role)) byRole.set(item.role, []);
      byRole.get(item.role).push(item);
    }
    const groups = [...byRole.entries()].map(([role, list]) => el(
      "details",
      { "data-role": role, open: true },
      el("summary", {}, `${list[0].role_name}: ${list.length} open`),
      el("ul", { class: "items" }, ...list.map((item) => {
        const overdue = Date.parse(item.due_at) <= now();
        return el(
          "li",
          { "data-item": item.id },
          el("span", { class: `badge ${levelClass(item.level)}` }, `L${item.level}`), " ",
          item.text, " ",
          el("span", { class: "plan-ref" }, `(plan ${item.plan_ref})`), " ",
          el("span", { class: "item-where" }, `${scopeName(item.scope)}; due `), clockEl(item.due_at),
          overdue ? el("strong", { class: "overdue" }, " overdue") : null,
          itemControls(item),
        );
      })),
    ));
    container.replaceChildren(...groups);
  }

  // POSTs a command with the tab's token. On 202 it says `queued` and re-reads with `reload` while
  // alerting records it; on 401 or 403 it asks for the token `tokenWhy` names.
  async function postCommand(path, body, { status, queued, reload, tokenWhy, refused }) {
    const response = await fetch(path, {
      method: "POST",
      headers: { ...headers(), "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (response.status === 202) {
      status.textContent = queued;
      for (const delay of [500, 1500, 4000]) setTimeout(reload, delay);
      return;
    }
    const problem = await response.json().catch(() => ({}));
    if (response.status === 401 || response.status === 403) {
      $("token-why").textContent = `${tokenWhy} It is kept for this browser tab only.`;
      askForToken();
    }
    status.textContent = `${refused}: ${problem.detail || `HTTP ${response.status}`}`;
  }

  async function markItem(form, stateName) {
    const note = form.elements.note.value.trim();
    await postCommand(`/action-items/${encodeURIComponent(form.dataset.item)}`,
      note ? { state: stateName, note } : { state: stateName }, {
        status: $("items-status"),
        queued: `Marked ${stateName === "done" ? "done" : "not applicable"}; the list updates once it is recorded.`,
        reload: loadItems,
        tokenWhy: "Marking an action item needs the token of the role that owns it.",
        refused: "Not marked",
      });
  }

  // KEaH referrals awaiting "referrer told" (plan 7.6), each with the button that confirms it.
  // The server sends no referral's ref, and none is shown.
  function renderKeah() {
    const list = state.keah;
    if (!list) return;
    $("keah-summary").textContent = list.length
      ? `${list.length} referral${list.length === 1 ? "" : "s"} waiting for the referrer to be told.`
      : "No KEaH referral is waiting for \u201creferrer told\u201d.";
    const container = $("keah");
    container.hidden = list.length === 0;
    container.replaceChildren(...list.map((referral) => {
      const overdue = Date.parse(referral.due_at) <= now();
      const describedBy = `keah-${referral.event_id}`;
      return el(
        "li",
        { "data-event": referral.event_id, class: overdue ? "keah-overdue" : null },
        el("span", { id: describedBy },
          `Referral ${referral.event_id}, ${areaName(referral.area)}: received `,
          el("time", { datetime: referral.received_at, title: T.fullTime(referral.received_at), "data-when": "past" },
            T.clock(referral.received_at, now())),
          "; tell the referrer by ", clockEl(referral.due_at)),
        overdue ? el("strong", { class: "overdue" }, " overdue") : null,
        el("form", { class: "keah-told", "data-event": referral.event_id },
          el("button", { type: "submit", "aria-describedby": describedBy }, "Referrer told")),
      );
    }));
  }

  async function confirmKeah(form) {
    const id = form.dataset.event;
    await postCommand(`/keah/${encodeURIComponent(id)}/referrer-told`, {}, {
      status: $("keah-status"),
      queued: `Referrer told for ${id}: recorded; it leaves the list once alerting has counted it.`,
      reload: loadKeah,
      tokenWhy: "Confirming \u201creferrer told\u201d needs a KEaH organiser's token.",
      refused: "Not confirmed",
    });
  }

  function render() {
    renderBanner();
    renderTimelines();
    renderGrid();
    renderOverrides();
    renderSites();
    renderActions();
    renderItems();
    renderKeah();
    const when = state.lastEventAt ? `Last update received ${T.ago(state.lastEventAt, now())}.` : "";
    const staleHours = `${Math.round(state.staleAfterMs / 3600000)} h`;
    $("stale-limit").textContent = staleHours;
    $("refreshed").textContent = `${when} Values older than ${staleHours} are marked stale. Times are UK time.`;
  }

  let renderQueued = false;
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => { renderQueued = false; render(); });
  }

  // ---------------------------------------------------------------- data
  async function loadActions() {
    try {
      state.actions = await getJSON("/actions");
      scheduleRender();
    } catch (error) {
      if (!(error instanceof Unauthorised)) setConnection("offline", `Could not load actions: ${error.message}`);
    }
  }

  let actionsTimer = null;
  function scheduleActions() {
    clearTimeout(actionsTimer);
    actionsTimer = setTimeout(loadActions, 300);
  }

  async function loadTimelines() {
    try {
      const data = await getJSON("/timeline");
      state.timelines = new Map(data.scopes.map((entry) => [entry.scope, entry.changes]));
      state.timelineHours = Math.max(1, Math.round((Date.parse(data.now) - Date.parse(data.from)) / 3600000));
      state.timelineNow = data.now;
      scheduleRender();
    } catch (error) {
      if (!(error instanceof Unauthorised)) setConnection("offline", `Could not load the last 24 hours: ${error.message}`);
    }
  }

  async function loadItems() {
    try {
      state.items = (await getJSON("/action-items?state=open")).items;
      scheduleRender();
    } catch (error) {
      if (!(error instanceof Unauthorised)) $("items-summary").textContent = `Could not load action items: ${error.message}`;
    }
  }

  async function loadWarnings() {
    try {
      const data = await getJSON("/warnings");
      state.warnings = new Map(data.warnings.map((w) => [w.subject, w]));
      scheduleRender();
    } catch (error) {
      if (!(error instanceof Unauthorised)) setConnection("offline", `Could not load early warnings: ${error.message}`);
    }
  }

  function applyWarning(change) {
    const warning = change.warning;
    if (warning && warning.data.status === "open") state.warnings.set(change.scope, warning);
    else state.warnings.delete(change.scope);
    scheduleRender();
  }

  async function loadKeah() {
    try {
      const data = await getJSON("/keah/open");
      state.keah = data.referrals;
      // The routing file sets the time allowed (plan 7.6 says 2 hours; 7.7 reads as 4).
      const minutes = Math.round(data.within_seconds / 60);
      $("keah-within").textContent = minutes % 60 === 0
        ? `${minutes / 60} hour${minutes === 60 ? "" : "s"}`
        : `${minutes} minutes`;
      scheduleRender();
    } catch (error) {
      if (!(error instanceof Unauthorised)) $("keah-summary").textContent = `Could not load KEaH referrals: ${error.message}`;
    }
  }

  let timelinesTimer = null;
  function scheduleTimelines() {
    clearTimeout(timelinesTimer);
    timelinesTimer = setTimeout(loadTimelines, 300);
  }

  async function loadAll() {
    const data = await getJSON("/status");
    state.clockOffsetMs = Date.parse(data.now) - Date.now();
    state.staleAfterMs = data.stale_after_seconds * 1000;
    state.statuses = new Map(data.statuses.map((s) => [s.scope, s]));
    state.lastEventAt = data.now;
    scheduleRender();
    await Promise.all([loadTimelines(), loadActions(), loadItems(), loadKeah(), loadWarnings()]);
  }

  function announce(before, after) {
    if (!after || !(after.kind === "area" || after.kind === "county")) return;
    const was = before ? before.level : null;
    if (was === after.level) return;
    $("announcer").textContent = `${scopeName(after.scope)} is now ${levelLabel(after.level)}.`;
  }

  function applyChange(change) {
    const before = state.statuses.get(change.scope);
    if (change.status) state.statuses.set(change.scope, change.status);
    else state.statuses.delete(change.scope);
    state.lastEventAt = new Date(now()).toISOString();
    announce(before, change.status);
    scheduleRender();
    if (change.scope.startsWith("area/") || change.scope.startsWith("county/")) {
      scheduleActions();
      setTimeout(loadItems, 1000); // alerting opens or stands items down right after a level change
    }
    const levelChanged = (before ? before.level : null) !== (change.status ? change.status.level : null);
    if (levelChanged && /^(area|county|system)\//.test(change.scope)) scheduleTimelines();
  }

  function setConnection(kind, text) {
    const node = $("connection");
    node.dataset.state = kind;
    node.textContent = text;
  }

  // ---------------------------------------------------------------- event stream
  // fetch() rather than EventSource so the bearer token goes in a header, not the URL.
  async function follow() {
    const response = await fetch("/events", { headers: headers(), cache: "no-store" });
    if (response.status === 401) { askForToken(); throw new Unauthorised("/events"); }
    if (!response.ok || !response.body) throw new Error(`/events: HTTP ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer = (buffer + value).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        await handleBlock(block);
      }
    }
  }

  async function handleBlock(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "retry" && /^\d+$/.test(value)) state.retryMs = Number(value);
    }
    if (data.length === 0) return;
    const payload = JSON.parse(data.join("\n"));
    if (event === "ready") {
      // Subscribed before this arrived, so re-reading now leaves no gap between snapshot and events.
      await loadAll();
      setConnection("live", "Live: updates appear as they happen.");
    } else if (event === "status") {
      applyChange(payload);
    } else if (event === "warning") {
      applyWarning(payload);
    }
  }

  let running = false;
  async function run() {
    if (running) return; // one event stream, also when a token is entered again
    running = true;
    try { await followLoop(); } finally { running = false; }
  }

  async function followLoop() {
    let failures = 0;
    for (;;) {
      try {
        await follow();
        failures = 0;
        setConnection("connecting", "Reconnecting…");
      } catch (error) {
        if (error instanceof Unauthorised) return; // resumes when a token is entered
        failures += 1;
        setConnection("offline", `Connection lost (${error.message}); retrying…`);
      }
      const wait = Math.min(state.retryMs * 2 ** Math.min(failures, 4), 30000);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  function start() {
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token-input").value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      $("token-dialog").hidden = true;
      run();
    });
    $("items").addEventListener("submit", (event) => {
      event.preventDefault();
      const button = event.submitter;
      markItem(event.target, button && button.value ? button.value : "done");
    });
    setInterval(scheduleRender, 30000); // keeps "x min ago" and stale marks current
    $("keah").addEventListener("submit", (event) => {
      event.preventDefault();
      confirmKeah(event.target);
    });
    setInterval(loadItems, 60000); // marks and reminders arrive without a status event
    setInterval(loadKeah, 60000); // so do KEaH referrals and their confirmations
    render();
    run();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
