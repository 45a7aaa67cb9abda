// artifactapi dashboard: the live parts only. Pages are complete without this file.
// One EventSource per page on /ui/live/events (the /api/v2/events stream behind the dashboard's
// login); the browser reconnects by itself, sending Last-Event-ID, and this script starts a new
// stream when the browser gave up (the server answered an error while restarting).
"use strict";
(function () {
  const KINDS = ["fetch_started", "fetch_completed", "fetch_failed", "cache_hit", "cache_stale", "revalidated",
    "coalesced", "breaker_opened", "breaker_half_open", "breaker_closed", "config_created", "config_updated",
    "config_deleted", "eviction", "gc_run", "push_completed", "dependency_down", "dependency_up", "lagged"];
  const HIT = { cache_hit: "HIT", cache_stale: "STALE", revalidated: "REVALIDATED", fetch_completed: "MISS", fetch_started: "MISS" };
  const $ = (s, root) => (root || document).querySelector(s);
  const $$ = (s, root) => Array.from((root || document).querySelectorAll(s));
  const handlers = [];
  const status = $("#live-status");

  function setStatus(on, text) {
    if (!status) return;
    status.textContent = text;
    status.className = "live-status " + (on ? "on" : "off");
  }

  // Each page asks only for the events it shows: framing every cache hit for a page that only
  // shows breaker states would cost the server for nothing.
  let wanted = null;
  let source = null;
  function connect() {
    const query = wanted ? "?type=" + Array.from(wanted).join(",") : "";
    source = new EventSource("/ui/live/events" + query);
    source.onopen = () => setStatus(true, "● live");
    source.onerror = () => {
      setStatus(false, "reconnecting…");
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    };
    for (const kind of KINDS) {
      source.addEventListener(kind, (m) => {
        let ev;
        try { ev = JSON.parse(m.data); } catch (_) { return; }
        ev.id = m.lastEventId;
        for (const h of handlers) h(ev);
      });
    }
  }

  // Confirmation for forms that destroy something (the server still checks everything).
  for (const f of $$("form[data-confirm]")) {
    f.addEventListener("submit", (e) => { if (!confirm(f.dataset.confirm)) e.preventDefault(); });
  }

  // Breaker badges anywhere on the page follow breaker events.
  const BREAKER = { breaker_opened: ["open", "bad"], breaker_half_open: ["half-open", "warn"], breaker_closed: ["closed", "ok"] };
  handlers.push((ev) => {
    const b = BREAKER[ev.type];
    if (!b) return;
    for (const el of $$("[data-breaker]")) {
      if (el.dataset.for !== ev.repository) continue;
      el.textContent = b[0];
      el.dataset.breaker = b[0];
      el.className = "badge " + b[1];
    }
  });

  // Figures: refreshed from /ui/live/stats when events say something changed, at most once a second.
  const figs = $$("[data-fig]");
  if (figs.length) {
    const bytes = (n) => {
      const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
      let i = 0, v = n;
      while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
      return i === 0 ? n + " B" : v.toFixed(1) + " " + u[i];
    };
    const ratio = (r) => (r === null || r === undefined) ? "–" : (r * 100).toFixed(1) + " %";
    let pending = false;
    const refresh = () => {
      if (pending) return;
      pending = true;
      setTimeout(() => {
        fetch("/ui/live/stats", { credentials: "same-origin" }).then((r) => r.ok ? r.json() : null).then((s) => {
          pending = false;
          if (!s) return;
          const t = s.total, st = s.storage;
          const values = {
            requests: t.requests, hits: t.hits, misses: t.misses, stale: t.stale, revalidated: t.revalidated,
            hit_ratio: ratio(t.hit_ratio), bytes_served: bytes(t.bytes_served),
            bytes_saved: bytes(Math.max(0, t.bytes_served - t.bytes_fetched)), bytes: bytes(st.bytes), blobs: st.blobs,
            dedup: (st.dedup_saving_bytes < 0 ? "−" : "") + bytes(Math.abs(st.dedup_saving_bytes)),
          };
          for (const el of figs) if (el.dataset.fig in values) el.textContent = values[el.dataset.fig];
          for (const r of s.repositories) {
            const row = $('tr[data-repo="' + CSS.escape(r.name) + '"]');
            if (!row) continue;
            const set = (k, v) => { const c = $('[data-repo-fig="' + k + '"]', row); if (c) c.textContent = v; };
            set("requests", r.requests); set("hit_ratio", ratio(r.hit_ratio)); set("bytes_served", bytes(r.bytes_served));
          }
        }).catch(() => { pending = false; });
      }, 1000);
    };
    handlers.push((ev) => { if (ev.type in HIT || ev.type === "fetch_failed" || ev.type === "eviction") refresh(); });
    setInterval(refresh, 15000);
  }

  // The chart: 90 buckets of 10 s (15 minutes) of hits and misses seen on the stream.
  const chart = $("#chart");
  if (chart) {
    const N = 90, STEP = 1000 * Number(chart.dataset.step || 10);
    const buckets = Array.from({ length: N }, () => ({ hits: 0, misses: 0 }));
    let head = Math.floor(Date.now() / STEP);
    // The access log's history, bucketed by the server: [[start in seconds, hits, misses], ...].
    try {
      for (const [start, hits, misses] of JSON.parse(chart.dataset.history || "[]")) {
        const i = N - 1 - (head - Math.floor(start * 1000 / STEP));
        if (i >= 0 && i < N) buckets[i] = { hits: hits, misses: misses };
      }
    } catch (_) { /* no history: the live part still works */ }
    const roll = () => {
      const now = Math.floor(Date.now() / STEP);
      for (; head < now; head++) { buckets.shift(); buckets.push({ hits: 0, misses: 0 }); }
    };
    handlers.push((ev) => {
      roll();
      const c = HIT[ev.type];
      if (!c || ev.type === "fetch_started") return;
      const b = buckets[N - 1];
      if (c === "MISS") b.misses++; else b.hits++;
      draw();
    });
    const draw = () => {
      const rps = buckets.map((b) => (b.hits + b.misses) / (STEP / 1000));
      const max = Math.max(0.1, ...rps);
      const x = (i) => (i * 900 / (N - 1)).toFixed(1);
      const y = (v) => (200 - v * 190).toFixed(1);
      $("#chart-rps").setAttribute("points", rps.map((v, i) => x(i) + "," + y(v / max)).join(" "));
      // The hit ratio of each bucket with requests, as a short level segment so one bucket shows.
      const hit = [];
      buckets.forEach((b, i) => {
        const n = b.hits + b.misses;
        if (n) hit.push((Math.max(0, i - 0.5) * 900 / (N - 1)).toFixed(1) + "," + y(b.hits / n), x(i) + "," + y(b.hits / n));
      });
      $("#chart-hit").setAttribute("points", hit.join(" "));
      $("#chart-max").textContent = max.toFixed(1);
    };
    setInterval(() => { roll(); draw(); }, 1000);
    draw();
  }

  // The live events table.
  const table = $("#event-table tbody");
  if (table) {
    const MAX = 500;
    let paused = false, seen = 0;
    const fRepo = $("#f-repo"), fType = $("#f-type"), fCache = $("#f-cache"), count = $("#event-count");
    const visible = (tr) => (!fRepo.value || tr.dataset.repo === fRepo.value) &&
      (!fType.value || tr.dataset.type === fType.value) && (!fCache.value || tr.dataset.cache === fCache.value);
    const apply = () => { for (const tr of $$("tr", table)) tr.hidden = !visible(tr); };
    for (const f of [fRepo, fType, fCache]) f.addEventListener("change", apply);
    const pause = $("#pause");
    pause.addEventListener("click", () => {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      pause.textContent = paused ? "Resume" : "Pause";
    });
    $("#clear").addEventListener("click", () => { table.textContent = ""; });
    handlers.push((ev) => {
      seen++;
      count.textContent = seen + " events received" + (paused ? " (paused: new ones are not shown)" : "");
      if (paused) return;
      const tr = document.createElement("tr");
      tr.className = "new";
      tr.dataset.repo = ev.repository || "";
      tr.dataset.type = ev.type;
      tr.dataset.cache = HIT[ev.type] || "";
      const cells = [new Date(ev.time).toLocaleTimeString(), ev.type, ev.repository || "", ev.path || "",
        ev.status === undefined ? "" : String(ev.status), ev.size === undefined ? "" : String(ev.size),
        ev.duration_ms === undefined ? "" : String(ev.duration_ms), ev.replica || ""];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (i === 5 || i === 6) td.className = "num";
        tr.appendChild(td);
      });
      tr.hidden = !visible(tr);
      table.insertBefore(tr, table.firstChild);
      while (table.rows.length > MAX) table.deleteRow(table.rows.length - 1);
    });
  }

  if (!table) {
    wanted = new Set(Object.keys(BREAKER));
    if (figs.length || chart) {
      for (const k of ["cache_hit", "cache_stale", "revalidated", "fetch_completed", "fetch_failed", "eviction"]) wanted.add(k);
    }
  }
  if (table || figs.length || chart || $$("[data-breaker]").length) connect();
})();
