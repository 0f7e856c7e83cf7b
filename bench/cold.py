"""Cold-cache timing: alternately changes one event of the first member (which
bumps its availability version, so the next query reads all its busy
intervals again) and times POST /v1/availability; then times warm queries.
Prints medians of ROUNDS (default 41) of each, over one kept-alive connection."""
import http.client
import json
import statistics
import sys
import time
import urllib.parse

url, app_file, body_file, token = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
app = json.load(open(app_file))
body = open(body_file).read()
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 41
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port)


def call(method, path, data, auth):
    conn.request(method, path, body=data, headers={"Authorization": "Bearer " + auth, "Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    assert r.status in (200, 202), r.status


cal = json.loads(open(token).read())
cold, warm = [], []
for i in range(rounds):
    call("POST", "/v1/calendars/%s/events" % cal["calendar_id"], json.dumps({
        "event_id": "bump", "summary": "bump", "start": "2001-01-01T00:00:00Z", "end": "2001-01-01T00:%02d:00Z" % (1 + i % 50)}), cal["token"])
    t = time.perf_counter()
    call("POST", "/v1/availability", body, app["client_secret"])
    cold.append(time.perf_counter() - t)
for i in range(rounds):
    t = time.perf_counter()
    call("POST", "/v1/availability", body, app["client_secret"])
    warm.append(time.perf_counter() - t)
c, w = statistics.median(cold) * 1e3, statistics.median(warm) * 1e3
print("   cold (after a change) median %.3f ms, warm median %.3f ms, difference (the cache miss) %.3f ms" % (c, w, c - w))
