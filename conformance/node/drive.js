#!/usr/bin/env node
// Conformance driver: Cronofy's official Node SDK (npm cronofy 3.8.4) against Convene.
//
// Environment: CONVENE_URL, CONVENE_CLIENT_ID, CONVENE_CLIENT_SECRET; NODE_PATH must let
// require('cronofy') resolve. Prints one line per check (`ok - name` /
// `not ok - name: reason`) and a summary `conformance-node: N passed, N failed`.
// Exits 1 if any check failed.
'use strict';

const path = require('path');
const crypto = require('crypto');
const Cronofy = require('cronofy');

const URL = process.env.CONVENE_URL.replace(/\/+$/, '');
const CLIENT_ID = process.env.CONVENE_CLIENT_ID;
const CLIENT_SECRET = process.env.CONVENE_CLIENT_SECRET;
const RUN = crypto.randomBytes(5).toString('hex');
const SDK_VERSION = require(path.join(path.dirname(require.resolve('cronofy')), '..', 'package.json')).version;

// ---------------------------------------------------------------------------
// Wire log: the SDK calls the axios instance it resolves from its own folder, so we
// register interceptors on that same instance to see statuses and count pages.
// ---------------------------------------------------------------------------
const axios = require(require.resolve('axios', { paths: [path.dirname(require.resolve('cronofy'))] }));
const WIRE = [];
axios.interceptors.response.use(
  (res) => { WIRE.push({ method: res.config.method.toUpperCase(), url: res.config.url, status: res.status }); return res; },
  (err) => {
    if (err.response) {
      WIRE.push({ method: err.config.method.toUpperCase(), url: err.config.url, status: err.response.status, data: err.config.data });
    }
    return Promise.reject(err);
  }
);
const lastStatus = () => (WIRE.length ? WIRE[WIRE.length - 1].status : null);

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------
let PASSED = 0;
let FAILED = 0;

function check (name, cond, detail) {
  if (cond) {
    PASSED++;
    console.log(`ok - ${name}`);
  } else {
    FAILED++;
    console.log(`not ok - ${name}: ${detail || 'assertion failed'}`);
  }
  return !!cond;
}

const show = (v) => { const s = JSON.stringify(v); return s && s.length > 600 ? s.slice(0, 600) + '...' : s; };

function describe (err) {
  if (err && err.statusCode) {
    const url = err.error && err.error.url;
    const req = WIRE.slice().reverse().find((w) => w.url === url && w.status === err.statusCode);
    const body = req && req.data ? ` body=${String(req.data).slice(0, 300)}` : '';
    return `${req ? req.method + ' ' : ''}${url}${body} -> HTTP ${err.statusCode} ${show(err.error && err.error.entity)}`;
  }
  if (err && err.response) {
    return `${err.config && err.config.method} ${err.config && err.config.url} -> HTTP ${err.response.status} ${show(err.response.data)}`;
  }
  return String((err && err.stack) || err);
}

async function section (name, fn) {
  try {
    await fn();
  } catch (err) {
    check(`${name} (unexpected error)`, false, describe(err));
  }
}

async function expectHttpError (name, status, fn) {
  try {
    await fn();
  } catch (err) {
    return check(name, err.statusCode === status, `expected HTTP ${status}, got ${describe(err)}`);
  }
  return check(name, false, `expected HTTP ${status}, call succeeded with HTTP ${lastStatus()}`);
}

// ---------------------------------------------------------------------------
// Time helpers (all wire times are 'YYYY-MM-DDTHH:MM:SSZ')
// ---------------------------------------------------------------------------
const MIN = 60 * 1000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const isoDate = (ms) => new Date(ms).toISOString().slice(0, 10);
const parse = (s) => Date.parse(s);
const now = new Date();
const TODAY = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
const day = (n, hour = 0, minute = 0) => TODAY + n * DAY + hour * HOUR + minute * MIN;
const overlaps = (as, ae, bs, be) => as < be && bs < ae;

// Offset (ms) of time zone `tz` at instant `ms`.
function tzOffset (ms, tz) {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit'
  });
  const p = Object.fromEntries(fmt.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - ms;
}

// UTC instant of local wall time y-m-d hh:mm in tz.
function zonedToUtc (y, m, d, hh, mm, tz) {
  const guess = Date.UTC(y, m - 1, d, hh, mm);
  let t = guess - tzOffset(guess, tz);
  t = guess - tzOffset(t, tz);
  return t;
}

// UTC windows [s, e) of a weekly-periods availability rule around [from, to].
function ruleWindows (rule, from, to) {
  const names = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
  const out = [];
  for (let d = from - 2 * DAY; d <= to + 2 * DAY; d += DAY) {
    const date = new Date(d);
    const [y, m, dd] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
    for (const p of rule.weekly_periods) {
      if (p.day !== names[date.getUTCDay()]) continue;
      const [sh, sm] = p.start_time.split(':').map(Number);
      const [eh, em] = p.end_time.split(':').map(Number);
      out.push([zonedToUtc(y, m, dd, sh, sm, rule.tzid), zonedToUtc(y, m, dd, eh, em, rule.tzid)]);
    }
  }
  return out;
}

const withinAny = (s, e, windows) => windows.some(([ws, we]) => ws <= s && e <= we);

function subtract (intervals, busy) {
  let out = intervals.slice();
  for (const [bs, be] of busy) {
    const next = [];
    for (const [s, e] of out) {
      if (!overlaps(s, e, bs, be)) { next.push([s, e]); continue; }
      if (s < bs) next.push([s, bs]);
      if (be < e) next.push([be, e]);
    }
    out = next;
  }
  return out.sort((x, y) => x[0] - y[0]);
}

function intersect (a, b) {
  const out = [];
  for (const [s1, e1] of a) {
    for (const [s2, e2] of b) {
      const s = Math.max(s1, s2); const e = Math.min(e1, e2);
      if (s < e) out.push([s, e]);
    }
  }
  return out.sort((x, y) => x[0] - y[0]);
}

// ---------------------------------------------------------------------------
// SDK helpers
// ---------------------------------------------------------------------------
function appClient () {
  const c = new Cronofy({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
  c.urls.api = URL;
  return c;
}

function accountClient (accessToken, refreshToken) {
  const c = new Cronofy({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, access_token: accessToken, refresh_token: refreshToken });
  c.urls.api = URL;
  return c;
}

async function newApplicationCalendar (label) {
  const res = await appClient().applicationCalendar({ application_calendar_id: `conf-node-${label}-${RUN}` });
  return { client: accountClient(res.access_token, res.refresh_token), sub: res.sub };
}

async function firstCalendar (client) {
  const { calendars } = await client.listCalendars();
  if (calendars.length) return calendars[0].calendar_id;
  const { profiles } = await client.profileInformation();
  const res = await client.createCalendar({ profile_id: profiles[0].profile_id, name: `Conformance ${RUN}` });
  return res.calendar.calendar_id;
}

// Call a paginated SDK method, then follow pages.next_page by passing {next_page} back.
async function readPaged (client, method, key, options) {
  const first = await client[method](options);
  const items = [...first[key]];
  let res = first;
  let requests = 1;
  while (res.pages && res.pages.next_page) {
    if (requests > 100) throw new Error(`${method}: more than 100 pages`);
    res = await client[method]({ next_page: res.pages.next_page });
    items.push(...res[key]);
    requests++;
  }
  return { first, items, requests };
}

// ---------------------------------------------------------------------------
// Shared state between sections
// ---------------------------------------------------------------------------
const S = {};

// 1. Application calendar
async function applicationCalendar () {
  const id = `conf-node-${RUN}`;
  const first = await appClient().applicationCalendar({ application_calendar_id: id });
  check('applicationCalendar: HTTP 200', lastStatus() === 200, `got ${lastStatus()}`);
  check('applicationCalendar: access_token', typeof first.access_token === 'string' && first.access_token, show(first));
  check('applicationCalendar: refresh_token', typeof first.refresh_token === 'string' && first.refresh_token, show(first));
  check('applicationCalendar: expires_in > 0', Number.isInteger(first.expires_in) && first.expires_in > 0, `expires_in=${first.expires_in}`);
  const sub = first.sub || '';
  check('applicationCalendar: sub starts with apc_/acc_', /^(apc_|acc_)/.test(sub), `sub=${show(first.sub)}`);

  const again = await appClient().applicationCalendar({ application_calendar_id: id });
  check('applicationCalendar: same id gives same sub', again.sub === sub, `first ${sub}, second ${again.sub}`);

  S.sub = sub;
  S.client = accountClient(again.access_token, again.refresh_token);
  S.tokens = { access: again.access_token, refresh: again.refresh_token };
}

// 2. Identity: userinfo, account, profiles, calendars
async function identity () {
  const c = S.client;
  const info = await c.userInfo();
  check('userInfo: sub matches application calendar', info.sub === S.sub, `userinfo sub=${info.sub}, expected ${S.sub}`);

  const { account } = await c.accountInformation();
  check('accountInformation: account_id present', account && typeof account.account_id === 'string' && account.account_id, show(account));

  const { profiles } = await c.profileInformation();
  check('profileInformation: at least one with profile_id', profiles.length >= 1 && profiles.every((p) => p.profile_id), show(profiles));

  const { calendars } = await c.listCalendars();
  check('listCalendars: at least one', calendars.length >= 1, show(calendars));
  const missing = calendars.filter((x) => !(x.calendar_id && 'calendar_name' in x && x.profile_id));
  check('listCalendars: calendar_id, calendar_name, profile_id on each', missing.length === 0, `incomplete: ${show(missing)}`);

  const name = `Conformance ${RUN}`;
  const created = await c.createCalendar({ profile_id: profiles[0].profile_id, name });
  check('createCalendar: calendar.calendar_id returned', created && created.calendar && created.calendar.calendar_id, show(created));
  S.cal = created.calendar.calendar_id;
  const listed = (await c.listCalendars()).calendars.filter((x) => x.calendar_id === S.cal);
  check('createCalendar: new calendar is listed with its name', listed.length === 1 && listed[0].calendar_name === name, show(listed));
}

// 3. Events: upsert, paging, free/busy, delete, bulk delete
const EV_FROM = day(3);
const EV_TO = day(6);

function eventPlan () {
  const plan = {};
  for (let i = 0; i < 60; i++) {
    const start = day(3 + Math.floor(i / 20), 6) + 45 * MIN * (i % 20);
    const id = `conf-evt-${String(i).padStart(2, '0')}`;
    plan[id] = { event_id: id, summary: `Conformance event ${i}`, description: 'node conformance', start: iso(start), end: iso(start + 30 * MIN), tzid: 'Etc/UTC' };
  }
  return plan;
}

const eventQuery = (cal) => ({ from: iso(EV_FROM), to: iso(EV_TO), tzid: 'Etc/UTC', calendar_ids: [cal], include_managed: true });

async function events () {
  const c = S.client; const cal = S.cal;
  const plan = eventPlan();
  const statuses = new Set();
  for (const ev of Object.values(plan)) {
    await c.createEvent({ calendar_id: cal, ...ev });
    statuses.add(lastStatus());
  }
  check('createEvent x60: all HTTP 202', statuses.size === 1 && statuses.has(202), `statuses=${show([...statuses])}`);

  plan['conf-evt-07'].summary = 'Conformance event 7 (updated)';
  await c.createEvent({ calendar_id: cal, ...plan['conf-evt-07'] });
  check('createEvent (update): HTTP 202', lastStatus() === 202, `got ${lastStatus()}`);

  const { first, items, requests } = await readPaged(c, 'readEvents', 'events', eventQuery(cal));
  check('readEvents: first page has 50 events', first.events.length === 50, `first page had ${first.events.length}`);
  check('readEvents: first page has pages.next_page', first.pages && typeof first.pages.next_page === 'string', show(first.pages));
  check('readEvents: pages.total >= 2 on first page', first.pages && first.pages.total >= 2, show(first.pages));
  check('readEvents: next_page is an absolute URL on the public base', String(first.pages && first.pages.next_page).startsWith(URL + '/'), show(first.pages));
  check('readEvents: more than one page fetched', requests >= 2, `requests=${requests}`);

  const mine = items.filter((e) => e.calendar_id === cal);
  const counts = {};
  for (const e of mine) counts[e.event_id] = (counts[e.event_id] || 0) + 1;
  const ids = Object.keys(plan);
  const missingIds = ids.filter((id) => !counts[id]);
  const dup = Object.keys(counts).filter((id) => counts[id] > 1);
  const extra = Object.keys(counts).filter((id) => !plan[id]);
  check('readEvents: all 60 events exactly once', mine.length === 60 && !missingIds.length && !dup.length && !extra.length,
    `got ${mine.length}, missing=${show(missingIds.slice(0, 5))}, duplicated=${show(dup.slice(0, 5))}, unexpected=${show(extra.slice(0, 5))}`);
  const byId = Object.fromEntries(mine.map((e) => [e.event_id, e]));
  const wrong = ids.filter((id) => byId[id] && byId[id].summary !== plan[id].summary);
  check('readEvents: summaries (incl. the updated one) as upserted', !wrong.length,
    `wrong for ${show(wrong.slice(0, 5))}${wrong.length ? ', e.g. ' + show(byId[wrong[0]].summary) : ''}`);
  const wrongTimes = ids.filter((id) => byId[id] && (byId[id].start !== plan[id].start || byId[id].end !== plan[id].end));
  check('readEvents: start/end echoed as YYYY-MM-DDTHH:MM:SSZ', !wrongTimes.length,
    wrongTimes.length ? `e.g. ${wrongTimes[0]}: sent ${plan[wrongTimes[0]].start}/${plan[wrongTimes[0]].end} got ${show(byId[wrongTimes[0]].start)}/${show(byId[wrongTimes[0]].end)}` : '');
  check('readEvents: each event carries an event_uid', mine.every((e) => e.event_uid), show(mine.find((e) => !e.event_uid)));

  // Free/busy over the same window.
  const fb = (await readPaged(c, 'freeBusy', 'free_busy', eventQuery(cal))).items.filter((b) => b.calendar_id === cal);
  check('freeBusy: one block per event', fb.length === 60, `got ${fb.length} blocks for the calendar`);
  check('freeBusy: every block is busy', fb.length && fb.every((b) => b.free_busy_status === 'busy'), show([...new Set(fb.map((b) => b.free_busy_status))]));
  const blocks = new Set(fb.map((b) => `${b.start}|${b.end}`));
  const uncovered = ids.filter((id) => !blocks.has(`${plan[id].start}|${plan[id].end}`));
  check("freeBusy: a block at each event's start/end", !uncovered.length, `no block for ${show(uncovered.slice(0, 5))}`);

  // Delete one event.
  await c.deleteEvent({ calendar_id: cal, event_id: 'conf-evt-00' });
  check('deleteEvent: HTTP 202', lastStatus() === 202, `got ${lastStatus()}`);
  let after = (await readPaged(c, 'readEvents', 'events', eventQuery(cal))).items.filter((e) => e.calendar_id === cal);
  const stillThere = after.some((e) => e.event_id === 'conf-evt-00');
  check('deleteEvent: event gone from readEvents', !stillThere && after.length === 59, `${after.length} events left, deleted one present=${stillThere}`);

  // Bulk delete by calendar (node: JSON body {"calendar_ids": [...]}).
  await c.bulkDeleteEvents({ calendar_ids: [cal] });
  check('bulkDeleteEvents({calendar_ids}): HTTP 202', lastStatus() === 202, `got ${lastStatus()}`);
  after = (await readPaged(c, 'readEvents', 'events', eventQuery(cal))).items.filter((e) => e.calendar_id === cal);
  check('bulkDeleteEvents({calendar_ids}): no events left in calendar', after.length === 0, `${after.length} events left`);
}

// 4. Availability rules CRUD
const normPeriods = (ps) => (ps || []).map((p) => `${p.day} ${p.start_time}-${p.end_time}`).sort().join(',');
const sameRule = (got, want) => !!got &&
  got.availability_rule_id === want.availability_rule_id &&
  got.tzid === want.tzid &&
  JSON.stringify(got.calendar_ids) === JSON.stringify(want.calendar_ids) &&
  normPeriods(got.weekly_periods) === normPeriods(want.weekly_periods);

async function availabilityRules () {
  const c = S.client;
  const rule = {
    availability_rule_id: 'work',
    tzid: 'America/Chicago',
    calendar_ids: [S.cal],
    weekly_periods: [
      { day: 'monday', start_time: '09:30', end_time: '16:30' },
      { day: 'wednesday', start_time: '09:30', end_time: '12:30' }
    ]
  };
  let res = await c.upsertAvailabilityRule(rule);
  check('upsertAvailabilityRule: echoes the rule under availability_rule', sameRule(res && res.availability_rule, rule), show(res));

  res = await c.readAvailabilityRule({ availability_rule_id: 'work' });
  check('readAvailabilityRule: returns the rule', sameRule(res && res.availability_rule, rule), show(res));

  res = await c.listAvailabilityRules();
  const listed = (res.availability_rules || []).filter((r) => r.availability_rule_id === 'work');
  check('listAvailabilityRules: contains the rule', listed.length === 1 && sameRule(listed[0], rule), show(res));

  await c.deleteAvailabilityRule({ availability_rule_id: 'work' });
  check('deleteAvailabilityRule: HTTP 202', lastStatus() === 202, `got ${lastStatus()}`);
  await expectHttpError('readAvailabilityRule after delete: 404', 404, () => c.readAvailabilityRule({ availability_rule_id: 'work' }));
  res = await c.listAvailabilityRules();
  check('listAvailabilityRules after delete: rule gone', !(res.availability_rules || []).some((r) => r.availability_rule_id === 'work'), show(res));
}

// 5. Available periods (not in pycronofy)
async function availablePeriods () {
  const c = S.client;
  const ap = { available_period_id: `conf-ap-${RUN}`, start: iso(day(9, 9)), end: iso(day(9, 12, 30)) };
  await c.upsertAvailablePeriod(ap);
  check('upsertAvailablePeriod: HTTP 202', lastStatus() === 202, `got ${lastStatus()}`);

  const query = { from: isoDate(day(9)), to: isoDate(day(11)), tzid: 'Etc/UTC' };
  let { items } = await readPaged(c, 'listAvailablePeriods', 'available_periods', query);
  const listed = items.filter((p) => p.available_period_id === ap.available_period_id);
  check('listAvailablePeriods: contains the period with start/end as upserted',
    listed.length === 1 && listed[0].start === ap.start && listed[0].end === ap.end, show(items));

  await c.deleteAvailablePeriods({ available_period_id: ap.available_period_id });
  check('deleteAvailablePeriods: HTTP 202', lastStatus() === 202, `got ${lastStatus()}`);
  ({ items } = await readPaged(c, 'listAvailablePeriods', 'available_periods', query));
  check('listAvailablePeriods after delete: period gone', !items.some((p) => p.available_period_id === ap.available_period_id), show(items));
}

// 6. Availability: three accounts, rules, busy events, periods and slots
const D = 7; const D1 = 8; // query days, relative to today (UTC)

function checkShape (name, list) {
  const ok = Array.isArray(list) && list.every((p) => typeof p.start === 'string' && typeof p.end === 'string' &&
    Array.isArray(p.participants) && p.participants.every((x) => x && x.sub));
  return check(name, ok, show(list));
}

async function availabilitySetup () {
  const a = S.client; const aSub = S.sub;
  const aCal = S.cal || await firstCalendar(a);
  const B = await newApplicationCalendar('b');
  const C = await newApplicationCalendar('c');
  const bSub = B.sub; const cSub = C.sub;
  const bCal = await firstCalendar(B.client);
  const cCal = await firstCalendar(C.client);
  check('availability setup: three distinct subs', new Set([aSub, bSub, cSub]).size === 3, show([aSub, bSub, cSub]));

  const everyDay = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
  const rules = {
    [bSub]: { availability_rule_id: 'conf-hours', tzid: 'America/Chicago', calendar_ids: [bCal], weekly_periods: everyDay.map((d) => ({ day: d, start_time: '09:00', end_time: '17:00' })) },
    [cSub]: { availability_rule_id: 'conf-hours', tzid: 'Etc/UTC', calendar_ids: [cCal], weekly_periods: everyDay.map((d) => ({ day: d, start_time: '12:00', end_time: '22:00' })) }
  };
  await B.client.upsertAvailabilityRule(rules[bSub]);
  await C.client.upsertAvailabilityRule(rules[cSub]);

  const busy = {
    [aSub]: [[day(D, 15), day(D, 16)], [day(D1, 18), day(D1, 19, 30)]],
    [bSub]: [[day(D, 17), day(D, 17, 30)], [day(D1, 16), day(D1, 17)]],
    [cSub]: [[day(D, 19), day(D, 20)], [day(D1, 20), day(D1, 21)]]
  };
  for (const [client, cal, sub] of [[a, aCal, aSub], [B.client, bCal, bSub], [C.client, cCal, cSub]]) {
    for (let i = 0; i < busy[sub].length; i++) {
      const [s, e] = busy[sub][i];
      await client.createEvent({ calendar_id: cal, event_id: `conf-busy-${i}`, summary: 'Busy', start: iso(s), end: iso(e), tzid: 'Etc/UTC' });
    }
  }

  S.av = { aCal, bSub, cSub, busy, windows: { [bSub]: ruleWindows(rules[bSub], day(D), day(D1 + 1)), [cSub]: ruleWindows(rules[cSub], day(D), day(D1 + 1)) } };
}

const query = [[day(D, 6), day(D, 23)], [day(D1, 6), day(D1, 23)]];
const queryPeriods = query.map(([s, e]) => ({ start: iso(s), end: iso(e) }));
const inQuery = (s, e) => query.some(([qs, qe]) => qs <= s && e <= qe);
const spansOf = (list) => list.map((p) => ({ p, s: parse(p.start), e: parse(p.end), subs: new Set((p.participants || []).map((x) => x.sub)) }));
const eg = (xs) => show(xs.slice(0, 3).map((x) => x.p));

// 6a. periods, one group, required all: A (its calendar) and B (managed availability).
async function availabilityPeriods () {
  const a = S.client; const aSub = S.sub;
  const { aCal, bSub, busy, windows } = S.av;
  const res = await a.availability({
    participants: [{ members: [{ sub: aSub, calendar_ids: [aCal] }, { sub: bSub, managed_availability: true }], required: 'all' }],
    required_duration: { minutes: 60 },
    query_periods: queryPeriods,
    response_format: 'periods'
  });
  const periods = res.available_periods;
  checkShape('availability periods: available_periods list of {start,end,participants[{sub}]}', periods);
  check('availability periods: non-empty', Array.isArray(periods) && periods.length > 0, show(res));
  const spans = spansOf(periods || []);
  let bad = spans.filter((x) => !inQuery(x.s, x.e));
  check('availability periods: all inside the query periods', !bad.length, eg(bad));
  bad = spans.filter((x) => x.e - x.s < HOUR);
  check('availability periods: each at least required_duration long', !bad.length, eg(bad));
  bad = spans.filter((x) => !(x.subs.has(aSub) && x.subs.has(bSub)));
  check('availability periods: participants list both required members', !bad.length, eg(bad));
  bad = spans.filter((x) => [aSub, bSub].some((sub) => busy[sub].some(([bs, be]) => overlaps(x.s, x.e, bs, be))));
  check('availability periods: nothing overlaps a busy event', !bad.length, eg(bad));
  bad = spans.filter((x) => !withinAny(x.s, x.e, windows[bSub]));
  check("availability periods: inside B's availability rule hours", !bad.length, eg(bad));
  check('availability periods: constructed free time found (day D 18:00-21:00Z)',
    spans.some((x) => x.s <= day(D, 18) && day(D, 21) <= x.e), show(periods));
  const expected = subtract(intersect(query, windows[bSub]), busy[aSub].concat(busy[bSub])).filter(([s, e]) => e - s >= HOUR);
  const gotPairs = spans.map((x) => [x.s, x.e]).sort((x, y) => x[0] - y[0]);
  check('availability periods: exactly the expected free periods', JSON.stringify(gotPairs) === JSON.stringify(expected),
    `expected ${show(expected.map(([s, e]) => [iso(s), iso(e)]))}, got ${show((periods || []).map((p) => [p.start, p.end]))}`);

}

// 6b. slots, two groups: A required; one of B/C required; 30-minute interval, 15-minute buffers.
async function availabilitySlots () {
  const a = S.client; const aSub = S.sub;
  const { aCal, bSub, cSub, busy, windows } = S.av;
  const before = 15 * MIN; const after = 15 * MIN;
  const res = await a.availability({
    participants: [
      { members: [{ sub: aSub, calendar_ids: [aCal] }], required: 'all' },
      { members: [{ sub: bSub, managed_availability: true }, { sub: cSub, managed_availability: true }], required: 1 }
    ],
    required_duration: { minutes: 60 },
    start_interval: { minutes: 30 },
    buffer: { before: { minutes: 15 }, after: { minutes: 15 } },
    query_periods: queryPeriods,
    response_format: 'slots'
  });
  const slotsList = res.available_slots;
  checkShape('availability slots: available_slots list of {start,end,participants[{sub}]}', slotsList);
  check('availability slots: non-empty', Array.isArray(slotsList) && slotsList.length > 0, show(res));
  const spans = spansOf(slotsList || []);
  let bad = spans.filter((x) => x.e - x.s !== HOUR);
  check('availability slots: each exactly required_duration long', !bad.length, eg(bad));
  bad = spans.filter((x) => !inQuery(x.s, x.e));
  check('availability slots: all inside the query periods', !bad.length, eg(bad));
  bad = spans.filter((x) => x.s % (30 * MIN) !== 0);
  check('availability slots: starts aligned to the 30-minute start_interval', !bad.length, eg(bad));
  const ordered = spans.slice().sort((x, y) => x.s - y.s);
  check('availability slots: slots do not overlap each other', ordered.every((x, i) => i === 0 || ordered[i - 1].e <= x.s), show(slotsList));
  bad = spans.filter((x) => !x.subs.has(aSub) || !(x.subs.has(bSub) || x.subs.has(cSub)) || [...x.subs].some((s) => ![aSub, bSub, cSub].includes(s)));
  check('availability slots: participants = A plus at least one of B/C', !bad.length, eg(bad));
  bad = spans.filter((x) => [...x.subs].some((sub) => (busy[sub] || []).some(([bs, be]) => overlaps(x.s - before, x.e + after, bs, be))));
  check('availability slots: no listed participant has a busy event within the buffered slot', !bad.length, eg(bad));
  bad = spans.filter((x) => [...x.subs].some((sub) => windows[sub] && !withinAny(x.s, x.e, windows[sub])));
  check('availability slots: managed members only listed inside their rule hours', !bad.length, eg(bad));
  check('availability slots: some slot on each query day', query.every(([qs, qe]) => spans.some((x) => qs <= x.s && x.e <= qe)), show(slotsList));
  check("availability slots: required 1 group satisfied by C alone before B's hours",
    spans.some((x) => x.subs.has(cSub) && !x.subs.has(bSub)), show(slotsList));
}

// 6b. Push notification channels: a real receiver on loopback
async function channels () {
  const http = require('http');
  const got = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      got.push({ sig: req.headers['cronofy-hmac-sha256'], id: req.headers['convene-delivery-id'], body });
      res.writeHead(200); res.end();
    });
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const cb = `http://127.0.0.1:${srv.address().port}/cb`;
  const wait = async (n) => { for (let i = 0; i < 150 && got.length < n; i++) await new Promise((r) => setTimeout(r, 100)); };
  const c = S.client;
  try {
    const res = await c.createNotificationChannel({ callback_url: cb, filters: { calendar_ids: [S.cal], only_managed: true } });
    const id = res.channel && res.channel.channel_id;
    check('createNotificationChannel: channel_id', typeof id === 'string' && id.startsWith('chn_'), show(res));
    const listed = await c.listNotificationChannels();
    check('listNotificationChannels: contains it', listed.channels.some((x) => x.channel_id === id), show(listed));
    await wait(1);
    check('verification callback arrived', got.length >= 1, `nothing arrived at ${cb}`);
    if (got.length) {
      check('verification: type verification', JSON.parse(got[0].body).notification.type === 'verification', got[0].body);
      check('verification: hmacValid with the client secret', c.hmacValid({ hmac: got[0].sig, body: got[0].body, client_secret: CLIENT_SECRET }), got[0].sig);
    }
    await c.deleteNotificationChannel({ channel_id: id });
    check('deleteNotificationChannel: HTTP 202', lastStatus() === 202, `got ${lastStatus()}`);
    const after = await c.listNotificationChannels();
    check('closed channel is not listed', !after.channels.some((x) => x.channel_id === id), show(after));
  } finally {
    srv.close();
  }
}

// 6b. Real-Time Scheduling, sequencing, add to calendar and element tokens
const slotsIn = (html) => [...html.matchAll(/name="slot" value="([^"]+)"/g)].map((m) => m[1]);

async function pick (url, slot) {
  const r = await fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `slot=${encodeURIComponent(slot)}`
  });
  return { status: r.status, location: r.headers.get('location') };
}

async function realTime () {
  const cal = (S.av && S.av.aCal) || S.cal || await firstCalendar(S.client);
  const eventId = `conf-node-rts-${RUN}`;
  const res = await appClient().realTimeScheduling({
    oauth: { redirect_uri: 'http://127.0.0.1/oauth', scope: 'create_event' },
    event: { event_id: eventId, summary: 'Conformance RTS', tzid: 'Etc/UTC' },
    availability: {
      participants: [{ members: [{ sub: S.sub, calendar_ids: [cal] }], required: 'all' }],
      required_duration: { minutes: 30 },
      query_periods: [{ start: iso(day(11, 9)), end: iso(day(11, 11)) }]
    },
    target_calendars: [{ sub: S.sub, calendar_id: cal }],
    redirect_urls: { completed_url: 'http://127.0.0.1/rts-done' },
    tzid: 'Etc/UTC'
  });
  const link = res.real_time_scheduling || {};
  check('realTimeScheduling: id and url', /^sch_/.test(link.real_time_scheduling_id || '') && (link.url || '').startsWith(`${URL}/`), show(res));
  const html = await (await fetch(link.url)).text();
  const slots = slotsIn(html);
  check('realTimeScheduling page: the free half hours', JSON.stringify(slots) === JSON.stringify([iso(day(11, 9)), iso(day(11, 9, 30)), iso(day(11, 10)), iso(day(11, 10, 30))]), show(slots));
  if (slots.length) {
    const r = await pick(link.url, slots[2]);
    check('realTimeScheduling pick: 303 to redirect_urls.completed_url', r.status === 303 && r.location === 'http://127.0.0.1/rts-done', show(r));
    const { events } = await S.client.readEvents({ from: isoDate(day(11)), to: isoDate(day(12)), tzid: 'Etc/UTC', calendar_ids: [cal] });
    const booked = events.filter((e) => e.event_id === eventId);
    check('realTimeScheduling pick: the event is in the target calendar', booked.length === 1 && booked[0].start === slots[2], show(booked));
  }

  const seq = await appClient().realTimeSequencing({
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    oauth: { redirect_uri: 'http://127.0.0.1/oauth' },
    event: { event_id: `conf-node-seq-${RUN}`, summary: 'Sequence' },
    availability: {
      sequence: [
        { sequence_id: 'one', ordinal: 1, participants: [{ members: [{ sub: S.sub, calendar_ids: [cal] }], required: 'all' }], required_duration: { minutes: 30 } },
        { sequence_id: 'two', ordinal: 2, participants: [{ members: [{ sub: S.sub, calendar_ids: [cal] }], required: 'all' }], required_duration: { minutes: 30 } }
      ],
      query_periods: [{ start: iso(day(12, 9)), end: iso(day(12, 11)) }]
    },
    target_calendars: [{ sub: S.sub, calendar_id: cal }],
    tzid: 'Etc/UTC'
  });
  check('realTimeSequencing: url', (seq.url || '').startsWith(`${URL}/`), show(seq));
  const seqSlots = slotsIn(await (await fetch(seq.url)).text());
  check('realTimeSequencing page: sequences by their first step', seqSlots[0] === iso(day(12, 9)), show(seqSlots));
  if (seqSlots.length) {
    const r = await pick(seq.url, seqSlots[0]);
    check('realTimeSequencing pick: booked', r.status === 200, show(r));
    const { events } = await S.client.readEvents({ from: isoDate(day(12)), to: isoDate(day(13)), tzid: 'Etc/UTC', calendar_ids: [cal] });
    const mine = events.filter((e) => e.event_id.startsWith(`conf-node-seq-${RUN}`)).map((e) => e.start).sort();
    check('realTimeSequencing pick: both steps booked, one after the other', JSON.stringify(mine) === JSON.stringify([iso(day(12, 9)), iso(day(12, 9, 30))]), show(mine));
  }

  const add = await appClient().addToCalendar({
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    oauth: { redirect_uri: 'http://127.0.0.1/oauth' },
    event: { event_id: `conf-node-add-${RUN}`, summary: 'Added', start: iso(day(13, 15)), end: iso(day(13, 16)) },
    target_calendars: [{ sub: S.sub, calendar_id: cal }]
  });
  check('addToCalendar: url', (add.url || '').startsWith(`${URL}/`), show(add));
  const addSlots = slotsIn(await (await fetch(add.url)).text());
  check('addToCalendar page: offers the event\'s own time', JSON.stringify(addSlots) === JSON.stringify([iso(day(13, 15))]), show(addSlots));

  const origin = 'http://localhost:8000';
  const et = await appClient().requestElementToken({ permissions: ['availability'], subs: [S.sub], origin });
  const tok = et.element_token || {};
  check('requestElementToken: token, permissions, origin, expires_in', tok.token && JSON.stringify(tok.permissions) === '["availability"]' && tok.origin === origin && tok.expires_in > 0, show(et));
  const r = await fetch(`${URL}/v1/availability?et=${encodeURIComponent(tok.token)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin, 'cronofy-element': 'v1.67.7, SlotPicker' },
    body: JSON.stringify({ participants: [{ members: [{ sub: S.sub }], required: 'all' }], required_duration: { minutes: 30 }, start_interval: { minutes: 30 }, response_format: 'overlapping_slots', query_periods: [{ start: iso(day(14, 9)), end: iso(day(14, 10)) }] })
  });
  const body = await r.json();
  check('element token: availability from its origin', r.status === 200 && Array.isArray(body.available_slots) && body.available_slots.length === 2, `${r.status} ${show(body)}`);
}

// 7. Refresh and revoke
async function tokens () {
  const c = S.client;
  const res = await c.refreshAccessToken();
  check('refreshAccessToken: HTTP 200 with new tokens', lastStatus() === 200 && res.access_token && res.refresh_token, `status ${lastStatus()}, ${show(res)}`);
  const info = await accountClient(res.access_token).userInfo();
  check('refreshAccessToken: new access token works for userInfo', info.sub === S.sub, show(info));

  const token = res.access_token;
  await c.revokeAuthorization({ token });
  check('revokeAuthorization: HTTP 200', lastStatus() === 200, `got ${lastStatus()}`);
  await expectHttpError('userInfo with revoked token: 401', 401, () => accountClient(token).userInfo());
}

async function main () {
  console.log(`# cronofy (npm) ${SDK_VERSION} against ${URL}`);
  await section('applicationCalendar', applicationCalendar);
  if (!S.client) {
    check('remaining checks', false, 'skipped: no application calendar account');
  } else {
    await section('identity', identity);
    if (S.cal) await section('events', events);
    else check('events', false, 'skipped: no calendar created');
    await section('availabilityRules', availabilityRules);
    await section('availablePeriods', availablePeriods);
    await section('availabilitySetup', availabilitySetup);
    if (S.av) {
      await section('availabilityPeriods', availabilityPeriods);
      await section('availabilitySlots', availabilitySlots);
    } else {
      check('availability queries', false, 'skipped: setup failed');
    }
    if (S.cal) await section('channels', channels);
    await section('realTime', realTime);
    await section('tokens', tokens);
  }
  console.log(`conformance-node: ${PASSED} passed, ${FAILED} failed`);
  process.exitCode = FAILED ? 1 : 0;
}

main().catch((err) => {
  console.log(`not ok - driver crashed: ${describe(err)}`);
  console.log(`conformance-node: ${PASSED} passed, ${FAILED + 1} failed`);
  process.exitCode = 1;
});
