// Convene's pages in a real browser (Debian's chromium, headless, driven by
// playwright-core): an admin signs in and builds a template in the editor, a
// request is created through the API, the recipient picks a time in their
// own zone on a phone, reschedules and declines; the admin follows it at
// dashboard_url. axe-core runs on every page: no serious or critical
// violations. Screenshots go to artifacts/screenshots/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { api, axe, hhmm, launchChromium, publish, screenshot, startConvene, watch } from '../lib/harness.mjs';

const ADMIN = 'doc.brown@hillvalley.example';
const PASSWORD = 'flux capacitor 1.21';
const OU = 'Hill Valley';
const DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

let convene;
let browser;
let receiver;
/** What the application's webhook received: {headers, body}. */
const received = [];
let adminPage;
let phone;
let recipientPage;
const problems = [];
const accounts = {};
const world = {};

/** Fails on serious or critical axe violations of the page as it is now. */
async function audit(page, what) {
  const violations = await axe(page);
  assert.deepEqual(violations, [], `axe on ${what} (${page.url()})`);
}

async function createRequest(recipient = { email: 'marty@hillvalley.example', display_name: 'Marty McFly' }) {
  const [s, b] = await api(convene.base, 'POST', '/v1/scheduling_requests', {
    bearer: convene.app.client_secret,
    body: { template: { sub: world.templateSub }, recipients: [{ ...recipient, slot_selector: true }] },
  });
  assert.equal(s, 200, JSON.stringify(b));
  return b.scheduling_request;
}

async function requestState(id) {
  const [s, b] = await api(convene.base, 'POST', '/v1/scheduling_requests/query', {
    bearer: convene.app.client_secret,
    body: { scheduling_request_ids: [id] },
  });
  assert.equal(s, 200);
  return b.scheduling_requests[0].scheduling_request;
}

before(async () => {
  convene = await startConvene({ ou: OU, adminEmail: ADMIN, adminPassword: PASSWORD });
  // Doc hosts; three assistants form a pool of which one joins each lesson.
  for (const name of ['doc', 'einstein', 'jennifer', 'biff']) {
    const [s, b] = await api(convene.base, 'POST', '/v1/application_calendars', {
      body: { client_id: convene.app.client_id, client_secret: convene.app.client_secret, application_calendar_id: name },
    });
    assert.equal(s, 200, JSON.stringify(b));
    accounts[name] = b;
    const [rs, rb] = await api(convene.base, 'POST', '/v1/availability_rules', {
      bearer: b.access_token,
      body: {
        availability_rule_id: 'work',
        tzid: 'Etc/UTC',
        weekly_periods: DAYS.map((day) => ({ day, start_time: '08:00', end_time: '18:00' })),
      },
    });
    assert.equal(rs, 200, JSON.stringify(rb));
  }
  // The application's webhook endpoint.
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(body) });
      res.writeHead(200).end();
    });
  });
  await new Promise((ok) => receiver.listen(0, '127.0.0.1', ok));
  browser = await launchChromium();
  const admin = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/London', locale: 'en-GB' });
  adminPage = watch(await admin.newPage(), problems);
  // The recipient is on a phone in New York.
  phone = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    timezoneId: 'America/New_York', locale: 'en-US',
  });
  recipientPage = watch(await phone.newPage(), problems);
});

after(async () => {
  await browser?.close();
  receiver?.close();
  await convene?.stop();
});

test('an admin signs in', async () => {
  const page = adminPage;
  await page.goto(`${convene.base}/dashboard/templates`);
  // Not signed in: sent to the sign-in page, which remembers where to go.
  assert.match(page.url(), /\/dashboard\/sign-in\?next=%2Fdashboard%2Ftemplates$/);
  await audit(page, 'sign-in');
  await page.fill('#email', ADMIN);
  await page.fill('#password', 'wrong password');
  await page.click('button[type=submit]');
  await page.locator('#message').waitFor();
  assert.match(await page.textContent('#message'), /do not match/);
  await audit(page, 'sign-in refused');
  await page.fill('#password', PASSWORD);
  await screenshot(page, 'sign-in');
  await Promise.all([page.waitForURL(/\/dashboard\/templates$/), page.click('button[type=submit]')]);
  assert.equal(await page.textContent('#admin-email'), ADMIN);
  assert.equal(await page.textContent('#ou-name'), OU);
  await audit(page, 'templates (empty)');
});

test('the admin builds a template in the editor', async () => {
  const page = adminPage;
  await page.click('#new-template');
  await page.waitForURL(/\/dashboard\/templates\/new$/);
  await audit(page, 'new template editor');
  await page.fill('#name', 'Driving lessons');
  await page.selectOption('#tzid', 'Europe/London');
  await page.check('#host-kind-host');
  await page.selectOption('#host', accounts.doc.sub);
  await page.fill('#g0-name', 'Technical Assistant Pool');
  for (const n of ['einstein', 'jennifer', 'biff']) {
    await page.check(`input[name="groups[0][members][]"][value="${accounts[n].sub}"]`);
  }
  await page.selectOption('#g0-required', '1');
  await page.fill('#summary', 'Driving lesson: Marty & Doc');
  await page.fill('#description', "Don't forget your video camera.");
  await page.fill('#location', 'Twin Pines Mall');
  await page.fill('#before', '10');
  await page.fill('#start_interval', '30');
  await page.check('#window-days');
  await page.fill('#days', '7');
  // A duration the API refuses: the editor shows the API's own words.
  await page.fill('#duration', '0');
  await page.click('#save');
  await page.locator('#errors').waitFor();
  assert.match(await page.textContent('#errors'), /duration must be 1 to 1440 minutes/);
  assert.equal(await page.getAttribute('#duration', 'aria-invalid'), 'true');
  // What was typed is still there.
  assert.equal(await page.inputValue('#name'), 'Driving lessons');
  assert.equal(await page.isChecked(`input[name="groups[0][members][]"][value="${accounts.biff.sub}"]`), true);
  await audit(page, 'editor with errors');
  await screenshot(page, 'template-editor-errors');
  await page.fill('#duration', '30');
  await Promise.all([page.waitForURL(/\/dashboard\/templates\/sgr_[0-9a-f]+\?saved=1$/), page.click('#save')]);
  world.templateSub = page.url().match(/(sgr_[0-9a-f]+)/)[1];
  assert.match(await page.textContent('#message'), /Template saved/);
  assert.equal(await page.getAttribute('#problems', 'data-count'), '0');
  await audit(page, 'saved template editor');
  const shot = await screenshot(page, 'template-editor');
  publish(shot, 'template-editor');
  // The API reads back what the editor built.
  const [s, b] = await api(convene.base, 'GET', `/v1/scheduling_templates/${world.templateSub}`, { bearer: convene.app.client_secret });
  assert.equal(s, 200);
  const t = b.scheduling_template;
  assert.deepEqual(t.host, { sub: accounts.doc.sub });
  assert.equal(t.collaborator_groups.length, 1);
  assert.equal(t.collaborator_groups[0].required, 1);
  assert.equal(t.collaborator_groups[0].members.length, 3);
  assert.deepEqual(t.duration, { minutes: 30 });
  assert.deepEqual(t.buffer, { before: { minutes: 10 } });
  assert.equal(t.tzid, 'Europe/London');
  await page.click('nav >> text=Templates');
  await page.locator('#templates').waitFor();
  assert.match(await page.textContent('#templates'), /Driving lessons[\s\S]*Ready/);
  await audit(page, 'templates list');
  await screenshot(page, 'templates');
});

test('the admin sets the application webhook URL', async () => {
  const page = adminPage;
  await page.click('nav >> text=Webhooks');
  await page.waitForURL(/\/dashboard\/webhooks$/);
  await audit(page, 'webhooks (empty log)');
  const field = `#url-${convene.app.client_id}`;
  // The API's rules apply: no cloud metadata endpoints.
  await page.fill(field, 'http://169.254.169.254/latest');
  await page.click(`#app-${convene.app.client_id} button[type=submit]`);
  await page.locator(`${field}-error`).waitFor();
  await audit(page, 'webhooks with an error');
  const url = `http://127.0.0.1:${receiver.address().port}/convene`;
  await page.fill(field, url);
  await Promise.all([page.waitForURL(/saved=1$/), page.click(`#app-${convene.app.client_id} button[type=submit]`)]);
  assert.equal(await page.inputValue(field), url);
  const [, a] = await api(convene.base, 'GET', '/v1/application', { bearer: convene.app.client_secret });
  assert.equal(a.application.webhook_url, url);
});

test('a request is created through the API', async () => {
  const r = await createRequest();
  assert.equal(r.slot_selection, 'pending');
  assert.ok(r.primary_select_url.startsWith(`${convene.base}/rts/`));
  assert.equal(r.dashboard_url, `${convene.base}/dashboard/requests/${r.scheduling_request_id}`);
  world.request = r;
});

test('the recipient opens primary_select_url in their own zone, changes it, picks a slot', async () => {
  const page = recipientPage;
  await page.goto(world.request.primary_select_url);
  // Detected in the browser: times are shown in New York time at once.
  await page.waitForURL(/\?tz=America%2FNew_York$/);
  assert.equal(await page.inputValue('#tz'), 'America/New_York');
  const first = page.locator('input[name="slot"]').first();
  const firstValue = await first.getAttribute('value');
  assert.equal((await page.locator('label.slot span').first().textContent()).trim(), hhmm(firstValue, 'America/New_York'));
  // Grouped by day, every day's slots under their own heading.
  assert.ok((await page.locator('fieldset.day legend').count()) >= 5);
  // Readable on a phone: nothing wider than the screen.
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
  await audit(page, 'slot picker (New York)');
  const shot = await screenshot(page, 'slot-picker', { fullPage: false });
  publish(shot, 'slot-picker');
  await screenshot(page, 'slot-picker-full');

  // The recipient is travelling: Tokyo. The page re-renders in that zone.
  await Promise.all([page.waitForURL(/\?tz=Asia%2FTokyo$/), page.selectOption('#tz', 'Asia/Tokyo')]);
  assert.equal(await page.inputValue('#tz'), 'Asia/Tokyo');
  const labels = page.locator('label.slot');
  const n = await labels.count();
  assert.ok(n > 3);
  for (const i of [0, 1, n - 1]) {
    const value = await labels.nth(i).locator('input').getAttribute('value');
    assert.equal((await labels.nth(i).locator('span').textContent()).trim(), hhmm(value, 'Asia/Tokyo'));
  }
  await audit(page, 'slot picker (Tokyo)');
  await screenshot(page, 'slot-picker-tokyo', { fullPage: false });
  // Remembered: a fresh visit without ?tz comes back in Tokyo time.
  await page.goto(world.request.primary_select_url);
  await page.waitForURL(/\?tz=Asia%2FTokyo$/);

  const pick = labels.nth(2);
  world.chosen = await pick.locator('input').getAttribute('value');
  await pick.click();
  assert.equal(await pick.locator('input').isChecked(), true);
  await page.click('#confirm');
  await page.locator('#confirmation').waitFor();
  const booked = await page.textContent('#booked-time');
  assert.match(booked, new RegExp(`${hhmm(world.chosen, 'Asia/Tokyo')}.*\\(Asia/Tokyo\\)`));
  await audit(page, 'confirmation');
  await screenshot(page, 'confirmation');
  const q = await requestState(world.request.scheduling_request_id);
  assert.equal(q.slot_selection, 'complete');
  assert.equal(q.event.start.time, world.chosen);
});

test('the admin sees the request complete at dashboard_url', async () => {
  const page = adminPage;
  await page.goto(world.request.dashboard_url);
  assert.equal(await page.getAttribute('#state', 'data-state'), 'complete');
  const members = await page.textContent('#booked-members');
  assert.match(members, /doc/);
  assert.match(members, /einstein|jennifer|biff/);
  assert.match(await page.textContent('#recipient'), /Marty McFly <marty@hillvalley\.example>/);
  assert.match(await page.textContent('#history'), /booked/);
  await audit(page, 'request page (complete)');
  await screenshot(page, 'request-complete');
  await page.goto(`${convene.base}/dashboard/requests`);
  await page.click('#filters >> text=Complete');
  await page.waitForURL(/state=complete$/);
  assert.equal(await page.locator(`#requests tr[data-id="${world.request.scheduling_request_id}"]`).count(), 1);
  await audit(page, 'requests list (complete)');
  await screenshot(page, 'requests');
  await page.click('#filters >> text=Cancelled');
  await page.locator('#empty').waitFor();
  await audit(page, 'requests list (empty filter)');
});

test('the admin follows webhook deliveries and replays one', async () => {
  const page = adminPage;
  // The worker sends within moments; the log shows it delivered.
  const row = page.locator('#deliveries tr[data-state="delivered"]', { hasText: 'scheduling_request_time_chosen' });
  for (let i = 0; i < 50 && (await row.count()) === 0; i++) {
    await page.goto(`${convene.base}/dashboard/webhooks`);
    if ((await row.count()) === 0) await page.waitForTimeout(200);
  }
  assert.equal(await row.count(), 1);
  const first = received.find((r) => r.body.notification.type === 'scheduling_request_time_chosen');
  assert.ok(first, 'the webhook received the notification');
  assert.ok(first.headers['cronofy-hmac-sha256'], 'signed');
  assert.equal(first.body.scheduling_request.scheduling_request_id, world.request.scheduling_request_id);
  await audit(page, 'webhooks delivery log');
  await screenshot(page, 'webhooks');
  const original = await row.getAttribute('data-id');
  await Promise.all([page.waitForURL(/replayed=dlv_/), row.locator('button.replay').click()]);
  assert.match(await page.textContent('#message'), /Queued again/);
  for (let i = 0; i < 50 && received.filter((r) => r.body.notification.type === 'scheduling_request_time_chosen').length < 2; i++) {
    await page.waitForTimeout(100);
  }
  const copies = received.filter((r) => r.body.notification.type === 'scheduling_request_time_chosen');
  assert.equal(copies.length, 2, 'the replay arrived');
  assert.deepEqual(copies[1].body, copies[0].body);
  assert.notEqual(copies[1].headers['convene-delivery-id'], copies[0].headers['convene-delivery-id']);
  await page.reload();
  assert.match(await page.textContent('#deliveries'), new RegExp(`replay of ${original}`));
});

test('the recipient reschedules', async () => {
  const page = recipientPage;
  await page.click('#reschedule');
  await page.locator('#confirm-reschedule').waitFor();
  await audit(page, 'reschedule confirmation');
  await Promise.all([page.waitForLoadState('load'), page.click('#confirm-reschedule button[type=submit]')]);
  await page.locator('#pick').waitFor();
  assert.match(await page.textContent('#message'), /Choose a new time/);
  const other = page.locator(`label.slot:not(:has(input[value="${world.chosen}"]))`).nth(4);
  const moved = await other.locator('input').getAttribute('value');
  await other.click();
  await page.click('#confirm');
  await page.locator('#confirmation').waitFor();
  assert.match(await page.textContent('#booked-time'), new RegExp(hhmm(moved, 'Asia/Tokyo')));
  const q = await requestState(world.request.scheduling_request_id);
  assert.equal(q.slot_selection, 'complete');
  assert.equal(q.event.start.time, moved);
  await audit(page, 'confirmation after rescheduling');
});

test('the recipient declines', async () => {
  const page = recipientPage;
  await page.click('#decline');
  await page.locator('#confirm-decline').waitFor();
  await audit(page, 'decline confirmation');
  await screenshot(page, 'decline');
  await Promise.all([page.waitForLoadState('load'), page.click('#confirm-decline button[type=submit]')]);
  await page.locator('#cancelled').waitFor();
  await audit(page, 'declined');
  const q = await requestState(world.request.scheduling_request_id);
  assert.equal(q.slot_selection, 'cancelled');
  await adminPage.goto(world.request.dashboard_url);
  assert.equal(await adminPage.getAttribute('#state', 'data-state'), 'cancelled');
  assert.match(await adminPage.textContent('#history'), /declined by the recipient/);
  assert.equal(await adminPage.locator('#cancel-request').count(), 0);
  await audit(adminPage, 'request page (cancelled)');
});

test('the recipient pages work without JavaScript', async () => {
  const r = await createRequest({ email: 'lorraine@hillvalley.example', display_name: 'Lorraine Baines' });
  const ctx = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 390, height: 844 }, timezoneId: 'America/New_York' });
  const page = watch(await ctx.newPage(), problems);
  await page.goto(r.primary_select_url);
  // No detection without JS: the template's zone, and a button to change it.
  assert.equal(await page.inputValue('#tz'), 'Europe/London');
  assert.equal(await page.isVisible('#tz-apply'), true);
  await page.selectOption('#tz', 'America/Los_Angeles');
  await Promise.all([page.waitForURL(/tz=America%2FLos_Angeles/), page.click('#tz-apply')]);
  const first = page.locator('label.slot').first();
  const value = await first.locator('input').getAttribute('value');
  assert.equal((await first.locator('span').textContent()).trim(), hhmm(value, 'America/Los_Angeles'));
  await first.click();
  await page.click('#confirm');
  await page.locator('#confirmation').waitFor();
  assert.match(await page.textContent('#booked-time'), /America\/Los_Angeles/);
  await ctx.close();
  world.second = r;
});

test('the admin cancels a request from its page, then signs out', async () => {
  const page = adminPage;
  await page.goto(world.second.dashboard_url);
  assert.equal(await page.getAttribute('#state', 'data-state'), 'complete');
  page.once('dialog', (d) => d.accept());
  await Promise.all([page.waitForURL(/\?cancelled=1$/), page.click('#cancel-request')]);
  assert.equal(await page.getAttribute('#state', 'data-state'), 'cancelled');
  assert.match(await page.textContent('#history'), new RegExp(`cancelled in the dashboard by ${ADMIN.replace(/\./g, '\\.')}`));
  await audit(page, 'request page (cancelled by the admin)');
  assert.equal((await requestState(world.second.scheduling_request_id)).slot_selection, 'cancelled');
  await Promise.all([page.waitForURL(/\/dashboard\/sign-in$/), page.click('#sign-out')]);
  await page.goto(`${convene.base}/dashboard/requests`);
  assert.match(page.url(), /\/dashboard\/sign-in/);
});

test('a conversation participant known only by email chooses on their page', async () => {
  const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  const dayAfter = new Date(Date.now() + 2 * 86400000).toISOString().slice(0, 10);
  const [s, b] = await api(convene.base, 'POST', '/v1/scheduling_conversations', {
    bearer: accounts.doc.access_token,
    body: {
      participants: [
        { sub: accounts.doc.sub, common_name: 'Doc', managed_availability: true, slots: { selection_method: 'auto' } },
        { email: 'george@hillvalley.example', common_name: 'George McFly', slots: { selection_method: 'manual' } },
      ],
      tzid: 'America/New_York',
      subject: 'Science fair',
      required_duration: { minutes: 30 },
      available_periods: [{ start: `${tomorrow}T00:00:00Z`, end: `${dayAfter}T00:00:00Z` }],
    },
  });
  assert.equal(s, 200, JSON.stringify(b));
  // The page the invitation mail links to shares the participant's token.
  const token = b.scheduling_conversation.participants[1].possible_actions.slots_list.url.split('/participants/')[1].split('/')[0];
  const ctx = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 390, height: 844 } });
  const page = watch(await ctx.newPage(), problems);
  await page.goto(`${convene.base}/conversations/${token}`);
  assert.match(await page.textContent('h1'), /Science fair/);
  await page.locator('label.slot').first().click();
  await page.click('#confirm');
  await page.locator('#confirmation').waitFor();
  await ctx.close();
  await recipientPage.goto(`${convene.base}/conversations/${token}`);
  await recipientPage.locator('#confirmation').waitFor();
  await audit(recipientPage, 'conversation participant page (booked)');
  const [rs, rb] = await api(convene.base, 'GET', `/v1/scheduling_conversations/${b.scheduling_conversation.scheduling_conversation_id}`, {
    bearer: accounts.doc.access_token,
  });
  assert.equal(rs, 200);
  assert.equal(rb.scheduling_conversation.status, 'complete');
});

test('a person connects an ICS feed on the authorize page, without JavaScript', async () => {
  // The feed and the application's callback, both served here.
  const start = new Date(Date.now() + 3 * 86400e3);
  start.setUTCHours(9, 0, 0, 0);
  const stamp = (d) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const ics = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//browser suite//EN', 'X-WR-CALNAME:Hill Valley High',
    'BEGIN:VEVENT', 'UID:dance-1', 'DTSTAMP:20260101T000000Z', `DTSTART:${stamp(start)}`,
    `DTEND:${stamp(new Date(start.getTime() + 3600e3))}`, 'SUMMARY:Enchantment Under the Sea', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  const side = createServer((req, res) => {
    if (req.url.startsWith('/feed.ics')) res.writeHead(200, { 'content-type': 'text/calendar' }).end(ics);
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html lang="en"><title>Connected</title><h1>Connected</h1></html>');
  });
  await new Promise((ok) => side.listen(0, '127.0.0.1', ok));
  const sideBase = `http://127.0.0.1:${side.address().port}`;
  const redirect = `${sideBase}/oauth/callback`;
  convene.setRedirectUri(redirect);
  const q = new URLSearchParams({ response_type: 'code', client_id: convene.app.client_id, redirect_uri: redirect, scope: 'read_write', state: 'st-1' });
  const url = `${convene.base}/oauth/authorize?${q}`;
  // axe runs as a script: audit with scripts on (the page has none).
  const auditCtx = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const auditPage = watch(await auditCtx.newPage(), problems);
  await auditPage.goto(url);
  assert.match(await auditPage.textContent('h1'), /Connect your calendar to Browser suite/);
  await audit(auditPage, 'authorize page');
  const shot = await screenshot(auditPage, 'authorize');
  publish(shot, 'authorize');
  // A CalDAV server that does not answer: the page again, saying so.
  await auditPage.fill('#server_url', 'http://127.0.0.1:9/');
  await auditPage.fill('#username', 'marty');
  await auditPage.fill('#password', 'hoverboard');
  await auditPage.click('#connect-caldav');
  await auditPage.locator('#message').waitFor();
  assert.match(await auditPage.textContent('#message'), /could not be reached/);
  assert.equal(await auditPage.inputValue('#username'), 'marty');
  await audit(auditPage, 'authorize page (server unreachable)');
  await screenshot(auditPage, 'authorize-error');
  await auditCtx.close();
  // Without JavaScript, the feed connects: back to the application with a
  // code and the state.
  const ctx = await browser.newContext({ javaScriptEnabled: false });
  const page = watch(await ctx.newPage(), problems);
  await page.goto(url);
  await page.fill('#ics_url', `${sideBase}/feed.ics`);
  await Promise.all([page.waitForURL(/\/oauth\/callback\?code=/), page.click('#connect-ics')]);
  const back = new URL(page.url());
  assert.equal(back.searchParams.get('state'), 'st-1');
  const [s, tok] = await api(convene.base, 'POST', '/oauth/token', {
    body: { client_id: convene.app.client_id, client_secret: convene.app.client_secret, grant_type: 'authorization_code', code: back.searchParams.get('code'), redirect_uri: redirect },
  });
  assert.equal(s, 200, JSON.stringify(tok));
  assert.equal(tok.linking_profile.provider_name, 'ics');
  assert.equal(tok.linking_profile.profile_name, 'Hill Valley High');
  await ctx.close();
  side.close();
});

test('no script errors or CSP refusals on any page', () => {
  assert.deepEqual(problems, []);
});
