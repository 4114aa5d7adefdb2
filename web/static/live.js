// Keeps a [data-live] table up to date: refetches its JSON source when the /events stream says something
// changed (and, as a fallback, every half minute); mirrors web/display.py for each cell. Its formatters are
// window.truckguardFormat for the other pages' scripts (decision.js), so a value reads the same everywhere.
"use strict";

(function () {
  const INTERVAL_MS = 30000;
  const SUMMARY_CHARS = 140;
  const NONE = "\u2014";

  // The reader's words and formats, as the server wrote the rows (web/display.py live_words); English without them.
  const words = JSON.parse(document.getElementById("live-words")?.textContent || "{}");
  const fill = (pattern, values) => pattern.replace(/%\((\w+)\)[sd]/g, (_, name) => String(values[name]));
  const number = (value, digits) => words.locale
    ? new Intl.NumberFormat(words.locale, digits === undefined ? {} : {minimumFractionDigits: digits,
      maximumFractionDigits: digits}).format(value)
    : (digits === undefined ? String(value) : value.toFixed(digits));
  const word = (value) => (words.words && words.words[value]) || String(value).replace(/_/g, " ");

  const ACRONYMS = { gnss: "GNSS", can: "CAN" };
  const kindLabel = (text) => {
    if (words.kinds && words.kinds[text]) return words.kinds[text];
    const spaced = String(text).split("_").map((word) => ACRONYMS[word] || word).join(" ");
    return spaced.charAt(0).toUpperCase() + spaced.slice(1);
  };
  const when = (text) => {
    if (!text) return NONE;
    const moment = new Date(text);
    if (isNaN(moment)) return text;
    if (words.locale && !words.iso_times) {
      return new Intl.DateTimeFormat(words.locale, {dateStyle: "medium", timeStyle: "medium", timeZone: "UTC"})
        .format(moment);
    }
    return moment.toISOString().slice(0, 19).replace("T", " ");
  };
  const plain = (value) => {
    if (value === null || value === undefined) return NONE;
    if (typeof value === "boolean") return value ? (words.yes || "yes") : (words.no || "no");
    if (typeof value === "number") return number(value);
    if (typeof value === "string") return value;
    if (Array.isArray(value)) return value.map(plain).join(", ");
    return JSON.stringify(value);
  };
  const evidenceSummary = (evidence) => {
    if (!evidence || Object.keys(evidence).length === 0) return NONE;
    let text = evidence.summary;
    if (typeof text !== "string" || !text) {
      text = Object.entries(evidence).map(([k, v]) => k.replace(/_/g, " ") + ": " + plain(v)).join("; ");
    }
    return text.length <= SUMMARY_CHARS ? text : text.slice(0, SUMMARY_CHARS - 1) + "\u2026";
  };
  const lastChange = (history) => {
    if (!history || history.length === 0) return NONE;
    const entry = history[history.length - 1];
    // As web/display.py's last_change: a first approval is "approved 1 of 2"; the platform's clock first.
    const step = entry.approval === 1 ? (words.approved || "approved 1 of 2") : word(entry.status ?? "?");
    const text = fill(words.change || "%(step)s by %(who)s at %(time)s",
                      {step, who: entry.by ?? "?", time: when(entry.recorded_at ?? entry.at)});
    return entry.note ? `${text}: ${entry.note}` : text;
  };

  const el = (tag, text, className) => {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  };
  const badge = (value) => el("span", word(value), "badge badge-" + value);
  const time = (value) => {
    if (!value) return document.createTextNode(NONE);
    const node = el("time", when(value));
    node.dateTime = value;
    return node;
  };
  const link = (href, child) => {
    const a = el("a");
    a.href = href;
    a.append(child);
    return a;
  };
  const vehicleLink = (vehicleId) => link("/vehicles/" + encodeURIComponent(vehicleId), vehicleId);
  const COMPASS = words.compass || ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W",
    "WNW", "NW", "NNW"];
  // As web/display.py speed(), heading(), distance() and duration().
  const speed = (kmh) => kmh === null || kmh === undefined ? NONE : `${number(Math.round(kmh))} km/h`;
  const heading = (deg) => deg === null || deg === undefined ? NONE
    : `${((Math.round(deg) % 360) + 360) % 360}\u00b0 ${COMPASS[Math.round((((deg % 360) + 360) % 360) / 22.5) % 16]}`;
  const distance = (metres) => metres === null || metres === undefined ? NONE
    : metres < 1000 ? `${number(Math.round(metres))} m` : `${number(metres / 1000, 1)} km`;
  const duration = (seconds) => {
    if (seconds === null || seconds === undefined) return NONE;
    const total = Math.max(0, Math.round(seconds));
    if (total < 60) return `${total} s`;
    if (total < 3600) return `${Math.floor(total / 60)} min ${String(total % 60).padStart(2, "0")} s`;
    return `${Math.floor(total / 3600)} h ${String(Math.floor((total % 3600) / 60)).padStart(2, "0")} min`;
  };
  window.truckguardFormat = { NONE, words, fill, number, word, kindLabel, when, evidenceSummary, el, badge, time, link,
    vehicleLink, speed, heading, distance, duration };

  const table = document.querySelector("table[data-live]");
  if (!table || !window.fetch) return;
  const labels = Array.from(table.tHead.rows[0].cells, (th) => th.textContent.trim());
  const source = table.dataset.live;
  const kind = table.dataset.liveKind;
  const status = document.getElementById("live-status");
  const announce = document.getElementById("live-announce");
  const what = status ? status.dataset.what : "items";

  // Each row builder returns [id, row class, cells]; a cell is text, a node, or [text, class].
  const rows = {
    alerts: (a) => [a.alert_id, "severity-" + a.severity, [
      link("/alerts/" + encodeURIComponent(a.alert_id), time(a.ts)), vehicleLink(a.vehicle_id), a.fleet_id || NONE,
      kindLabel(a.kind), badge(a.severity),
      a.zone_id || NONE, [a.score === null ? NONE : number(a.score, 2), "num"],
      [evidenceSummary(a.evidence), "evidence"], badge(a.status),
    ]],
    stop_requests: (r) => [r.request_id, "status-" + r.status, [
      link("/stop-requests/" + encodeURIComponent(r.request_id), time(r.ts)), vehicleLink(r.vehicle_id),
      r.fleet_id || NONE,
      r.target_speed_kmh === null || r.target_speed_kmh === undefined ? kindLabel(r.mode)
        : fill(words.mode_to || "%(mode)s to %(speed)s",
               {mode: kindLabel(r.mode), speed: `${number(Math.round(r.target_speed_kmh))} km/h`}),
      badge(r.released ? "released" : r.status), r.reason, [String(r.alert_ids.length), "num"], lastChange(r.history),
    ]],
  };

  // Rows the server rendered are the baseline: anything after them is announced as new.
  let seen = new Set(Array.from(table.tBodies[0].rows, (tr) => tr.dataset.id).filter(Boolean));
  let timer = null;
  let inFlight = false;

  function render(items) {
    const fresh = [];
    const body = document.createElement("tbody");
    for (const item of items) {
      const [id, rowClass, cells] = rows[kind](item);
      const tr = el("tr", undefined, rowClass);
      tr.dataset.id = id;
      if (!seen.has(id)) {
        fresh.push(id);
        tr.classList.add("is-new");
      }
      cells.forEach((cell, i) => {
        const [content, className] = Array.isArray(cell) ? cell : [cell, ""];
        const td = el("td", undefined, className);
        td.dataset.label = labels[i];
        td.append(content instanceof Node ? content : String(content));
        tr.append(td);
      });
      body.append(tr);
    }
    if (items.length === 0) {
      const tr = el("tr", undefined, "empty");
      const td = el("td", (words.empty && words.empty[what]) || `No ${what} yet.`);
      td.colSpan = labels.length;
      tr.append(td);
      body.append(tr);
    }
    table.replaceChild(body, table.tBodies[0]);
    if (fresh.length && announce) {
      const forms = words.new && words.new[what];
      announce.textContent = forms ? fill(forms[fresh.length === 1 ? 0 : 1], {num: fresh.length})
        : `${fresh.length} new ${fresh.length === 1 ? what.replace(/s$/, "") : what}`;
    }
    seen = new Set([...seen, ...fresh]);
  }

  async function refresh() {
    clearTimeout(timer);
    if (inFlight) return;
    inFlight = true;
    try {
      const response = await fetch(source, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      render(data[kind]);
      if (status) {
        status.classList.remove("is-stale");
        const now = new Date().toLocaleTimeString(words.locale);
        status.textContent = words.updated ? fill(words.updated, {time: now})
          : `Updated ${now}; this list updates itself.`;
      }
    } catch (error) {
      if (status) {
        status.classList.add("is-stale");
        status.textContent = words.offline || "Cannot reach the server; retrying\u2026";
      }
    } finally {
      inFlight = false;
      if (!document.hidden) timer = setTimeout(refresh, INTERVAL_MS);
    }
  }

  // A hidden tab does not poll; it catches up the moment it is shown again.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) clearTimeout(timer);
    else refresh();
  });
  timer = setTimeout(refresh, INTERVAL_MS);
  if (window.EventSource) {
    const events = new EventSource("/events");
    const wanted = kind === "alerts" ? "alert" : "stop_request";
    events.addEventListener(wanted, () => refresh());
    events.addEventListener("open", () => status && status.classList.remove("is-stale"));
  }
})();
