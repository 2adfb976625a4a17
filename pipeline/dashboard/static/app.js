/* The dashboard page: one snapshot per server-sent event, rendered without reloading.
   Every text from a payload goes in through textContent: the page never parses data as HTML. */
"use strict";
(() => {
  const $ = (sel) => document.querySelector(sel);
  const h = (tag, attrs, ...kids) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k.startsWith("data-") || k === "title" || k === "role") el.setAttribute(k, v);
      else el[k] = v;
    }
    for (const kid of kids) if (kid != null) el.append(kid);
    return el;
  };
  const get = (obj, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const int = (v) => (v == null ? "–" : Number(v).toLocaleString("en-US"));
  const usd = (v, d = 0) => (v == null ? "–" : "$" + Number(v).toLocaleString("en-US",
    { minimumFractionDigits: d, maximumFractionDigits: d }));
  const FMT = {
    int, text: (v) => (v == null || v === "" ? "–" : String(v)),
    pct: (v) => (v == null ? "–" : (v * 100).toFixed(1) + " %"),
    ms: (v) => (v == null ? "–" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : Number(v).toFixed(0) + " ms"),
    usd4: (v) => usd(v, 4),
    age: (v) => (v == null ? "–" : v < 90 ? v.toFixed(1) + " s" : v < 5400 ? (v / 60).toFixed(0) + " min" : (v / 3600).toFixed(1) + " h"),
    simtime: (v) => (v ? v.slice(0, 16).replace("T", " ") + " UTC" : "not started"),
    walltime: (v) => (v ? new Date(v).toLocaleString() : "–"),
    pace: (v) => (v == null ? "–" : v.toLocaleString("en-US") + "×"),
    breaker: (v) => v || "–",
    paused: (v) => (v ? "PAUSED (410 Gone)" : "running"),
    healthy: (v) => (v == null ? "–" : v ? "healthy" : "unhealthy"),
  };
  const TONE = { breaker: (v) => (v === "closed" ? "good" : "bad"), paused: (v) => (v ? "bad" : "good"),
    healthy: (v) => (v ? "good" : "bad") };

  let last = null;
  let span = "today";
  const charts = {};
  const open = new Set();

  function setStats(root, attr, data) {
    for (const el of document.querySelectorAll(`[${attr}]`)) {
      const v = get(data, el.getAttribute(attr));
      const fmt = el.dataset.fmt || "text";
      el.dataset.value = JSON.stringify(v === undefined ? null : v);
      el.textContent = FMT[fmt](v);
      if (fmt === "text") el.title = el.textContent;
      if (TONE[fmt]) el.className = TONE[fmt](v);
    }
  }

  function header(s) {
    const pill = $("#health");
    const check = s.stats && s.stats.check;
    if (s.mode === "receiver") {
      pill.dataset.state = "healthy"; pill.textContent = "receiving";
    } else if (check) {
      pill.dataset.state = check.healthy ? "healthy" : "unhealthy";
      pill.textContent = check.healthy ? "healthy" : `unhealthy (${check.problems.length})`;
    }
    $("#updated").textContent = new Date(s.generated_at * 1000).toLocaleTimeString();
    $("#updated").dataset.generatedAt = String(s.generated_at);
    $("#where").textContent = s.mode === "receiver" ? `receiver · ${s.url || ""}` : `state folder ${s.state_dir}`;
    $("#title").textContent = s.mode === "receiver" ? "FinOps receiver" : "FinOps generator";
    document.body.dataset.mode = s.mode;
    for (const el of document.querySelectorAll("[data-mode]")) {
      if (el !== document.body) el.hidden = el.dataset.mode !== s.mode;
    }
  }

  function workers(s) {
    const ul = $("#workers");
    ul.replaceChildren(...s.workers.map((w) => {
      const quiet = w.running && w.last_seen_s != null && w.last_seen_s > 120;
      const seen = w.last_seen_s == null ? "" : ` · wrote ${FMT.age(w.last_seen_s)} ago`;
      return h("li", { "data-worker": w.role, "data-running": String(w.running), "data-quiet": String(quiet) },
        h("span", { class: "dot" }), w.role,
        h("small", { text: w.running ? `running${w.pid ? " · pid " + w.pid : ""}${seen}` : "stopped" }));
    }));
    const problems = (s.stats.check && s.stats.check.problems) || [];
    $("#problems").replaceChildren(...problems.map((p) => h("li", { text: p })));
    const clock = s.clock;
    $("#pace-note").textContent = clock ? `${clock.sim_days_per_real_hour} sim days per hour · clock written ${clock.written_s_ago} s ago` : "";
  }

  function lineChart(id, series, data) {
    const el = $("#" + id);
    const width = Math.max(200, el.clientWidth);
    if (!charts[id] || charts[id].series.length !== series.length + 1) {
      if (charts[id]) charts[id].destroy();
      charts[id] = new uPlot({
        width, height: 160, series: [{}, ...series.map((s) => ({ label: s.label, stroke: css(s.color), width: 1.6,
          fill: s.fill ? css(s.color) + "22" : undefined, points: { show: false } }))],
        axes: [{ ...axis(), values: clockTicks }, axis()], scales: { x: { time: true } },
        cursor: { drag: { x: false, y: false } },
        legend: { live: false },
      }, data, el);
    } else {
      charts[id].setData(data);
    }
  }

  const clock = (t, seconds) => new Date(t * 1000).toLocaleTimeString([],
    { hour: "2-digit", minute: "2-digit", second: seconds ? "2-digit" : undefined, hour12: false });
  // Ticks closer than a minute apart get seconds, or two ticks would read the same.
  const clockTicks = (_, ticks) => ticks.map((t) => clock(t, ticks.length > 1 && ticks[1] - ticks[0] < 60));
  const axis = () => ({ stroke: css("--muted"), grid: { stroke: css("--line"), width: 1 }, ticks: { stroke: css("--line") } });

  function backlog(s) {
    const t = s.history.t;
    lineChart("chart-backlog", [
      { label: "intents", color: "--c1" }, { label: "payloads", color: "--c2", fill: true },
      { label: "waiting retry", color: "--c3" }, { label: "dead", color: "--c4" },
    ], [t, s.history.intents, s.history.payloads, s.history.waiting_retry, s.history.dead]);
    lineChart("chart-rate", [{ label: "delivered per second", color: "--c5", fill: true }], [t, s.history.delivered_per_s]);
    const rate = s.rates && s.rates.delivered_per_s;
    $("#rate").textContent = rate == null ? "–" : rate.toLocaleString("en-US", { maximumFractionDigits: 1 });
    $("#rate").dataset.value = JSON.stringify(rate);
  }

  function burstBands(burst) {
    return (u) => {
      const { ctx } = u;
      ctx.save();
      ctx.fillStyle = css("--burst");
      burst.forEach((on, i) => {
        if (!on) return;
        const x0 = u.valToPos(i - 0.5, "x", true), x1 = u.valToPos(i + 0.5, "x", true);
        ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
      });
      ctx.restore();
    };
  }

  function stream(s) {
    const st = s.stream;
    const box = $("#offices");
    if (!st || st.error) {
      box.replaceChildren(h("p", { class: "empty", text: st ? st.error : "no stream yet: the scheduler has not started" }));
      return;
    }
    $("#stream-day").textContent = `${st.day} (UTC) · hour ${st.current_hour}`;
    const hours = st.hours.map((_, i) => i);
    const key = st.day + "|" + st.offices.map((o) => o.name).join(",");
    if (box.dataset.key !== key) {
      box.dataset.key = key;
      for (const id of Object.keys(charts)) if (id.startsWith("office-")) { charts[id].destroy(); delete charts[id]; }
      box.replaceChildren(...st.offices.map((o) => h("div", { class: "office", "data-office": o.name },
        h("h3", {}, o.name, h("small", { class: "office-sum" })), h("div", { class: "chart office-chart" }))));
    }
    st.offices.forEach((o, n) => {
      const wrap = box.children[n];
      const done = o.jobs.filter((v) => v != null);
      const expSoFar = o.expected.slice(0, done.length).reduce((a, b) => a + b, 0);
      wrap.querySelector(".office-sum").textContent =
        `${done.reduce((a, b) => a + b, 0)} jobs so far · ${expSoFar.toFixed(0)} expected`;
      wrap.dataset.jobs = JSON.stringify(o.jobs);
      wrap.dataset.expected = JSON.stringify(o.expected);
      const id = "office-" + n;
      const data = [hours, o.jobs, o.expected];
      if (charts[id]) { charts[id].setData(data); charts[id].__burst = o.burst; return; }
      const el = wrap.querySelector(".office-chart");
      const u = new uPlot({
        width: Math.max(200, el.clientWidth), height: 120, legend: { show: false },
        scales: { x: { time: false, range: [-0.5, 23.5] } },
        axes: [{ ...axis(), splits: () => [0, 6, 12, 18], values: (_, ticks) => ticks.map((v) => String(v).padStart(2, "0") + ":00") },
          { ...axis(), size: 36 }],
        series: [{}, { label: "jobs", fill: css("--c1") + "aa", stroke: css("--c1"), width: 0,
          paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } },
          { label: "expected", stroke: css("--c2"), width: 2, points: { show: false } }],
        hooks: { drawClear: [(self) => burstBands(self.__burst || [])(self)] },
      }, data, el);
      u.__burst = o.burst;
      u.redraw();
      charts[id] = u;
    });
  }

  function bars(box, entries) {
    const top = Math.max(1, ...entries.map(([, v]) => v));
    box.replaceChildren(...entries.map(([name, v]) => {
      const fill = h("div", { class: "fill" });
      fill.style.width = (100 * v / top).toFixed(1) + "%";
      return h("div", { class: "row", "data-name": name, "data-value": String(v) },
        h("span", { class: "name", text: name, title: name }), h("div", { class: "track" }, fill),
        h("span", { class: "amt", text: usd(v) }));
    }));
    if (!entries.length) box.replaceChildren(h("p", { class: "empty", text: "nothing yet" }));
  }

  function money(s) {
    const m = s.money || (s.stream && s.stream.money);
    const note = $("#money-note");
    if (!m) { note.textContent = "no stream yet"; return; }
    const cur = m[span];
    note.textContent = s.mode === "receiver" ? "of the payloads received (request estimates)"
      : "request estimates of the jobs generated so far";
    $("#money-total").textContent = `${usd(cur.estimated_usd)} estimated (list ${usd(cur.list_usd)}) for ${int(cur.jobs)} jobs`
      + (s.mode === "receiver" && cur.day ? ` · ${cur.day}` : "");
    $("#money-total").dataset.value = JSON.stringify(cur.estimated_usd);
    bars($("#money-team"), Object.entries(cur.by_team));
    bars($("#money-cc"), Object.entries(cur.by_cost_center));
  }

  function texts(s) {
    const t = s.texts;
    const colors = { gemini: "--c1", phrasebank: "--c3", offline: "--c6" };
    const entries = Object.entries(t.written);
    const total = entries.reduce((a, [, v]) => a + v, 0);
    $("#share").replaceChildren(...entries.map(([k, v]) => {
      const d = h("div", { title: k });
      d.style.width = total ? (100 * v / total) + "%" : "0";
      d.style.background = css(colors[k] || "--c2");
      return d;
    }));
    $("#share-legend").replaceChildren(...entries.map(([k, v]) => {
      const i = h("i"); i.style.background = css(colors[k] || "--c2");
      return h("li", { "data-writer": k, "data-value": String(v) }, i,
        `${k} ${total ? (100 * v / total).toFixed(0) : 0} % (${int(v)})`);
    }));
    if (!entries.length) $("#share-legend").replaceChildren(h("li", { text: "no text written yet" }));
    $("#quota").textContent = `${int(t.quota_rpd)} a day` + (t.gemini_configured ? ` · ${t.model}` : " · Gemini not configured");
    $("#quota-bar").style.width = Math.min(100, 100 * t.requests_today / Math.max(1, t.quota_rpd)) + "%";
  }

  function fillSelect(sel, values) {
    const want = ["", ...[...new Set(values)].filter((v) => v != null).sort()];
    const have = [...sel.options].map((o) => o.value);
    if (want.join("\u0000") === have.join("\u0000")) return;
    const keep = sel.value;
    sel.replaceChildren(...want.map((v) => h("option", { value: v, text: v || "all" })));
    sel.value = want.includes(keep) ? keep : "";
  }

  function payloads(s) {
    const list = s.payloads || [];
    fillSelect($("#f-team"), list.map((p) => p.team));
    fillSelect($("#f-type"), list.map((p) => p.type));
    fillSelect($("#f-status"), list.map((p) => p.status));
    const f = { team: $("#f-team").value, type: $("#f-type").value, status: $("#f-status").value };
    const shown = list.filter((p) => (!f.team || p.team === f.team) && (!f.type || p.type === f.type) && (!f.status || p.status === f.status));
    const box = $("#payloads");
    const key = JSON.stringify([f, shown.map((p) => [p.id, p.status])]);
    $("#payloads-note").textContent = s.mode === "receiver" ? `newest first · ${list.length} kept`
      : "still in the state folder (delivered ones leave it; the receiver's page shows them)";
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    box.replaceChildren(...shown.map(payloadRow));
    if (!shown.length) box.replaceChildren(h("p", { class: "empty", text: "none right now" }));
  }

  function payloadRow(p) {
    const d = h("details", { "data-id": p.id || "", "data-status": p.status });
    d.open = open.has(p.id);
    d.addEventListener("toggle", () => (d.open ? open.add(p.id) : open.delete(p.id)));
    d.append(h("summary", {},
      h("span", { class: "mono", text: (p.occurred_at || "").slice(0, 16).replace("T", " ") }),
      h("span", { class: "col-opt", text: p.team || "?" }),
      h("span", { class: "col-opt", text: p.job_type || p.type }),
      h("span", { class: "col-opt mono", text: p.gpus }),
      h("span", { class: "badge", "data-status": p.status, text: p.status }),
      h("span", { class: "text", text: p.text })));
    const rows = p.fields.map((f) => h("tr", { class: f.match ? "" : "miss" },
      h("th", { text: f.name }), h("td", { text: f.extracted == null ? "–" : String(f.extracted) }),
      h("td", { text: f.truth == null ? "–" : String(f.truth) })));
    const raw = h("details", { class: "raw" }, h("summary", { text: "raw JSON" }));
    raw.addEventListener("toggle", () => {
      if (raw.open && raw.children.length === 1) raw.append(h("pre", { text: JSON.stringify(p.raw, null, 2) }));
    }, { once: false });
    d.append(h("div", { class: "detail" },
      h("div", {}, h("h3", { text: `request · ${p.enricher || "?"} · ${usd(p.estimated_cost, 2)}` }), h("blockquote", { text: p.text })),
      h("div", {}, h("h3", { text: "extraction vs truth" }),
        h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "field" }), h("th", { text: "extracted" }), h("th", { text: "truth" }))),
          h("tbody", {}, ...rows))),
      raw));
    return d;
  }

  function deadLetters(s) {
    const letters = s.dead_letters || [];
    $("#dead-empty").hidden = letters.length > 0;
    const key = JSON.stringify(letters.map((l) => l.payload_id));
    const body = $("#dead");
    if (body.dataset.key === key) return;
    body.dataset.key = key;
    body.replaceChildren(...letters.slice().reverse().map((l) => {
      const code = h("code", { text: l.command });
      const copy = h("button", { class: "copy", text: "copy", title: "copy the command" });
      copy.addEventListener("click", () => {
        if (navigator.clipboard) navigator.clipboard.writeText(l.command).then(() => (copy.textContent = "copied"), () => {});
        else { const r = document.createRange(); r.selectNodeContents(code); getSelection().removeAllRanges(); getSelection().addRange(r); }
      });
      return h("tr", { "data-id": l.payload_id },
        h("td", { class: "mono", text: l.payload_id }), h("td", { text: l.reason }),
        h("td", { text: l.last_status == null ? "–" : String(l.last_status) }), h("td", { text: String(l.attempts) }),
        h("td", { text: new Date(l.dead_at).toLocaleString() }), h("td", {}, code, copy));
    }));
  }

  function receiver(s) {
    setStats(document, "data-rstat", s.receiver);
    const a = s.receiver.answered || {};
    $("#answered").textContent = "answered: " + (Object.entries(a).map(([k, v]) => `${k} × ${int(v)}`).join(" · ") || "nothing yet");
  }

  function render(s) {
    last = s;
    header(s);
    if (s.mode === "state") {
      setStats(document, "data-stat", s.stats);
      workers(s); backlog(s); stream(s); texts(s); deadLetters(s);
    } else {
      receiver(s);
    }
    money(s); payloads(s);
    if (!document.body.dataset.ready) document.body.dataset.readyMs = String(Math.round(performance.now()));
    document.body.dataset.ready = "true";
  }

  function safely(fn) {
    return (...args) => {
      try { fn(...args); } catch (err) { console.error("dashboard render failed:", err); banner(String(err)); }
    };
  }

  function banner(text) {
    const b = $("#banner");
    b.hidden = !text; b.textContent = text || "";
  }

  let lastMessage = 0;
  function connect() {
    const es = new EventSource("/api/events");
    es.onmessage = safely((ev) => { lastMessage = Date.now(); banner(""); render(JSON.parse(ev.data)); });
    es.addEventListener("problem", (ev) => banner("cannot read the state folder: " + JSON.parse(ev.data)));
    es.onerror = () => { $("#health").dataset.state = "stale"; $("#health").textContent = "reconnecting…"; };
  }
  setInterval(() => {
    if (lastMessage && Date.now() - lastMessage > 10000) { $("#health").dataset.state = "stale"; $("#health").textContent = "no update for 10 s"; }
  }, 2000);

  for (const sel of ["#f-team", "#f-type", "#f-status"]) $(sel).addEventListener("change", () => last && payloads(last));
  for (const b of document.querySelectorAll("#money-tabs button")) {
    b.addEventListener("click", () => {
      span = b.dataset.span;
      for (const o of document.querySelectorAll("#money-tabs button")) o.setAttribute("aria-selected", String(o === b));
      if (last) money(last);
    });
  }
  new ResizeObserver(() => {
    for (const [id, c] of Object.entries(charts)) {
      const el = c.root.parentElement;
      if (el && el.clientWidth && Math.abs(el.clientWidth - c.width) > 4) c.setSize({ width: el.clientWidth, height: c.height });
    }
  }).observe(document.querySelector("main"));
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    for (const id of Object.keys(charts)) { charts[id].destroy(); delete charts[id]; }
    $("#offices").dataset.key = "";
    if (last) render(last);
  });
  connect();
})();
