// Keeps an open stop-request page current without a reload: when the /events stream says that the request, an alert
// of its vehicle or the vehicle's position changed, it fetches the request's decision facts again and redraws the
// evidence, the overtaken notice, the vehicle's position and way to the zone, the status and the history; once the
// request no longer waits, the decide form gives way to its outcome. Data is only ever set as text.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("decision-live")?.textContent || "null");
  const f = window.truckguardFormat;  // live.js: the site's formatters, in the reader's language
  if (!config || !f || !window.fetch) return;
  const say = config.words;
  // When the stream is refused (a site process at its cap of live consoles) or lost, the page still catches up.
  const FALLBACK_MS = 20000;
  const FINAL = new Set(["refused", "expired", "cancelled", "completed"]);
  const DECIDED = new Set(["authorized", "refused", "expired", "cancelled"]);
  const CLOCKS_AGREE_MS = 1000;  // as web/display.py event_time()

  let following = !FINAL.has(config.status);  // false once nothing more can happen to the request
  let stream = null;
  let fallback = null;
  let pending = null;
  let inFlight = false;
  let again = false;
  let opened = false;

  const byId = (id) => document.getElementById(id);
  // A translated pattern filled with text or nodes, so that no value is ever read as markup.
  const fillNodes = (pattern, values) => {
    const parts = [];
    let last = 0;
    for (const match of pattern.matchAll(/%\((\w+)\)[sd]/g)) {
      parts.push(pattern.slice(last, match.index));
      const value = values[match[1]];
      parts.push(value instanceof Node ? value : String(value ?? f.NONE));
      last = match.index + match[0].length;
    }
    parts.push(pattern.slice(last));
    return parts.filter((part) => part !== "");
  };
  const setChildren = (node, ...children) => node.replaceChildren(...children.flat());

  // --- the evidence: every alert of the incident, those raised while the request waits marked so
  const evidence = byId("evidence");
  let seen = new Set(evidence ? Array.from(evidence.tBodies[0].rows, (tr) => tr.dataset.id).filter(Boolean) : []);
  const announce = f.el("p", undefined, "visually-hidden");
  announce.setAttribute("aria-live", "polite");
  evidence?.after(announce);

  function renderAlerts(alerts) {
    if (!evidence) return;
    const labels = Array.from(evidence.tHead.rows[0].cells, (th) => th.textContent.trim());
    const body = document.createElement("tbody");
    const fresh = [];
    for (const a of alerts) {
      const tr = f.el("tr");
      tr.dataset.id = a.alert_id;
      if (a.after) tr.classList.add("after-request");
      if (!seen.has(a.alert_id)) {
        fresh.push(a.alert_id);
        tr.classList.add("is-new");
      }
      const tag = a.after ? f.el("span", say.after, "tag tag-after") : a.linked ? f.el("span", say.named, "tag") : "";
      const cells = [f.time(a.ts), f.link("/alerts/" + encodeURIComponent(a.alert_id), f.kindLabel(a.kind)),
        f.badge(a.severity), f.evidenceSummary(a.evidence), tag];
      cells.forEach((content, i) => {
        const td = f.el("td");
        td.dataset.label = labels[i] || "";
        td.append(content);
        tr.append(td);
      });
      body.append(tr);
    }
    if (alerts.length === 0) {
      const td = f.el("td", say.no_alerts);
      td.colSpan = labels.length;
      body.append(f.el("tr", undefined, "empty"));
      body.lastChild.append(td);
    }
    evidence.replaceChild(body, evidence.tBodies[0]);
    if (fresh.length) {
      const forms = f.words.new && f.words.new.alerts;
      announce.textContent = forms ? f.fill(forms[fresh.length === 1 ? 0 : 1], {num: fresh.length})
        : `${fresh.length} new alert${fresh.length === 1 ? "" : "s"}`;
    }
    seen = new Set([...seen, ...fresh]);
  }

  // --- the notice that events may have overtaken the request (the server words it; absent when nothing has)
  function renderOvertaken(note) {
    let box = byId("overtaken");
    if (!note) {
      box?.remove();
      return;
    }
    if (!box) {
      box = f.el("div", undefined, "overtaken");
      box.id = "overtaken";
      box.setAttribute("role", "alert");
      box.append(f.el("h2"), f.el("p"));
      const before = byId("decision-bar") || document.querySelector("main .split");
      before.before(box);
    }
    const [heading, text] = box.children;
    if (heading.textContent !== note.heading) heading.textContent = note.heading;
    if (text.textContent !== note.text) text.textContent = note.text;
  }

  // --- the vehicle now, and its way to the zone (as the page's position_summary macro and zone distance)
  function renderPosition(position, data) {
    const now = byId("vehicle-now");
    if (now) {
      if (!position) {
        setChildren(now, say.no_position);
      } else {
        const known = (value) => value !== null && value !== undefined;
        const parts = [f.time(position.ts)];
        if (known(position.speed_kmh)) parts.push(", " + f.speed(position.speed_kmh));
        if (known(position.heading_deg)) {
          parts.push(", " + f.fill(say.heading, {heading: f.heading(position.heading_deg)}));
        }
        if (known(position.ignition)) {
          parts.push(", " + (position.ignition ? say.ignition_on : say.ignition_off));
        }
        setChildren(now, parts);
      }
    }
    const way = byId("zone-distance");
    if (way) {
      let text = data.distance_m === 0 ? say.inside : f.distance(data.distance_m);
      if (data.distance_m !== 0 && data.eta_s !== null && data.eta_s !== undefined) {
        text += ", " + f.fill(say.eta, {time: f.duration(data.eta_s), speed: f.speed(position && position.speed_kmh)});
      }
      way.textContent = text;
    }
  }

  // --- the request's own state: status, first approval, history
  const stepWords = (entry) => entry.status === "release_approved" ? say.release_approved
    : entry.status === "released" ? say.released
      : entry.approval === 1 ? (f.words.approved || "approved 1 of 2") : f.word(entry.status ?? "?");
  const eventTime = (entry) => {
    if (!entry.at || !entry.recorded_at) return null;
    const apart = Math.abs(Date.parse(entry.at) - Date.parse(entry.recorded_at));
    return Number.isNaN(apart) || apart >= CLOCKS_AGREE_MS ? entry.at : null;
  };
  // "authorized by officer-2 at 2026-11-24 09:20:00", the step in bold, as the page's history writes each entry.
  const change = (entry) => {
    const nodes = fillNodes(f.words.change || "%(step)s by %(who)s at %(time)s",
                            {step: f.el("strong", stepWords(entry), "step"), who: entry.by ?? "?",
                             time: f.time(entry.recorded_at || entry.at)});
    const at = eventTime(entry);
    if (at) nodes.push(" ", f.el("span", f.fill(say.event_time, {time: f.when(at)}), "event-time"));
    if (entry.note) nodes.push(": " + entry.note);
    return nodes;
  };

  function renderRequest(data) {
    const status = byId("request-status");
    if (status) {
      if (data.release && data.release.released) {
        setChildren(status, f.el("span", say.released, "badge badge-released"), " ",
                    f.el("span", f.fill(say.after_status, {status: f.word(data.status)}), "hint"));
      } else {
        setChildren(status, f.badge(data.status));
      }
    }
    const approvedBy = data.first_approval_by;
    const label = byId("first-approval-label");
    const by = byId("first-approval");
    if (label && by) {
      label.hidden = by.hidden = !approvedBy;
      by.textContent = approvedBy || "";
    }
    const history = byId("history");
    if (history) setChildren(history, (data.history || []).map((entry) => {
      const li = f.el("li");
      li.append(...change(entry));
      return li;
    }));
  }

  // --- the decision: while the request waits, the form says whether a first approval is in; after, its outcome
  function renderDecide(data) {
    if (data.status === "requested") {
      const note = byId("decide-note");
      const button = byId("approve-button");
      const text = say.two_officers + (data.first_approval_by
        ? " " + f.fill(say.first_approved, {officer: data.first_approval_by}) : "");
      if (note && note.textContent !== text) note.textContent = text;
      const label = data.first_approval_by ? say.authorise : say.approve;
      if (button && button.textContent !== label) button.textContent = label;
      return;
    }
    byId("decision-bar")?.remove();
    const left = byId("time-left");
    if (left) {
      left.previousElementSibling?.remove();  // its <dt>
      left.remove();
    }
    const form = byId("decide");
    if (!form) return;
    const history = data.history || [];
    const decided = [...history].reverse().find((entry) => DECIDED.has(entry.status)) || history[history.length - 1];
    const outcome = f.el("section");
    outcome.id = "decision-outcome";
    outcome.setAttribute("role", "status");
    const heading = f.el("h2", say.decided);
    heading.id = "decision-outcome-heading";
    outcome.setAttribute("aria-labelledby", heading.id);
    const text = f.el("p");
    const what = f.el("span");
    what.append(...(decided ? change(decided) : [f.word(data.status)]));
    text.append(...fillNodes(say.outcome, {change: what}));
    outcome.append(heading, text);
    form.replaceWith(outcome);
  }

  let shown = "";
  function render(data) {
    const { seconds_left: _, ...facts } = data;  // the time left ticks in countdown.js
    const signature = JSON.stringify(facts);
    if (signature === shown) return;
    shown = signature;
    renderOvertaken(data.overtaken_note);
    renderPosition(data.position, data);
    renderAlerts(data.alerts || []);
    renderRequest(data);
    renderDecide(data);
    following = !FINAL.has(data.status);
    if (!following) stop();
  }

  // --- when to look again: the live events of the request and its vehicle, a slow fallback, and a shown tab

  async function refresh() {
    clearTimeout(fallback);
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    try {
      const response = await fetch(config.source, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.ok) render(await response.json());
    } catch (error) {
      // offline for a moment: the stream or the fallback asks again
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        soon();
      } else if (following && !document.hidden) {
        fallback = setTimeout(refresh, FALLBACK_MS);
      }
    }
  }
  const soon = () => {
    clearTimeout(pending);
    pending = setTimeout(refresh, 200);  // a burst of events (alert and position together) is one fetch
  };
  const concerns = (event, test) => {
    try {
      return test(JSON.parse(event.data));
    } catch (error) {
      return true;
    }
  };

  function listen() {
    if (stream || !following || document.hidden || !window.EventSource) return;
    stream = new EventSource("/events");
    stream.addEventListener("open", () => {
      // Whatever changed between the page's rendering and the stream's first answer.
      if (!opened) soon();
      opened = true;
    });
    stream.addEventListener("stop_request", (e) => concerns(e, (r) => r.request_id === config.request_id) && soon());
    stream.addEventListener("alert", (e) => concerns(e, (a) => a.vehicle_id === config.vehicle_id) && soon());
    stream.addEventListener("positions", (e) => concerns(e, (moved) => moved.some(
      (p) => p.vehicle_id === config.vehicle_id)) && soon());
    stream.addEventListener("error", () => {
      // A site process at its cap of live consoles answers 503 and the browser gives up on the stream: try again
      // after half a minute or so; the fallback keeps the page current meanwhile.
      if (stream && stream.readyState === EventSource.CLOSED) {
        stream = null;
        setTimeout(listen, 30000 + Math.random() * 15000);
      }
    });
  }
  function stop() {
    stream?.close();
    stream = null;
    clearTimeout(fallback);
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      stop();  // a hidden tab holds no console; it catches up the moment it is shown again
    } else if (following) {
      listen();
      refresh();
    }
  });
  if (following) {
    listen();
    fallback = setTimeout(refresh, FALLBACK_MS);
    // The request expires on the platform's clock: look again just after, for the expired state.
    const expires = Date.parse(byId("time-left")?.querySelector("time")?.dataset.expires || "");
    if (!Number.isNaN(expires)) setTimeout(refresh, Math.max(0, expires - Date.now()) + 2000);
  }
})();
