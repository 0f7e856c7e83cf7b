#!/usr/bin/env python3
"""Conformance driver: Cronofy's official Python SDK (pycronofy 2.1.1) against Convene.

Environment: CONVENE_URL, CONVENE_CLIENT_ID, CONVENE_CLIENT_SECRET.
Prints one line per check (`ok - name` / `not ok - name: reason`) and a summary line
`conformance-py: N passed, N failed`. Exits 1 if any check failed.
"""
import collections
import datetime as dt
import json
import os
import sys
import traceback
import uuid
from zoneinfo import ZoneInfo

import pycronofy
from pycronofy import settings
from pycronofy.exceptions import PyCronofyRequestError

URL = os.environ["CONVENE_URL"].rstrip("/")
CLIENT_ID = os.environ["CONVENE_CLIENT_ID"]
CLIENT_SECRET = os.environ["CONVENE_CLIENT_SECRET"]

# The SDK copies these at Client construction time (clients.md §1.1).
settings.API_BASE_URL = URL
settings.APP_BASE_URL = URL

UTC = dt.timezone.utc
TIME_FMT = "%Y-%m-%dT%H:%M:%SZ"
RUN = uuid.uuid4().hex[:10]

# ---------------------------------------------------------------------------
# Wire log: pycronofy passes settings.REQUEST_HOOK to every `requests` call, so we
# can see each request/response (status codes, raw bodies, how many pages).
# ---------------------------------------------------------------------------
WIRE = []


def _hook(response, *args, **kwargs):
    WIRE.append({
        "method": response.request.method,
        "url": response.url,
        "status": response.status_code,
        "text": response.text,
    })


settings.REQUEST_HOOK = {"response": _hook}


def wire_since(mark, method=None):
    return [w for w in WIRE[mark:] if method is None or w["method"] == method]


def last_status():
    return WIRE[-1]["status"] if WIRE else None


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------
PASSED = 0
FAILED = 0


def check(name, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok - %s" % name, flush=True)
    else:
        FAILED += 1
        print("not ok - %s: %s" % (name, detail or "assertion failed"), flush=True)
    return bool(cond)


def describe(exc):
    if isinstance(exc, PyCronofyRequestError) and exc.response is not None:
        req = exc.response.request
        body = req.body.decode() if isinstance(req.body, bytes) else req.body
        return "%s %s body=%s -> HTTP %s %s" % (
            req.method, req.url, (body or "")[:300], exc.response.status_code, exc.response.text[:400])
    return "%s: %s" % (type(exc).__name__, exc)


def section(fn):
    """Run one group of checks; an unexpected exception counts as one failure."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - report everything
        check("%s (unexpected error)" % fn.__name__, False, describe(exc))
        if os.environ.get("CONFORMANCE_TRACEBACK"):
            traceback.print_exc()


def expect_http_error(name, status, fn):
    """Run fn, which must fail with the given HTTP status."""
    try:
        fn()
    except PyCronofyRequestError as exc:
        got = exc.response.status_code if exc.response is not None else None
        return check(name, got == status, "expected HTTP %s, got %s" % (status, describe(exc)))
    return check(name, False, "expected HTTP %s, call succeeded with HTTP %s" % (status, last_status()))


# ---------------------------------------------------------------------------
# Time helpers (all wire times are 'YYYY-MM-DDTHH:MM:SSZ')
# ---------------------------------------------------------------------------
def iso(t):
    return t.astimezone(UTC).strftime(TIME_FMT)


def parse(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


TODAY = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def day(n, hour=0, minute=0):
    return TODAY + dt.timedelta(days=n, hours=hour, minutes=minute)


def overlaps(a_start, a_end, b_start, b_end):
    return a_start < b_end and b_start < a_end


def rule_windows(rule, start, end):
    """UTC windows [s, e) of a weekly-periods availability rule between start and end."""
    tz = UTC if rule["tzid"] in ("Etc/UTC", "UTC") else ZoneInfo(rule["tzid"])
    names = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    out = []
    d = (start - dt.timedelta(days=2)).date()
    while d <= (end + dt.timedelta(days=2)).date():
        for p in rule["weekly_periods"]:
            if p["day"] != names[d.weekday()]:
                continue
            sh, sm = map(int, p["start_time"].split(":"))
            eh, em = map(int, p["end_time"].split(":"))
            s = dt.datetime(d.year, d.month, d.day, sh, sm, tzinfo=tz).astimezone(UTC)
            e = dt.datetime(d.year, d.month, d.day, eh, em, tzinfo=tz).astimezone(UTC)
            out.append((s, e))
        d += dt.timedelta(days=1)
    return out


def within_any(s, e, windows):
    return any(ws <= s and e <= we for ws, we in windows)


def subtract(intervals, busy):
    """intervals minus busy; both lists of (start, end)."""
    out = list(intervals)
    for bs, be in busy:
        nxt = []
        for s, e in out:
            if not overlaps(s, e, bs, be):
                nxt.append((s, e))
                continue
            if s < bs:
                nxt.append((s, bs))
            if be < e:
                nxt.append((be, e))
        out = nxt
    return sorted(out)


def intersect(a, b):
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    return sorted(out)


# ---------------------------------------------------------------------------
# Shared state between sections
# ---------------------------------------------------------------------------
S = {}


def new_application_calendar(label):
    """Create (or re-fetch) an application calendar; returns (client, sub, raw response)."""
    app = pycronofy.Client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    mark = len(WIRE)
    res = app.application_calendar("conf-py-%s-%s" % (label, RUN))
    raw = json.loads(wire_since(mark, "POST")[-1]["text"])
    client = pycronofy.Client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                              access_token=res["access_token"], refresh_token=res["refresh_token"])
    return client, res.get("sub"), raw


def first_calendar(client):
    cals = client.list_calendars()
    if cals:
        return cals[0]["calendar_id"]
    profile_id = client.list_profiles()[0]["profile_id"]
    return client.create_calendar(profile_id, "Conformance %s" % RUN)["calendar"]["calendar_id"]


# ---------------------------------------------------------------------------
# 1. Application calendar
# ---------------------------------------------------------------------------
def application_calendar():
    acid = "conf-py-%s" % RUN
    app = pycronofy.Client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    mark = len(WIRE)
    app.application_calendar(acid)
    raw = json.loads(wire_since(mark, "POST")[-1]["text"])
    check("application_calendar: HTTP 200", WIRE[-1]["status"] == 200, "got %s" % WIRE[-1]["status"])
    check("application_calendar: access_token", isinstance(raw.get("access_token"), str) and raw["access_token"], raw)
    check("application_calendar: refresh_token", isinstance(raw.get("refresh_token"), str) and raw["refresh_token"], raw)
    check("application_calendar: expires_in > 0",
          isinstance(raw.get("expires_in"), int) and raw["expires_in"] > 0, "expires_in=%r" % raw.get("expires_in"))
    sub = raw.get("sub") or ""
    check("application_calendar: sub starts with apc_/acc_", sub.startswith(("apc_", "acc_")), "sub=%r" % sub)

    again = pycronofy.Client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET).application_calendar(acid)
    check("application_calendar: same id gives same sub", again.get("sub") == sub,
          "first %r, second %r" % (sub, again.get("sub")))

    S["sub"] = sub
    S["client"] = pycronofy.Client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                   access_token=again["access_token"], refresh_token=again["refresh_token"])


# ---------------------------------------------------------------------------
# 2. Identity: userinfo, account, profiles, calendars
# ---------------------------------------------------------------------------
def identity():
    c = S["client"]
    info = c.userinfo()
    check("userinfo: sub matches application calendar", info.get("sub") == S["sub"],
          "userinfo sub=%r, expected %r" % (info.get("sub"), S["sub"]))

    account = c.account()
    check("account: account_id present", isinstance(account.get("account_id"), str) and account["account_id"],
          "account=%r" % account)

    profiles = c.list_profiles()
    check("profiles: at least one with profile_id",
          len(profiles) >= 1 and all(p.get("profile_id") for p in profiles), "profiles=%r" % profiles)

    cals = c.list_calendars()
    check("list_calendars: at least one", len(cals) >= 1, "calendars=%r" % cals)
    missing = [cal for cal in cals if not (cal.get("calendar_id") and "calendar_name" in cal and cal.get("profile_id"))]
    check("list_calendars: calendar_id, calendar_name, profile_id on each", not missing, "incomplete: %r" % missing)

    name = "Conformance %s" % RUN
    created = c.create_calendar(profiles[0]["profile_id"], name)
    cal = (created or {}).get("calendar", {})
    check("create_calendar: calendar.calendar_id returned", bool(cal.get("calendar_id")), "response=%r" % created)
    S["cal"] = cal["calendar_id"]
    listed = [x for x in c.list_calendars() if x.get("calendar_id") == S["cal"]]
    check("create_calendar: new calendar is listed with its name",
          len(listed) == 1 and listed[0].get("calendar_name") == name, "listed=%r" % listed)


# ---------------------------------------------------------------------------
# 3. Events: upsert, paging, free/busy, delete, bulk delete
# ---------------------------------------------------------------------------
EVENT_COUNT = 60
EV_FROM = day(3)
EV_TO = day(6)


def event_plan():
    plan = {}
    for i in range(EVENT_COUNT):
        start = day(3 + i // 20, 6) + dt.timedelta(minutes=45 * (i % 20))
        plan["conf-evt-%02d" % i] = {
            "event_id": "conf-evt-%02d" % i,
            "summary": "Conformance event %d" % i,
            "description": "pycronofy conformance",
            "start": iso(start),
            "end": iso(start + dt.timedelta(minutes=30)),
            "tzid": "Etc/UTC",
        }
    return plan


def read_all_events(c, cal):
    return [e for e in c.read_events(calendar_ids=[cal], from_date=iso(EV_FROM), to_date=iso(EV_TO),
                                     tzid="Etc/UTC").all()
            if e.get("calendar_id") == cal]


def events():
    c, cal = S["client"], S["cal"]
    plan = event_plan()
    statuses = []
    for ev in plan.values():
        c.upsert_event(cal, dict(ev))
        statuses.append(last_status())
    check("upsert_event x60: all HTTP 202", all(s == 202 for s in statuses),
          "statuses=%r" % sorted(set(statuses)))

    plan["conf-evt-07"]["summary"] = "Conformance event 7 (updated)"
    c.upsert_event(cal, dict(plan["conf-evt-07"]))
    check("upsert_event (update): HTTP 202", last_status() == 202, "got %s" % last_status())

    mark = len(WIRE)
    pages = c.read_events(calendar_ids=[cal], from_date=iso(EV_FROM), to_date=iso(EV_TO), tzid="Etc/UTC")
    first_meta = dict(pages.json().get("pages", {}))
    first_len = len(pages.current_page())
    got = pages.all()
    gets = wire_since(mark, "GET")
    check("read_events: first page has 50 events", first_len == 50, "first page had %d" % first_len)
    check("read_events: pages.total >= 2 on first page", (first_meta.get("total") or 0) >= 2, "pages=%r" % first_meta)
    nxt = first_meta.get("next_page") or ""
    check("read_events: next_page is an absolute URL on the public base", nxt.startswith(URL + "/"),
          "next_page=%r" % nxt)
    check("read_events: SDK fetched more than one page", len(gets) >= 2,
          "requests: %r" % [(g["url"], g["status"]) for g in gets])

    mine = [e for e in got if e.get("calendar_id") == cal]
    counts = collections.Counter(e.get("event_id") for e in mine)
    check("read_events: all 60 events exactly once",
          set(counts) == set(plan) and all(n == 1 for n in counts.values()) and len(mine) == 60,
          "got %d events, missing=%r, duplicated=%r, unexpected=%r" % (
              len(mine), sorted(set(plan) - set(counts))[:5],
              [k for k, n in counts.items() if n > 1][:5], sorted(set(counts) - set(plan))[:5]))
    by_id = {e.get("event_id"): e for e in mine}
    wrong = [k for k, ev in plan.items() if k in by_id and by_id[k].get("summary") != ev["summary"]]
    check("read_events: summaries (incl. the updated one) as upserted", not wrong,
          "wrong summaries for %r, e.g. %r" % (wrong[:5], by_id.get(wrong[0], {}).get("summary") if wrong else None))
    wrong_times = [k for k, ev in plan.items() if k in by_id and
                   (by_id[k].get("start"), by_id[k].get("end")) != (ev["start"], ev["end"])]
    check("read_events: start/end echoed as YYYY-MM-DDTHH:MM:SSZ", not wrong_times,
          "e.g. %r: sent %r got %r" % (wrong_times[0], (plan[wrong_times[0]]["start"], plan[wrong_times[0]]["end"]),
                                       (by_id[wrong_times[0]].get("start"), by_id[wrong_times[0]].get("end")))
          if wrong_times else "")
    check("read_events: each event carries an event_uid", all(e.get("event_uid") for e in mine),
          "e.g. %r" % next((e for e in mine if not e.get("event_uid")), None))

    # Free/busy over the same window.
    fb = [b for b in c.read_free_busy(calendar_ids=[cal], from_date=iso(EV_FROM), to_date=iso(EV_TO),
                                      tzid="Etc/UTC").all() if b.get("calendar_id") == cal]
    check("read_free_busy: one block per event", len(fb) == 60, "got %d blocks for the calendar" % len(fb))
    check("read_free_busy: every block is busy", fb and all(b.get("free_busy_status") == "busy" for b in fb),
          "statuses=%r" % sorted({b.get("free_busy_status") for b in fb}))
    blocks = {(b.get("start"), b.get("end")) for b in fb}
    uncovered = [k for k, ev in plan.items() if (ev["start"], ev["end"]) not in blocks]
    check("read_free_busy: a block at each event's start/end", not uncovered, "no block for %r" % uncovered[:5])

    # Delete one event.
    c.delete_event(cal, "conf-evt-00")
    check("delete_event: HTTP 202", last_status() == 202, "got %s" % last_status())
    after = read_all_events(c, cal)
    ids = {e.get("event_id") for e in after}
    check("delete_event: event gone from read_events", "conf-evt-00" not in ids and len(after) == 59,
          "%d events left, deleted one present=%s" % (len(after), "conf-evt-00" in ids))

    # Bulk delete by calendar (pycronofy: DELETE /v1/events?calendar_ids[]=...).
    c.delete_all_events(calendar_ids=[cal])
    check("delete_all_events(calendar_ids): HTTP 202", last_status() == 202, "got %s" % last_status())
    after = read_all_events(c, cal)
    check("delete_all_events(calendar_ids): no events left in calendar", len(after) == 0,
          "%d events left" % len(after))


# ---------------------------------------------------------------------------
# 4. Availability rules CRUD
# ---------------------------------------------------------------------------
def norm_periods(periods):
    return sorted((p.get("day"), p.get("start_time"), p.get("end_time")) for p in periods or [])


def same_rule(got, want):
    return (got.get("availability_rule_id") == want["availability_rule_id"]
            and got.get("tzid") == want["tzid"]
            and got.get("calendar_ids") == want["calendar_ids"]
            and norm_periods(got.get("weekly_periods")) == norm_periods(want["weekly_periods"]))


def availability_rules():
    c = S["client"]
    rule = {
        "availability_rule_id": "work",
        "tzid": "America/Chicago",
        "calendar_ids": [S["cal"]],
        "weekly_periods": [
            {"day": "monday", "start_time": "09:30", "end_time": "16:30"},
            {"day": "wednesday", "start_time": "09:30", "end_time": "12:30"},
        ],
    }
    got = c.upsert_availability_rule(json.loads(json.dumps(rule)))
    check("upsert_availability_rule: echoes the rule under availability_rule", same_rule(got, rule), "got %r" % got)

    got = c.get_availability_rule("work")
    check("get_availability_rule: returns the rule", same_rule(got, rule), "got %r" % got)

    rules = c.list_availability_rules()
    listed = [r for r in rules if r.get("availability_rule_id") == "work"]
    check("list_availability_rules: contains the rule", len(listed) == 1 and same_rule(listed[0], rule),
          "got %r" % rules)

    c.delete_availability_rule("work")
    check("delete_availability_rule: HTTP 202", last_status() == 202, "got %s" % last_status())
    expect_http_error("get_availability_rule after delete: 404", 404, lambda: c.get_availability_rule("work"))
    rules = c.list_availability_rules()
    check("list_availability_rules after delete: rule gone",
          not any(r.get("availability_rule_id") == "work" for r in rules), "got %r" % rules)


# ---------------------------------------------------------------------------
# 5. Availability: three accounts, rules, busy events, periods and slots
# ---------------------------------------------------------------------------
D, D1 = 7, 8  # query days, relative to today (UTC)


def availability_setup():
    """Three accounts: A (busy events only), B and C (availability rules + busy events)."""
    a, a_sub = S["client"], S["sub"]
    a_cal = S.get("cal") or first_calendar(a)
    b, b_sub, _ = new_application_calendar("b")
    c, c_sub, _ = new_application_calendar("c")
    b_cal, c_cal = first_calendar(b), first_calendar(c)
    check("availability setup: three distinct subs", len({a_sub, b_sub, c_sub}) == 3, "%r" % [a_sub, b_sub, c_sub])

    every_day = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    rules = {
        b_sub: {"availability_rule_id": "conf-hours", "tzid": "America/Chicago", "calendar_ids": [b_cal],
                "weekly_periods": [{"day": d, "start_time": "09:00", "end_time": "17:00"} for d in every_day]},
        c_sub: {"availability_rule_id": "conf-hours", "tzid": "Etc/UTC", "calendar_ids": [c_cal],
                "weekly_periods": [{"day": d, "start_time": "12:00", "end_time": "22:00"} for d in every_day]},
    }
    b.upsert_availability_rule(json.loads(json.dumps(rules[b_sub])))
    c.upsert_availability_rule(json.loads(json.dumps(rules[c_sub])))

    busy = {
        a_sub: [(day(D, 15), day(D, 16)), (day(D1, 18), day(D1, 19, 30))],
        b_sub: [(day(D, 17), day(D, 17, 30)), (day(D1, 16), day(D1, 17))],
        c_sub: [(day(D, 19), day(D, 20)), (day(D1, 20), day(D1, 21))],
    }
    for client, cal, sub in ((a, a_cal, a_sub), (b, b_cal, b_sub), (c, c_cal, c_sub)):
        for i, (s, e) in enumerate(busy[sub]):
            client.upsert_event(cal, {"event_id": "conf-busy-%d" % i, "summary": "Busy", "start": iso(s),
                                      "end": iso(e), "tzid": "Etc/UTC"})

    S["av"] = {"a_cal": a_cal, "b_sub": b_sub, "c_sub": c_sub, "busy": busy,
               "windows": {sub: rule_windows(rule, day(D), day(D1 + 1)) for sub, rule in rules.items()}}


QUERY = [(day(D, 6), day(D, 23)), (day(D1, 6), day(D1, 23))]


def periods_arg():
    return [{"start": iso(s), "end": iso(e)} for s, e in QUERY]


def in_query(s, e):
    return any(qs <= s and e <= qe for qs, qe in QUERY)


def availability_periods():
    """Periods format, one group, required all: A (its calendar) and B (managed availability)."""
    a, a_sub, av = S["client"], S["sub"], S["av"]
    a_cal, b_sub, busy, windows = av["a_cal"], av["b_sub"], av["busy"], av["windows"]
    query = QUERY
    got = a.availability(
        participants=[{"members": [{"sub": a_sub, "calendar_ids": [a_cal]},
                                   {"sub": b_sub, "managed_availability": True}], "required": "all"}],
        required_duration=60,
        available_periods=periods_arg(),
    )
    shape_ok = isinstance(got, list) and all(
        isinstance(p.get("start"), str) and isinstance(p.get("end"), str) and isinstance(p.get("participants"), list)
        and all(isinstance(x, dict) and x.get("sub") for x in p["participants"]) for p in got)
    check("availability periods: available_periods list of {start,end,participants[{sub}]}", shape_ok, "got %r" % got)
    check("availability periods: non-empty", len(got) > 0, "got %r" % got)
    spans = [(parse(p["start"]), parse(p["end"]), {x.get("sub") for x in p.get("participants", [])}) for p in got]
    bad = [p for p, (s, e, _) in zip(got, spans) if not in_query(s, e)]
    check("availability periods: all inside the query periods", not bad, "outside: %r" % bad[:3])
    bad = [p for p, (s, e, _) in zip(got, spans) if e - s < dt.timedelta(minutes=60)]
    check("availability periods: each at least required_duration long", not bad, "short: %r" % bad[:3])
    bad = [p for p, (_, _, subs) in zip(got, spans) if not {a_sub, b_sub} <= subs]
    check("availability periods: participants list both required members", not bad, "e.g. %r" % bad[:3])
    bad = [p for p, (s, e, _) in zip(got, spans)
           if any(overlaps(s, e, bs, be) for sub in (a_sub, b_sub) for bs, be in busy[sub])]
    check("availability periods: nothing overlaps a busy event", not bad, "overlapping: %r" % bad[:3])
    bad = [p for p, (s, e, _) in zip(got, spans) if not within_any(s, e, windows[b_sub])]
    check("availability periods: inside B's availability rule hours", not bad, "outside rule: %r" % bad[:3])
    check("availability periods: constructed free time found (day D 18:00-21:00Z)",
          any(s <= day(D, 18) and day(D, 21) <= e for s, e, _ in spans), "got %r" % got)
    expected = subtract(intersect(query, windows[b_sub]), busy[a_sub] + busy[b_sub])
    expected = [(s, e) for s, e in expected if e - s >= dt.timedelta(minutes=60)]
    check("availability periods: exactly the expected free periods",
          sorted((s, e) for s, e, _ in spans) == expected,
          "expected %r, got %r" % ([(iso(s), iso(e)) for s, e in expected], [(p.get("start"), p.get("end")) for p in got]))



def availability_slots():
    """Slots format, two groups: A required; one of B/C required; 30-minute interval, 15-minute buffers."""
    a, a_sub, av = S["client"], S["sub"], S["av"]
    a_cal, b_sub, c_sub, busy, windows = av["a_cal"], av["b_sub"], av["c_sub"], av["busy"], av["windows"]
    query = QUERY
    before = after = dt.timedelta(minutes=15)
    got = a.availability(
        participants=[{"members": [{"sub": a_sub, "calendar_ids": [a_cal]}], "required": "all"},
                      {"members": [{"sub": b_sub, "managed_availability": True},
                                   {"sub": c_sub, "managed_availability": True}], "required": 1}],
        required_duration=60,
        start_interval=30,
        buffer={"before": 15, "after": 15},
        response_format="slots",
        available_periods=periods_arg(),
    )
    shape_ok = isinstance(got, list) and all(
        isinstance(p.get("start"), str) and isinstance(p.get("end"), str) and isinstance(p.get("participants"), list)
        and all(isinstance(x, dict) and x.get("sub") for x in p["participants"]) for p in got)
    check("availability slots: available_slots list of {start,end,participants[{sub}]}", shape_ok, "got %r" % got)
    check("availability slots: non-empty", len(got) > 0, "got %r" % got)
    slots = [(parse(p["start"]), parse(p["end"]), {x.get("sub") for x in p.get("participants", [])}) for p in got]
    bad = [p for p, (s, e, _) in zip(got, slots) if e - s != dt.timedelta(minutes=60)]
    check("availability slots: each exactly required_duration long", not bad, "e.g. %r" % bad[:3])
    bad = [p for p, (s, e, _) in zip(got, slots) if not in_query(s, e)]
    check("availability slots: all inside the query periods", not bad, "outside: %r" % bad[:3])
    bad = [p for p, (s, _, _) in zip(got, slots) if s.minute % 30 or s.second]
    check("availability slots: starts aligned to the 30-minute start_interval", not bad, "e.g. %r" % bad[:3])
    ordered = sorted(slots, key=lambda x: x[0])
    check("availability slots: slots do not overlap each other",
          all(ordered[i][1] <= ordered[i + 1][0] for i in range(len(ordered) - 1)), "got %r" % got)
    bad = [p for p, (_, _, subs) in zip(got, slots)
           if a_sub not in subs or not (subs & {b_sub, c_sub}) or not subs <= {a_sub, b_sub, c_sub}]
    check("availability slots: participants = A plus at least one of B/C", not bad, "e.g. %r" % bad[:3])
    bad = [p for p, (s, e, subs) in zip(got, slots)
           if any(overlaps(s - before, e + after, bs, be) for sub in subs for bs, be in busy.get(sub, []))]
    check("availability slots: no listed participant has a busy event within the buffered slot", not bad,
          "e.g. %r" % bad[:3])
    bad = [p for p, (s, e, subs) in zip(got, slots)
           if any(not within_any(s, e, windows[sub]) for sub in subs if sub in windows)]
    check("availability slots: managed members only listed inside their rule hours", not bad, "e.g. %r" % bad[:3])
    check("availability slots: some slot on each query day",
          all(any(qs <= s and e <= qe for s, e, _ in slots) for qs, qe in query), "got %r" % got)
    check("availability slots: required 1 group satisfied by C alone before B's hours",
          any(c_sub in subs and b_sub not in subs for _, _, subs in slots), "got %r" % got)


# ---------------------------------------------------------------------------
# 5b. Push notification channels: a real receiver on loopback
# ---------------------------------------------------------------------------
def channels():
    import http.server
    import threading
    import time

    got = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            got.append((self.headers.get("Cronofy-HMAC-SHA256"), self.headers.get("Convene-Delivery-Id"), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    cb = "http://127.0.0.1:%d/cb" % srv.server_address[1]
    c = S["client"]
    try:
        ch = c.create_notification_channel(cb, calendar_ids=[S["cal"]], only_managed=True)
        check("create_notification_channel: channel_id", str(ch.get("channel_id", "")).startswith("chn_"), "%r" % ch)
        listed = c.list_notification_channels()
        check("list_notification_channels: contains it", any(x.get("channel_id") == ch.get("channel_id") for x in listed), "%r" % listed)
        deadline = time.time() + 15
        while time.time() < deadline and not got:
            time.sleep(0.1)
        check("verification callback arrived", bool(got), "nothing arrived at %s" % cb)
        if got:
            sig, delivery_id, body = got[0]
            check("verification: type verification", json.loads(body)["notification"]["type"] == "verification", body)
            check("verification: Cronofy-HMAC-SHA256 verifies with hmac_valid", c.hmac_valid(sig, body), "sig=%r" % sig)
            check("verification: delivery id header", bool(delivery_id), "headers missing")
        c.upsert_event(S["cal"], {"event_id": "chn-%s" % RUN, "summary": "push", "start": day(3, 9), "end": day(3, 10), "tzid": "Etc/UTC"})
        deadline = time.time() + 15
        while time.time() < deadline and len(got) < 2:
            time.sleep(0.1)
        check("change callback arrived after an event upsert",
              len(got) >= 2 and json.loads(got[1][2])["notification"]["type"] == "change", "got %r" % got)
        c.close_notification_channel(ch["channel_id"])
        check("close_notification_channel: HTTP 202", last_status() == 202, "got %s" % last_status())
        check("closed channel is not listed", not any(x.get("channel_id") == ch["channel_id"] for x in c.list_notification_channels()))
    finally:
        srv.shutdown()



# ---------------------------------------------------------------------------
# 5c. Real-Time Scheduling and UI Elements element tokens
# ---------------------------------------------------------------------------
def _page(url, form=None):
    """GET (or POST a form to) a link page without following redirects: (status, body, location)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    data = urllib.parse.urlencode(form).encode() if form else None
    try:
        with opener.open(urllib.request.Request(url, data=data), timeout=30) as r:
            return r.status, r.read().decode(), r.headers.get("Location")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("Location")


def real_time_scheduling():
    import re

    app = pycronofy.Client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    sub = S["sub"]
    cal = S.get("av", {}).get("a_cal") or first_calendar(S["client"])
    event_id = "conf-rts-%s" % RUN

    def create(eid):
        return app.real_time_scheduling(
            availability={"participants": [{"members": [{"sub": sub, "calendar_ids": [cal]}], "required": "all"}],
                          "required_duration": {"minutes": 30},
                          "available_periods": [{"start": iso(day(10, 9)), "end": iso(day(10, 11))}]},
            oauth={"redirect_uri": "http://127.0.0.1/oauth", "scope": "create_event"},
            event={"event_id": eid, "summary": "Conformance RTS", "tzid": "Etc/UTC"},
            target_calendars=[{"sub": sub, "calendar_id": cal}],
            minimum_notice={"hours": 1},
            redirect_urls={"completed_url": "http://127.0.0.1/rts-done"},
        )

    res = create(event_id)
    link = res.get("real_time_scheduling") or {}
    rid, url = link.get("real_time_scheduling_id"), link.get("url") or ""
    check("real_time_scheduling: id and url", bool(rid) and url.startswith(URL + "/"), "got %r" % res)
    st = app.get_real_time_scheduling_status(real_time_scheduling_id=rid)["real_time_scheduling"]
    check("real_time_scheduling status by id: open", st.get("status") == "open", "got %r" % st)
    st = app.get_real_time_scheduling_status(token=url.rsplit("/", 1)[-1])["real_time_scheduling"]
    check("real_time_scheduling status by token: same link, open",
          st.get("real_time_scheduling_id") == rid and st.get("status") == "open", "got %r" % st)

    status, html, _ = _page(url)
    slots = re.findall(r'name="slot" value="([^"]+)"', html)
    check("real_time_scheduling page: the free half hours of the window",
          slots == [iso(day(10, 9)), iso(day(10, 9, 30)), iso(day(10, 10)), iso(day(10, 10, 30))],
          "HTTP %s, slots %r" % (status, slots))
    if slots:
        status, _, location = _page(url, {"slot": slots[1]})
        check("real_time_scheduling pick: redirected to redirect_urls.completed_url",
              status == 303 and location == "http://127.0.0.1/rts-done", "HTTP %s to %r" % (status, location))
        st = app.get_real_time_scheduling_status(real_time_scheduling_id=rid)["real_time_scheduling"]
        check("real_time_scheduling status: completed with the event's start",
              st.get("status") == "completed" and (st.get("event") or {}).get("start", {}).get("time") == slots[1],
              "got %r" % st)
        booked = [e for e in S["client"].read_events(calendar_ids=(cal,), from_date=iso(day(10)), to_date=iso(day(11)),
                                                     tzid="Etc/UTC").all() if e.get("event_id") == event_id]
        check("real_time_scheduling pick: the event is in the target calendar",
              len(booked) == 1 and booked[0].get("start") == slots[1], "got %r" % booked)

    other = create(event_id + "-2")["real_time_scheduling"]
    done = app.disable_real_time_scheduling_link(other["real_time_scheduling_id"], "Closed for now")
    check("disable_real_time_scheduling_link: disabled",
          done.get("real_time_scheduling", {}).get("status") == "disabled", "got %r" % done)
    status, html, _ = _page(other["url"])
    check("disabled link page: shows the display message", "Closed for now" in html, "HTTP %s" % status)


def element_tokens():
    import requests

    app = pycronofy.Client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    origin = "http://localhost:8000"
    res = app.get_ui_element_token(["availability"], [S["sub"]], origin)
    et = res.get("element_token") or {}
    check("get_ui_element_token: token, permissions, origin, expires_in",
          et.get("token") and et.get("permissions") == ["availability"] and et.get("origin") == origin
          and isinstance(et.get("expires_in"), int) and et["expires_in"] > 0, "got %r" % res)
    query = {"participants": [{"members": [{"sub": S["sub"]}], "required": "all"}],
             "required_duration": {"minutes": 30}, "response_format": "overlapping_slots",
             "query_periods": [{"start": iso(day(10, 9)), "end": iso(day(10, 11))}]}
    r = requests.post("%s/v1/availability?et=%s" % (URL, et.get("token")), json=query,
                      headers={"Origin": origin, "Cronofy-Element": "v1.67.7, SlotPicker"}, timeout=30)
    check("element token: availability from its origin", r.status_code == 200 and "available_slots" in r.json(),
          "HTTP %s %s" % (r.status_code, r.text[:200]))
    r = requests.post("%s/v1/availability?et=%s" % (URL, et.get("token")), json=query,
                      headers={"Origin": "http://elsewhere.example"}, timeout=30)
    check("element token: refused from another origin (403)", r.status_code == 403, "HTTP %s" % r.status_code)

# ---------------------------------------------------------------------------
# 6. Refresh and revoke
# ---------------------------------------------------------------------------
def tokens():
    c = S["client"]
    res = c.refresh_authorization()
    check("refresh_authorization: HTTP 200 with new tokens",
          last_status() == 200 and res.get("access_token") and res.get("refresh_token"),
          "status %s, %r" % (last_status(), res))
    fresh = pycronofy.Client(access_token=res["access_token"])
    check("refresh_authorization: new access token works for userinfo", fresh.userinfo().get("sub") == S["sub"])

    token = c.auth.access_token
    c.revoke_authorization()
    check("revoke_authorization: HTTP 200", last_status() == 200, "got %s" % last_status())
    revoked = pycronofy.Client(access_token=token)
    expect_http_error("userinfo with revoked token: 401", 401, revoked.userinfo)


# ---------------------------------------------------------------------------
# Connected calendars: user_auth_link, the authorize page (an ICS feed served
# here), get_authorization_from_code, and the feed's event in free/busy.
# ---------------------------------------------------------------------------
def connected_calendar():
    import http.server
    import threading
    import time
    import urllib.parse

    import requests

    redirect = os.environ.get("CONVENE_REDIRECT_URI", "")
    if not check("connected: the application has a redirect URI", redirect):
        return
    start, end = day(2, 10), day(2, 11)
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//conformance//EN\r\nX-WR-CALNAME:Conformance feed\r\n"
           "BEGIN:VEVENT\r\nUID:conf-%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\n"
           "SUMMARY:Feed event\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n") % (
        RUN, start.strftime("%Y%m%dT%H%M%SZ"), end.strftime("%Y%m%dT%H%M%SZ"))

    class Feed(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            body = ics.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        feed = "http://127.0.0.1:%d/feed.ics" % srv.server_address[1]
        app = pycronofy.Client(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        link = app.user_auth_link(redirect, state="conf-state")
        check("user_auth_link: points at /oauth/authorize", link.startswith(URL + "/oauth/authorize?"), link)
        http = requests.Session()
        page = http.get(link, allow_redirects=False, timeout=30)
        check("authorize page: HTTP 200 with the feed form", page.status_code == 200 and 'name="ics_url"' in page.text,
              "HTTP %s" % page.status_code)
        form = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
        form.update(provider="ics", ics_url=feed)
        done = http.post(URL + "/oauth/authorize", data=form, allow_redirects=False, timeout=30)
        loc = done.headers.get("Location", "")
        check("authorize: redirects to redirect_uri", done.status_code == 303 and loc.startswith(redirect),
              "HTTP %s Location %r %s" % (done.status_code, loc, done.text[:300]))
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
        check("authorize: state comes back", q.get("state") == ["conf-state"], "query=%r" % q)
        code = (q.get("code") or [""])[0]
        mark = len(WIRE)
        tokens = app.get_authorization_from_code(code)
        raw = json.loads(wire_since(mark, "POST")[-1]["text"])
        check("get_authorization_from_code: tokens", tokens.get("access_token") and tokens.get("refresh_token"), raw)
        lp = raw.get("linking_profile") or {}
        check("get_authorization_from_code: linking_profile is the ICS feed",
              lp.get("provider_name") == "ics" and lp.get("profile_name") == "Conformance feed" and lp.get("profile_id"),
              "linking_profile=%r" % lp)
        expect_http_error("get_authorization_from_code: a used code is refused", 400,
                          lambda: app.get_authorization_from_code(code))
        user = pycronofy.Client(access_token=raw["access_token"])
        profiles = user.list_profiles()
        check("list_profiles: the ICS profile", any(p.get("provider_name") == "ics" for p in profiles), profiles)
        cals = [c for c in user.list_calendars() if c.get("provider_name") == "ics"]
        check("list_calendars: the feed is read-only", cals and cals[0].get("calendar_readonly") is True, cals)
        busy = []
        for _ in range(100):
            busy = [b for b in user.read_free_busy(from_date=iso(day(1)), to_date=iso(day(4)), tzid="Etc/UTC").all()
                    if b.get("free_busy_status") == "busy"]
            if busy:
                break
            time.sleep(0.3)
        check("read_free_busy: the feed's event is busy",
              [(b.get("start"), b.get("end")) for b in busy] == [(iso(start), iso(end))], "busy=%r" % busy)
    finally:
        srv.shutdown()


def main():
    print("# pycronofy %s against %s" % (pycronofy.__version__, URL), flush=True)
    section(application_calendar)
    if "client" not in S:
        check("remaining checks", False, "skipped: no application calendar account")
    else:
        section(identity)
        if "cal" in S:
            section(events)
        else:
            check("events", False, "skipped: no calendar created")
        section(availability_rules)
        section(availability_setup)
        if "av" in S:
            section(availability_periods)
            section(availability_slots)
        else:
            check("availability queries", False, "skipped: setup failed")
        if "cal" in S:
            section(channels)
        section(real_time_scheduling)
        section(element_tokens)
        section(tokens)
    section(connected_calendar)
    print("conformance-py: %d passed, %d failed" % (PASSED, FAILED), flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
