// Cronofy's own UI Elements (npm cronofy-elements 1.67.7, pinned in
// package.json) against Convene, the way a customer embeds them: a page on
// another origin loads dist/CronofyElements.js with `api_domain` pointing at
// Convene and an element token from POST /v1/element_tokens. In headless
// chromium the Slot Picker lists Convene's free slots and fires
// `slot_selected`, the Availability Viewer shows the free blocks, and the
// Availability Rules element loads and saves a rule that
// GET /v1/availability_rules then returns.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, launchChromium, ROOT, screenshot, startConvene } from '../lib/harness.mjs';

const BUNDLE = readFileSync(join(ROOT, 'browser', 'node_modules', 'cronofy-elements', 'dist', 'CronofyElements.js'));

let convene;
let browser;
let site;
let origin;
let host;
const seen = [];

/** Tomorrow (UTC) as YYYY-MM-DD. */
function tomorrow() {
  return new Date(Date.now() + 24 * 3600 * 1000).toISOString().slice(0, 10);
}

/** The customer's page: the bundle, and the elements mounted from `window.SETUP`. */
function pageHtml(setup) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Booking</title></head><body>
<script src="/CronofyElements.js"></script>
<div id="el"></div>
<script>
window.NOTES = [];
const s = ${JSON.stringify(setup)};
s.options.callback = (n) => window.NOTES.push(n);
CronofyElements[s.element](s.options);
</script></body></html>`;
}

async function elementToken(permissions) {
  const [s, b] = await api(convene.base, 'POST', '/v1/element_tokens', {
    bearer: convene.app.client_secret,
    body: { version: '1', permissions, subs: [host.sub], origin },
  });
  assert.equal(s, 200, JSON.stringify(b));
  return b.element_token.token;
}

/** Opens the customer's page mounting one element. */
async function mount(element, options) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => seen.push(`page error: ${e.message}`));
  page.on('request', (r) => { if (r.url().startsWith(convene.base)) seen.push(`${r.method()} ${r.url()}`); });
  const id = `${element}-${Date.now()}`;
  pages.set(id, pageHtml({ element, options: { target_id: 'el', api_domain: convene.base, tzid: 'Etc/UTC', ...options } }));
  await page.goto(`${origin}/page/${id}`);
  return page;
}

const pages = new Map();

function query() {
  const day = tomorrow();
  return {
    participants: [{ required: 'all', members: [{ sub: host.sub }] }],
    required_duration: { minutes: 60 },
    query_periods: [{ start: `${day}T09:00:00Z`, end: `${day}T12:00:00Z` }],
  };
}

before(async () => {
  convene = await startConvene({ ou: 'Elements', adminEmail: 'admin@elements.example', adminPassword: 'elements are go 42' });
  const [s, b] = await api(convene.base, 'POST', '/v1/application_calendars', {
    body: { client_id: convene.app.client_id, client_secret: convene.app.client_secret, application_calendar_id: 'host' },
  });
  assert.equal(s, 200, JSON.stringify(b));
  host = b;
  // Busy 10:00–11:00 tomorrow: the free slots are 09:00 and 11:00.
  const day = tomorrow();
  const [cs, cals] = await api(convene.base, 'GET', '/v1/calendars', { bearer: host.access_token });
  assert.equal(cs, 200);
  host.calendar_id = cals.calendars[0].calendar_id;
  const [es] = await api(convene.base, 'POST', `/v1/calendars/${host.calendar_id}/events`, {
    bearer: host.access_token,
    body: { event_id: 'busy', summary: 'Busy', start: `${day}T10:00:00Z`, end: `${day}T11:00:00Z` },
  });
  assert.equal(es, 202);
  site = createServer((req, res) => {
    if (req.url === '/CronofyElements.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(BUNDLE);
    } else if (req.url.startsWith('/page/') && pages.has(req.url.slice(6))) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(pages.get(req.url.slice(6)));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok) => site.listen(0, '127.0.0.1', ok));
  origin = `http://127.0.0.1:${site.address().port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  site?.close();
  await convene?.stop();
});

test('the Slot Picker lists Convene\'s free slots and fires slot_selected', async () => {
  const et = await elementToken(['availability']);
  const page = await mount('SlotPicker', { element_token: et, availability_query: query() });
  // Days first; the one day with free time opens its slots.
  const day = page.locator('#el button').filter({ hasText: /\d/ }).first();
  await day.waitFor({ timeout: 15000 });
  await day.click();
  const times = page.locator('#el button').filter({ hasText: /^\s*\d{1,2}:\d{2}/ });
  await times.first().waitFor({ timeout: 10000 });
  const labels = (await times.allInnerTexts()).map((t) => t.trim().match(/^(\d{1,2}:\d{2})/)[1]);
  await screenshot(page, 'elements-slot-picker');
  assert.deepEqual(labels, ['9:00', '11:00'], `slots shown: ${labels}`);
  await times.nth(1).click();
  await page.locator('#el button', { hasText: 'Confirm' }).click();
  await page.waitForFunction(() => window.NOTES.some((n) => n.notification && n.notification.type === 'slot_selected'), null, { timeout: 10000 });
  const note = (await page.evaluate(() => window.NOTES)).find((n) => n.notification.type === 'slot_selected');
  assert.equal(note.notification.slot.start, `${tomorrow()}T11:00:00Z`);
  assert.equal(note.notification.slot.participants[0].sub, host.sub);
  await page.close();
});

test('the Availability Viewer shows the free blocks', async () => {
  const et = await elementToken(['availability']);
  const q = { ...query(), start_interval: { minutes: 60 } };
  const page = await mount('AvailabilityViewer', {
    element_token: et,
    availability_query: q,
    config: { start_time: '08:00', end_time: '13:00', interval: 60 },
  });
  // Free 09:00 and 11:00 (hourly); 10:00 is busy.
  const free = page.locator('#el .CronofyAvailabilityViewer__slot-background--available');
  await free.first().waitFor({ timeout: 15000 });
  await screenshot(page, 'elements-availability-viewer');
  assert.equal(await free.count(), 2);
  assert.ok(await page.locator('#el .CronofyAvailabilityViewer__slot-background--unavailable').count() > 0);
  assert.ok(seen.some((r) => r.startsWith(`POST ${convene.base}/v1/availability?et=`)), `no availability call: ${seen}`);
  await page.close();
});

test('the Availability Rules element loads and saves a rule', async () => {
  const et = await elementToken(['managed_availability']);
  const page = await mount('AvailabilityRules', {
    element_token: et,
    availability_rule_id: 'work_hours',
    config: { start_time: '08:00', end_time: '18:00', duration: 60 },
  });
  const save = page.locator('#el button', { hasText: /save/i });
  await save.waitFor({ timeout: 15000 });
  await screenshot(page, 'elements-availability-rules');
  await save.click();
  await page.waitForFunction(() => window.NOTES.some((n) => n.notification && n.notification.type === 'availability_rule_saved'), null, { timeout: 10000 });
  const [s, b] = await api(convene.base, 'GET', '/v1/availability_rules', { bearer: host.access_token });
  assert.equal(s, 200);
  const rule = b.availability_rules.find((r) => r.availability_rule_id === 'work_hours');
  assert.ok(rule, JSON.stringify(b));
  assert.ok(rule.weekly_periods.length > 0, JSON.stringify(rule));
  await page.close();
});

test('no page errors', () => {
  assert.deepEqual(seen.filter((s) => s.startsWith('page error')), []);
});
