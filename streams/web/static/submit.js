/* The daily submission page: an indicator owner enters today's values, sees the level each would
   give (a dry run of POST /readings, so the same checks and wording as `opel assess`) and submits
   them together (one POST /readings with an Idempotency-Key: all saved or none). */
(() => {
  "use strict";

  const TOKEN_KEY = "opel-api-token"; // the board's key: one sign-in per tab serves both pages
  const PREVIEW_DELAY_MS = 400;
  // Kent's clock whatever the device's zone, with GMT or BST said, as the board shows times.
  const WHEN = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Europe/London", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  const $ = (id) => document.getElementById(id);

  const state = { form: null, fields: [], pending: null };

  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function authHeaders() { return { Authorization: `Bearer ${token()}` }; }

  function el(tag, attrs = {}, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function levelWords(level, colour) {
    return Number.isInteger(level) && level >= 1 && level <= 4 ? `OPEL ${level} ${colour}` : "not assessed";
  }

  function age(seconds) {
    if (seconds < 90) return "just now";
    const minutes = Math.round(seconds / 60);
    if (minutes < 90) return `${minutes} min ago`;
    const hours = Math.round(minutes / 60);
    if (hours < 48) return `${hours} h ago`;
    return `${Math.round(hours / 24)} days ago`;
  }

  function shown(value, unit) {
    if (typeof value !== "number") return String(value).replaceAll("_", " ");
    return unit === "percent" ? `${value} %` : `${value} ${unit}`;
  }

  function say(text, kind = "info") {
    const status = $("status");
    status.textContent = text;
    status.dataset.kind = kind;
  }

  // A randomly chosen key per batch: a retry of the same batch sends the same key and body.
  function newKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "submit-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function nowText() { return new Date().toISOString().replace(/\.\d+Z$/, "Z"); }

  // What is typed, as the API reads it: numbers as numbers; anything else as typed, so that the
  // API's error names the value the person entered.
  function valueOf(field) {
    const text = field.input.value.trim();
    if (text === "") return null;
    if (field.kind !== "categorical" && /^-?\d+(\.\d+)?$/.test(text)) return Number(text);
    return text;
  }

  // ------------------------------------------------------------------ sign in
  function showSignIn(message) {
    $("signed-in").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
    $("token-input").setAttribute("aria-invalid", message ? "true" : "false");
    $("token-input").focus();
  }

  async function loadForm() {
    let response;
    try {
      response = await fetch("/readings/form", { headers: authHeaders(), cache: "no-store" });
    } catch (error) {
      say(`Could not reach opel (${error.message}); try again in a moment.`, "error");
      return;
    }
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn("That token is not valid: check it with the opel administrator.");
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (response.status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn(`That token cannot submit readings (${body.detail || "it needs the area_submitter role"}).`);
      return;
    }
    if (!response.ok) {
      say(`Could not read your indicators: ${body.detail || `HTTP ${response.status}`}`, "error");
      return;
    }
    const first = state.form === null;
    state.form = body;
    if (first) buildForm(body);
    else refreshLastValues(body);
    $("sign-in").hidden = true;
    $("signed-in").hidden = false;
    if (first) $("form-heading").focus();
  }

  // ------------------------------------------------------------------ the form
  function buildForm(form) {
    const names = form.areas.map((a) => a.name).join(", ") || "no area";
    $("who").textContent = `Signed in as ${form.author}, submitting for ${names}.`;
    const areas = $("areas");
    areas.replaceChildren();
    state.fields = [];
    for (const area of form.areas) {
      const fieldset = el("fieldset", { class: "area", "data-area": area.area });
      fieldset.append(el("legend", {}, area.name));
      for (const indicator of area.indicators) fieldset.append(buildField(area, indicator));
      areas.append(fieldset);
    }
    if (!form.areas.length) areas.append(el("p", {}, "Your token may submit for no area of the catalogue in force."));
  }

  function buildField(area, indicator) {
    const id = `f-${area.area}-${indicator.indicator}`;
    const wrap = el("div", { class: "field", "data-indicator": indicator.indicator, "data-area": area.area });
    const unit = indicator.unit && indicator.kind !== "categorical" ? ` (${indicator.unit})` : "";
    wrap.append(el("label", { for: id }, `${indicator.name}${unit}`));
    const last = el("p", { class: "last", id: `${id}-last` });
    let input;
    if (indicator.kind === "categorical") {
      input = el("select", { id, name: id });
      input.append(el("option", { value: "" }, "No value today"));
      for (const category of indicator.categories) {
        input.append(el("option", { value: category }, category.replaceAll("_", " ")));
      }
    } else {
      input = el("input", { id, name: id, type: "text", inputmode: "decimal", autocomplete: "off" });
    }
    const preview = el("p", { class: "preview", id: `${id}-preview`, "aria-live": "polite" });
    const error = el("p", { class: "field-error", id: `${id}-error` });
    input.setAttribute("aria-describedby", `${id}-last ${id}-preview ${id}-error`);
    wrap.append(last, input, preview, error);
    const field = { area: area.area, indicator, input, last, preview, error, wrap, timer: null, asked: 0 };
    showLast(field, indicator.last);
    const changed = () => {
      state.pending = null; // a changed form is a new batch, with a new key
      clearTimeout(field.timer);
      field.timer = setTimeout(() => previewField(field), PREVIEW_DELAY_MS);
    };
    input.addEventListener("input", changed);
    input.addEventListener("change", changed);
    state.fields.push(field);
    return wrap;
  }

  function showLast(field, last) {
    if (!last) {
      field.last.textContent = "No value yet.";
      return;
    }
    const observed = new Date(last.observed_at);
    const seconds = Math.max(0, (Date.now() - observed.getTime()) / 1000);
    field.last.replaceChildren(
      "Last value ",
      el("strong", {}, shown(last.value, field.indicator.unit)),
      `, ${age(seconds)} (`,
      el("time", { datetime: last.observed_at }, WHEN.format(observed)),
      `): ${last.label}.`,
    );
  }

  function refreshLastValues(form) {
    for (const area of form.areas) {
      for (const indicator of area.indicators) {
        const field = state.fields.find((f) => f.area === area.area && f.indicator.indicator === indicator.indicator);
        if (field) showLast(field, indicator.last);
      }
    }
  }

  function setError(field, message) {
    field.error.textContent = message;
    field.wrap.classList.toggle("invalid", Boolean(message));
    field.input.setAttribute("aria-invalid", message ? "true" : "false");
  }

  function setPreview(field, reading) {
    field.preview.replaceChildren();
    field.preview.className = "preview";
    if (!reading) return;
    const words = levelWords(reading.level, reading.colour);
    const level = Number.isInteger(reading.level) ? `level-${reading.level}` : "level-none";
    field.preview.append(
      "Would give ",
      el("span", { class: `badge ${level}` }, words),
      el("span", { class: "explanation" }, reading.explanation || reading.reason || ""),
    );
  }

  function reading(field, observedAt) {
    return { indicator: field.indicator.indicator, area: field.area, value: valueOf(field), observed_at: observedAt };
  }

  // A problem's message names the field and the value ("value: must be ... got 'x'"); the page
  // says which indicator too.
  function problemText(field, problem) {
    return `${field.indicator.name}: ${problem.message}`;
  }

  async function postReadings(items, { dryRun, key }) {
    const headers = { ...authHeaders(), "Content-Type": "application/json" };
    if (key) headers["Idempotency-Key"] = key;
    const response = await fetch(`/readings${dryRun ? "?dry_run=true" : ""}`, {
      method: "POST",
      headers,
      body: JSON.stringify(items),
      cache: "no-store",
    });
    const body = await response.json().catch(() => ({}));
    return { status: response.status, body };
  }

  async function previewField(field) {
    const asked = ++field.asked;
    if (valueOf(field) === null) {
      setPreview(field, null);
      setError(field, "");
      return;
    }
    let answer;
    try {
      answer = await postReadings([reading(field, nowText())], { dryRun: true });
    } catch (error) {
      if (asked === field.asked) setError(field, `No preview: could not reach opel (${error.message}).`);
      return;
    }
    if (asked !== field.asked) return; // a later keystroke has its own preview
    if (answer.status === 200) {
      setError(field, "");
      setPreview(field, answer.body.readings[0]);
    } else if (answer.status === 401) {
      showSignIn("Your token is no longer valid: sign in again.");
    } else {
      setPreview(field, null);
      const problems = answer.body.errors || [];
      setError(field, problems.length ? problemText(field, problems[0]) : answer.body.detail || `HTTP ${answer.status}`);
    }
  }

  async function submitAll(event) {
    event.preventDefault();
    const entered = state.fields.filter((field) => valueOf(field) !== null);
    for (const field of state.fields) setError(field, "");
    if (!entered.length) {
      say("Enter at least one value before submitting.", "error");
      return;
    }
    // The same batch and key until the form changes, so pressing Submit again after a lost
    // answer cannot save anything twice.
    if (!state.pending) {
      const at = nowText();
      state.pending = { key: newKey(), items: entered.map((field) => reading(field, at)), fields: entered };
    }
    const { key, items, fields } = state.pending;
    $("submit-button").disabled = true;
    say("Submitting…");
    let answer;
    try {
      answer = await postReadings(items, { dryRun: false, key });
    } catch (error) {
      say(`Not saved: could not reach opel (${error.message}). Press Submit again to retry.`, "error");
      return;
    } finally {
      $("submit-button").disabled = false;
    }
    if (answer.status === 202) {
      state.pending = null;
      const saved = answer.body.readings.map((r, i) => {
        const field = fields[i];
        return `${field.indicator.name} ${shown(r.value, field.indicator.unit)}: ${levelWords(r.level, r.colour)}`;
      });
      for (const field of fields) {
        field.input.value = "";
        setPreview(field, null);
      }
      say(`Saved ${saved.length} reading${saved.length === 1 ? "" : "s"} as ${answer.body.author}: ${saved.join("; ")}. ` +
        "The board shows them once opel has assessed them.", "done");
      setTimeout(loadForm, 3000); // the last values, once the worker has assessed them
      return;
    }
    if (answer.status === 401) {
      showSignIn("Your token is no longer valid: sign in again. Nothing was saved.");
      return;
    }
    const problems = answer.body.errors || [];
    let first = null;
    for (const problem of problems) {
      const field = fields[problem.index];
      if (!field) continue;
      setError(field, problemText(field, problem));
      first = first || field;
    }
    if (answer.status === 422 || answer.status === 403) state.pending = null;
    say(`Nothing was saved: ${answer.body.detail || `HTTP ${answer.status}`}`, "error");
    if (first) first.input.focus();
  }

  function start() {
    $("sign-in-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token-input").value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      $("token-input").value = "";
      state.form = null;
      loadForm();
    });
    $("readings-form").addEventListener("submit", submitAll);
    $("sign-out").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      state.form = null;
      state.pending = null;
      $("areas").replaceChildren();
      say("Signed out.");
      showSignIn("");
    });
    $("form-heading").setAttribute("tabindex", "-1");
    if (token()) loadForm();
    else showSignIn("");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
