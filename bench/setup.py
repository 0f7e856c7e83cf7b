"""Creates MEMBERS accounts (default 3) with weekday rules and EVENTS busy
events each (default 500) over 35 days, and prints the availability query
body used by the benchmark: one group, `required` REQUIRED (default "all").
`bench/pool-bench` runs it with MEMBERS=500 EVENTS=200 REQUIRED=1."""
import datetime as dt
import json
import os
import random
import sys
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

url, app_file = sys.argv[1], sys.argv[2]
app = json.load(open(app_file))
MEMBERS = int(os.environ.get("MEMBERS", "3"))
EVENTS = int(os.environ.get("EVENTS", "500"))
REQUIRED = os.environ.get("REQUIRED", "all")


def call(method, path, body, token=None, form=False):
    data = (urllib.parse.urlencode(body) if form else json.dumps(body)).encode()
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Content-Type", "application/x-www-form-urlencoded" if form else "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req) as r:
        text = r.read().decode()
        return json.loads(text) if text else {}


start = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
ZONES = [("ana", "Europe/London"), ("ben", "America/New_York"), ("cho", "Europe/Berlin")]


def member(k):
    name, tz = ZONES[k] if MEMBERS <= 3 else ("m%d" % k, ZONES[k % 3][1])
    # One seed per member: the same data whatever the thread order.
    rnd = random.Random(42 + k)
    tok = call("POST", "/v1/application_calendars", {
        "client_id": app["client_id"], "client_secret": app["client_secret"], "application_calendar_id": name}, form=True)
    token, sub = tok["access_token"], tok["sub"]
    cal = json.loads(urllib.request.urlopen(urllib.request.Request(
        url + "/v1/calendars", headers={"Authorization": "Bearer " + token})).read())["calendars"][0]["calendar_id"]
    call("POST", "/v1/availability_rules", {"availability_rule_id": "work", "tzid": tz, "weekly_periods": [
        {"day": d, "start_time": "08:00", "end_time": "18:00"}
        for d in ["monday", "tuesday", "wednesday", "thursday", "friday"]]}, token)
    for i in range(EVENTS):
        s = start + dt.timedelta(minutes=5 * rnd.randrange(0, 35 * 24 * 12))
        e = s + dt.timedelta(minutes=rnd.choice([15, 30, 45, 60, 90]))
        call("POST", "/v1/calendars/%s/events" % cal, {
            "event_id": "b%d" % i, "summary": "busy",
            "start": s.strftime("%Y-%m-%dT%H:%M:%SZ"), "end": e.strftime("%Y-%m-%dT%H:%M:%SZ")}, token)
    if k == 0 and os.environ.get("FIRST_MEMBER_FILE"):
        json.dump({"token": token, "calendar_id": cal}, open(os.environ["FIRST_MEMBER_FILE"], "w"))
    return sub


with ThreadPoolExecutor(8) as pool:
    subs = list(pool.map(member, range(MEMBERS)))
end = start + dt.timedelta(days=35)
print(json.dumps({
    "participants": [{"members": [{"sub": s, "managed_availability": True} for s in subs],
                      "required": REQUIRED if REQUIRED == "all" else int(REQUIRED)}],
    "required_duration": {"minutes": 30},
    "query_periods": [{"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "end": end.strftime("%Y-%m-%dT%H:%M:%SZ")}],
    "response_format": "slots",
}))
