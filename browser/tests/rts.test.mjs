// A Real-Time Scheduling link's page in chromium, as the person given the
// link sees it: the times by day, axe-core clean, a pick that books the
// event, calls the application back and lands on redirect_urls.completed_url.
// And the Organizational Unit consent page: an admin allows the application
// and the browser lands on its redirect_uri with a code.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { api, axe, launchChromium, screenshot, startConvene } from '../lib/harness.mjs';

const ADMIN = 'admin@links.example';
const PASSWORD = 'links are go 42';
let convene;
let browser;
let site;
let base;
let host;
const callbacks = [];

before(async () => {
  convene = await startConvene({ ou: 'Links', adminEmail: ADMIN, adminPassword: PASSWORD });
  const [s, b] = await api(convene.base, 'POST', '/v1/application_calendars', {
    body: { client_id: convene.app.client_id, client_secret: convene.app.client_secret, application_calendar_id: 'host' },
  });
  assert.equal(s, 200, JSON.stringify(b));
  host = b;
  const [, cals] = await api(convene.base, 'GET', '/v1/calendars', { bearer: host.access_token });
  host.calendar_id = cals.calendars[0].calendar_id;
  // The application: a thank-you page and the callback receiver.
  site = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      if (req.method === 'POST') {
        callbacks.push(JSON.parse(body));
        res.writeHead(200).end();
      } else {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html lang="en"><title>Thanks</title><h1 id="thanks">Thanks</h1></html>');
      }
    });
  });
  await new Promise((ok) => site.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${site.address().port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  site?.close();
  await convene?.stop();
});

test('a Real-Time Scheduling link books the picked time and redirects', async () => {
  const day = new Date(Date.now() + 2 * 24 * 3600 * 1000).toISOString().slice(0, 10);
  const [s, created] = await api(convene.base, 'POST', '/v1/real_time_scheduling', {
    bearer: convene.app.client_secret,
    body: {
      event: { event_id: 'interview', summary: 'Interview with Globex' },
      availability: {
        participants: [{ members: [{ sub: host.sub }], required: 'all' }],
        required_duration: { minutes: 60 },
        query_periods: [{ start: `${day}T09:00:00Z`, end: `${day}T12:00:00Z` }],
      },
      target_calendars: [{ sub: host.sub, calendar_id: host.calendar_id }],
      tzid: 'Europe/London',
      callback_urls: { completed_url: `${base}/callback` },
      redirect_urls: { completed_url: `${base}/thanks` },
    },
  });
  assert.equal(s, 200, JSON.stringify(created));
  const link = created.real_time_scheduling;
  const page = await browser.newPage();
  await page.goto(link.url);
  assert.equal(await page.locator('h1').innerText(), 'Interview with Globex');
  assert.equal(await page.locator('input[name="slot"]').count(), 5);
  assert.deepEqual(await axe(page), [], 'axe on the link page');
  await screenshot(page, 'rts-link');
  await page.locator('input[name="slot"]').nth(2).check({ force: true });
  await Promise.all([page.waitForURL(`${base}/thanks`), page.locator('#confirm').click()]);
  const [, st] = await api(convene.base, 'GET', `/v1/real_time_scheduling/${link.real_time_scheduling_id}`, { bearer: convene.app.client_secret });
  assert.equal(st.real_time_scheduling.status, 'completed');
  assert.equal(st.real_time_scheduling.event.start.time, `${day}T10:00:00Z`);
  for (let i = 0; i < 100 && callbacks.length === 0; i++) await new Promise((ok) => setTimeout(ok, 100));
  assert.equal(callbacks[0]?.event?.event_id, 'interview', JSON.stringify(callbacks));
  // The link now shows the booking.
  await page.goto(link.url);
  assert.ok(await page.locator('#confirmation').isVisible());
  await page.close();
});

test('an admin grants the application organizational_unit_scheduler', async () => {
  const page = await browser.newPage();
  const redirect = `${base}/cb`;
  await page.goto(`${convene.base}/oauth/authorize?response_type=code&client_id=${convene.app.client_id}&redirect_uri=${encodeURIComponent(redirect)}&scope=organizational_unit_scheduler&state=s1`);
  assert.ok(await page.locator('#consent').isVisible());
  assert.deepEqual(await axe(page), [], 'axe on the consent page');
  await screenshot(page, 'ou-consent');
  await page.fill('#email', ADMIN);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL((u) => u.href.startsWith(redirect)), page.locator('#allow').click()]);
  const back = new URL(page.url());
  assert.equal(back.searchParams.get('state'), 's1');
  const [s, tok] = await api(convene.base, 'POST', '/oauth/token', {
    body: { client_id: convene.app.client_id, client_secret: convene.app.client_secret, grant_type: 'authorization_code', code: back.searchParams.get('code'), redirect_uri: redirect },
  });
  assert.equal(s, 200, JSON.stringify(tok));
  assert.equal(tok.scope, 'organizational_unit_scheduler');
  const [qs] = await api(convene.base, 'POST', '/v1/scheduling_requests/query', { bearer: tok.access_token, body: { scheduling_request_ids: ['srq_unknown'] } });
  assert.equal(qs, 200);
  await page.close();
});
