// The dashboard in headless Chromium (playwright-core, Debian's chromium), driven against a real
// server that e2e/tests/dashboard.rs started. Every step asserts; the first failure exits 1 with
// what was expected and what the page showed. Screenshots go to $SHOTS.
//
// Environment: BASE (server URL), TOKEN (ADMIN_TOKEN), SHOTS (directory), PLAYWRIGHT (module path),
// CTL (a directory: the script creates `restart` there and waits for the test's `restarted`).
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT || "playwright-core");
const assert = require("node:assert/strict");
const path = require("node:path");

const BASE = process.env.BASE;
const TOKEN = process.env.TOKEN;
const SHOTS = process.env.SHOTS;
const CTL = process.env.CTL;
const fs = require("node:fs");
const T = 20000;

const step = (s) => console.log("step: " + s);
const proxy = async (remote, p) => {
  const r = await fetch(`${BASE}/api/v1/remote/${remote}/${p}`);
  await r.arrayBuffer();
  return { status: r.status, cache: r.headers.get("x-cache") };
};
const fig = async (page, name) => Number((await page.textContent(`[data-fig="${name}"]`)).trim());
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name + ".png"), fullPage: true });
// Polls from here: the pages' Content-Security-Policy forbids the eval that waitForFunction needs.
const until = async (page, check, what) => {
  for (const end = Date.now() + T; Date.now() < end; await page.waitForTimeout(150)) {
    if (await check()) return;
  }
  throw new Error("timed out waiting for " + what);
};
const text = async (page, sel) => ((await page.locator(sel).first().textContent({ timeout: T })) || "").trim();
const live = (page) => until(page, async () => (await text(page, "#live-status")).includes("live"), "the live stream");

(async () => {
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--headless"] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // Failed loads (the 401 of a wrong login, a stream cut by navigation) are not script errors.
  page.on("console", (m) => { if (m.type() === "error" && !/Failed to load resource/.test(m.text())) errors.push(m.text()); });

  step("a guarded dashboard sends to the login form, refuses a wrong token, takes the right one");
  await page.goto(`${BASE}/ui/remotes`);
  assert.match(page.url(), /\/ui\/login\?next=%2Fui%2Fremotes$/);
  await shot(page, "login");
  await page.fill("#token", "not-the-token");
  await page.click("button[type=submit]");
  assert.match(await page.textContent("[role=alert]"), /not valid/);
  await page.fill("#token", TOKEN);
  await page.click("button[type=submit]");
  await page.waitForURL(`${BASE}/ui/remotes`);
  const cookie = (await context.cookies()).find((c) => c.name === "aa_ui_token");
  assert.ok(cookie, "login cookie set");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.equal(cookie.path, "/ui");

  step("overview: proxied requests show in the counters and the chart without a reload");
  await page.goto(`${BASE}/ui/`);
  await live(page);
  const before = await fig(page, "requests");
  assert.equal((await proxy("pkgs", "files/a.bin")).cache, "MISS");
  // The copy is committed just after the first answer: ask until it is served from cache.
  let sent = 1, hits = 0;
  while (hits < 4 && sent < 100) {
    if ((await proxy("pkgs", "files/a.bin")).cache === "HIT") hits++;
    sent++;
  }
  assert.equal(hits, 4, "cache hits after the miss");
  await until(page, async () => (await fig(page, "requests")) >= before + sent, `the request counter to grow by ${sent}`);
  await until(page, async () => ((await page.getAttribute("#chart-rps", "points")) || "").length > 0 &&
    ((await page.getAttribute("#chart-hit", "points")) || "").length > 0, "the chart to draw");
  assert.notEqual(await page.textContent('[data-fig="hit_ratio"]'), "–");
  await shot(page, "overview");

  step("live events: rows arrive, pause holds them back, filters hide the others");
  await page.goto(`${BASE}/ui/events`);
  await live(page);
  await proxy("pkgs", "files/b.bin");
  await page.waitForSelector('#event-table tr[data-type="fetch_completed"][data-repo="pkgs"]', { timeout: T });
  await proxy("pkgs", "files/b.bin");
  await page.waitForSelector('#event-table tr[data-type="cache_hit"]', { timeout: T });
  await page.click("#pause");
  const rows = await page.locator("#event-table tbody tr").count();
  await proxy("pkgs", "files/b.bin");
  await until(page, async () => /paused/.test(await text(page, "#event-count")), "the paused count");
  assert.equal(await page.locator("#event-table tbody tr").count(), rows, "no rows while paused");
  await page.click("#pause");
  await page.selectOption("#f-cache", "HIT");
  const shown = await page.$$eval("#event-table tbody tr", (trs) => trs.filter((t) => !t.hidden).map((t) => t.dataset.cache));
  assert.ok(shown.length > 0 && shown.every((c) => c === "HIT"), `only HIT rows shown: ${shown}`);
  await page.selectOption("#f-cache", "");
  await shot(page, "events");

  step("remotes list");
  await page.goto(`${BASE}/ui/remotes`);
  for (const r of ["pkgs", "flaky"]) await page.waitForSelector(`#remotes tr[data-repo="${r}"]`);

  step("object browser: prefix search, sort, evict one behind a confirmation, next request MISS");
  await page.goto(`${BASE}/ui/remotes/pkgs`);
  await page.fill("#prefix", "files/a");
  await page.selectOption("#sort", "last_access");
  await page.click("#objects form button[type=submit]");
  assert.deepEqual(await page.$$eval("#object-table tbody tr", (t) => t.map((r) => r.dataset.path)), ["files/a.bin"]);
  await page.click('#object-table tr[data-path="files/a.bin"] a.danger');
  assert.match(await page.textContent("main"), /every variant of files\/a\.bin/);
  await shot(page, "evict-confirm");
  await page.click("#confirm-evict");
  assert.match(await page.textContent("[role=status].notice"), /Evicted 1 object/);
  assert.equal(await page.locator('#object-table tr[data-path="files/a.bin"]').count(), 0);
  assert.equal((await proxy("pkgs", "files/a.bin")).cache, "MISS", "evicted: the next request goes upstream");

  step("probe form");
  await page.fill("#probe-path", "files/a.bin");
  await page.click("form[action$='/probe'] button");
  await page.waitForSelector("#probe-result");
  assert.match(await page.textContent("#probe-result"), /Upstream answered 200/);
  await shot(page, "remote");

  step("the breaker of a remote whose upstream stopped turns open on the page, live");
  await page.goto(`${BASE}/ui/remotes/flaky`);
  await live(page);
  assert.equal(await page.textContent('[data-for="flaky"]'), "closed");
  const failed = await proxy("flaky", "files/never-cached.bin");
  assert.ok(failed.status >= 500, `upstream down: ${failed.status}`);
  await until(page, async () => (await text(page, '[data-for="flaky"]')) === "open", "the breaker badge to turn open");
  await page.reload();
  assert.equal(await page.textContent('[data-for="flaky"]'), "open");
  assert.match(await page.textContent("#reopens"), /Lets a probe through in/);
  assert.match(await page.textContent("#upstream-error"), /never-cached\.bin/);
  await shot(page, "remote-breaker-open");
  await page.goto(`${BASE}/ui/remotes`);
  assert.equal(await text(page, '#remotes [data-for="flaky"]'), "open");
  await shot(page, "remotes");

  step("virtuals and locals");
  await page.goto(`${BASE}/ui/virtuals`);
  assert.deepEqual(await page.$$eval('section[data-repo="all"] ol.members li a', (a) => a.map((x) => x.textContent)), ["uploads", "pkgs"]);
  await shot(page, "virtuals");
  await page.goto(`${BASE}/ui/locals`);
  await page.click('#locals a[href="/ui/locals/uploads"]');
  await page.click("text=docs/");
  await page.waitForSelector("#files");
  assert.match(await page.textContent("#files"), /docs\/readme\.txt/);
  await shot(page, "local");

  step("access log with filters");
  await page.goto(`${BASE}/ui/access-log?repo=pkgs&cache=MISS`);
  for (let i = 0; i < 30 && (await page.locator("#access-table tbody tr").count()) === 0; i++) {
    await page.waitForTimeout(500);
    await page.reload();
  }
  const caches = await page.$$eval("#access-table tbody tr td:nth-child(6)", (t) => t.map((x) => x.textContent));
  assert.ok(caches.length > 0 && caches.every((c) => c === "MISS"), `MISS rows only: ${caches}`);
  await shot(page, "access-log");

  step("garbage collection: dry run");
  await page.goto(`${BASE}/ui/gc`);
  await page.click("#gc-dry");
  assert.match(await page.textContent("#gc-report"), /dry run/);
  await shot(page, "gc");

  step("half a laptop screen");
  await page.setViewportSize({ width: 700, height: 860 });
  await page.goto(`${BASE}/ui/`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling of the page at 700 px (${overflow} px too wide)`);
  await shot(page, "overview-narrow");

  step("keyboard: the skip link is the first stop and leads to the content");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");

  step("the live events page comes back by itself after the server restarts");
  await page.goto(`${BASE}/ui/events`);
  await live(page);
  fs.writeFileSync(path.join(CTL, "restart"), "");
  let sawReconnecting = false;
  await until(page, async () => {
    if ((await text(page, "#live-status")).includes("reconnecting")) sawReconnecting = true;
    return fs.existsSync(path.join(CTL, "restarted"));
  }, "the test to restart the server");
  await until(page, async () => {
    const t = await text(page, "#live-status");
    if (t.includes("reconnecting")) sawReconnecting = true;
    return sawReconnecting && t.includes("live");
  }, "the stream to be live again");
  const rowsBefore = await page.locator("#event-table tbody tr").count();
  await proxy("pkgs", "files/b.bin");
  await until(page, async () => (await page.locator("#event-table tbody tr").count()) > rowsBefore, "an event after the restart");

  step("logout ends the session");
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.click("text=Log out");
  await page.waitForURL(/\/ui\/login/);
  await page.goto(`${BASE}/ui/`);
  assert.match(page.url(), /\/ui\/login/);

  step("without JavaScript: login, browse, evict through the confirmation");
  const plain = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 860 } });
  const nojs = await plain.newPage();
  await nojs.goto(`${BASE}/ui/remotes/pkgs`);
  await nojs.fill("#token", TOKEN);
  await nojs.click("button[type=submit]");
  await nojs.waitForURL(`${BASE}/ui/remotes/pkgs`);
  await nojs.fill("#prefix", "files/b");
  await nojs.click("#objects form button[type=submit]");
  await nojs.click('#object-table tr[data-path="files/b.bin"] a.danger');
  await nojs.click("#confirm-evict");
  assert.match(await nojs.textContent("[role=status].notice"), /Evicted 1 object/);
  assert.equal((await proxy("pkgs", "files/b.bin")).cache, "MISS");
  await plain.close();

  assert.deepEqual(errors, [], "no script errors");
  await browser.close();
  console.log("dashboard: all steps passed");
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
