#!/usr/bin/env python3
"""Writes a *probe* OpenAPI document to stdout: the server's own /openapi.json with
request bodies and query parameters filled in from the Cronofy contract
(/work/shared/contract/cronofy-api.md), so that schemathesis sends real field names
and reaches the handlers' logic instead of stopping at "required field missing".

    probe.py BASE_URL ACCOUNT_TOKEN [loose|strict] > probe-openapi.json

This is an exploration aid for `SCHEMATHESIS_PROBE=1 conformance/schemathesis/run`,
not a description of the API: every field is deliberately loose (the valid shape, or
any string / integer / object), ids of this run's own account and calendar are mixed
in so that lookups succeed, and times near "now" are offered so that windows are valid.
`strict` keeps only the valid-looking alternative of each field and makes the main
fields required, so that more requests pass validation and reach the computation
(numbers such as durations stay unbounded). Only the server-error check is meaningful
against either variant.
"""

import datetime as dt
import json
import sys
import urllib.request


def get(base, path, token=None):
    req = urllib.request.Request(base + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def main(base, token, variant="loose"):
    strict = variant == "strict"
    doc = get(base, "/openapi.json")
    cals = get(base, "/v1/calendars", token)
    sub = cals.get("sub") or get(base, "/v1/userinfo", token)["sub"]
    cal = cals["calendars"][0]
    cal_id, profile_id = cal["calendar_id"], cal["profile_id"]

    now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    times = [(now + dt.timedelta(days=d, hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")
             for d in (1, 2, 7, 40) for h in (0, 9)]
    dates = [(now + dt.timedelta(days=d)).strftime("%Y-%m-%d") for d in (-1, 1, 3, 60)]

    def one_of(*alts):
        return alts[0] if strict else {"anyOf": list(alts)}

    S = {"type": "string"}
    I = {"type": "integer"}
    B = {"type": "boolean"}
    time = one_of({"enum": times[:6]}, {"type": "string", "format": "date-time"}, S,
                  {"type": "object", "properties": {"time": {"enum": times}, "tzid": {"enum": ["Etc/UTC", "Europe/London"]}}})
    tzid = one_of({"enum": ["Etc/UTC", "America/Chicago", "Europe/London", "Pacific/Kiritimati"]}, S)
    duration = one_of({"type": "object", "properties": {"minutes": I, "hours": I}, "minProperties": 1},
                      {"type": "object", "properties": {"minutes": {"enum": [15, 30, 60]}}}, I, S)
    if strict:
        # bounded, plausible values: the point is to pass validation
        duration = {"type": "object", "properties": {"minutes": {"enum": [15, 30, 60, 90]}}, "required": ["minutes"]}
        I = {"type": "integer", "minimum": 1, "maximum": 512}
    start, end = time, time
    if strict:
        S = {"type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[A-Za-z0-9_@. -]+$"}
        start, end = {"enum": times[:3]}, {"enum": times[3:6]}
    period = {"type": "object", "properties": {"start": start, "end": end}}
    periods = {"type": "array", "items": period, "maxItems": 12}
    sub_s = one_of({"enum": [sub]}, S)
    cal_s = one_of({"enum": [cal_id]}, S)
    member = {"type": "object", "properties": {
        "sub": sub_s, "calendar_ids": {"type": "array", "items": cal_s},
        "managed_availability": B, "available_periods": periods,
        "availability_rule_ids": {"type": "array", "items": S}}}
    group = {"type": "object", "properties": {
        "members": {"type": "array", "items": one_of(member, S), "maxItems": 4},
        "required": one_of({"enum": ["all"]}, I, S)}}
    participants = {"type": "array", "items": group, "maxItems": 3}
    buffer = {"type": "object", "properties": {
        "before": one_of(duration, {"type": "object", "properties": {"minimum": duration, "maximum": duration}}),
        "after": one_of(duration, {"type": "object", "properties": {"minimum": duration, "maximum": duration}})}}
    availability = {
        "participants": participants, "required_duration": duration,
        "query_periods": periods, "available_periods": periods,
        "query_slots": {"type": "array", "items": {"type": "object", "properties": {"start": time}}},
        "start_interval": duration, "buffer": buffer, "max_results": I,
        "response_format": one_of({"enum": ["periods", "slots", "overlapping_slots"]}, S)}
    attendee = {"type": "object", "properties": {"email": S, "display_name": S}}
    host_group = {"type": "object", "properties": {
        "name": S, "members": {"type": "array", "items": {"type": "object", "properties": {"sub": sub_s}}},
        "required": one_of({"enum": ["all"]}, I), "sub": S}}
    event = {"type": "object", "properties": {
        "summary": S, "description": S, "duration": duration, "tzid": tzid,
        "location": {"type": "object", "properties": {"description": S}}}}
    scheduling = {
        "host": {"type": "object", "properties": {"sub": sub_s}}, "host_group": host_group,
        "template": {"type": "object", "properties": {"sub": S}},
        "recipients": {"type": "array", "maxItems": 3, "items": {"type": "object", "properties": {
            "email": S, "display_name": S, "slot_selector": B}}},
        "collaborator_groups": {"type": "array", "items": host_group, "maxItems": 2},
        "event": event, "buffer": buffer, "start_interval": duration, "minimum_notice": duration,
        "query_periods": periods, "tzid": tzid,
        "availability_mode": one_of({"enum": ["host", "host_and_collaborators", "collaborators"]}, S)}
    template = dict(scheduling, name=S,
                    availability={"type": "object", "properties": {"days": I, "query_periods": periods}})

    bodies = {
        ("post", "/oauth/token"): {"grant_type": one_of({"enum": ["refresh_token", "authorization_code"]}, S),
                                   "refresh_token": S, "client_id": S, "client_secret": S, "code": S},
        ("post", "/oauth/token/revoke"): {"token": S, "sub": sub_s, "client_id": S, "client_secret": S},
        ("post", "/v1/application_calendars"): {"client_id": S, "client_secret": S, "application_calendar_id": S},
        ("post", "/v1/calendars"): {"profile_id": one_of({"enum": [profile_id]}, S), "name": S, "color": S},
        ("post", "/v1/calendars/{calendar_id}/events"): {
            "event_id": S, "event_uid": S, "summary": S, "description": S, "start": one_of(start, {"enum": dates}),
            "end": one_of(end, {"enum": dates}), "tzid": tzid, "transparency": one_of({"enum": ["opaque", "transparent"]}, S),
            "status": S, "event_private": B, "categories": {"type": "array", "items": S},
            "attendees": {"type": "object", "properties": {"invite": {"type": "array", "items": attendee},
                                                            "remove": {"type": "array", "items": attendee}}},
            "location": {"type": "object", "properties": {"description": S}}},
        ("delete", "/v1/calendars/{calendar_id}/events"): {"event_id": S, "event_uid": S},
        ("delete", "/v1/events"): {"delete_all": B, "calendar_ids": {"type": "array", "items": cal_s}},
        ("post", "/v1/availability_rules"): {
            "availability_rule_id": S, "tzid": tzid, "calendar_ids": {"type": "array", "items": cal_s},
            "weekly_periods": {"type": "array", "maxItems": 10, "items": {"type": "object", "properties": {
                "day": one_of({"enum": ["monday", "tuesday", "sunday"]}, S),
                "start_time": one_of({"enum": ["00:00", "09:30", "17:00", "23:59", "24:00"]}, S),
                "end_time": one_of({"enum": ["00:00", "09:30", "17:00", "23:59", "24:00"]}, S)}}}},
        ("post", "/v1/available_periods"): {"available_period_id": S, "start": start, "end": end, "tzid": tzid},
        ("delete", "/v1/available_periods"): {"available_period_id": S, "delete_all": B},
        ("post", "/v1/availability"): availability,
        ("post", "/v1/sequenced_availability"): {
            "sequence": {"type": "array", "maxItems": 3, "items": {"type": "object", "properties": dict(
                availability, sequence_id=one_of(S, I), ordinal=I)}},
            "query_periods": periods},
        ("post", "/v1/channels"): {
            "callback_url": one_of({"enum": ["http://127.0.0.1:9/cb", "https://example.invalid/cb"]}, S),
            "filters": {"type": "object", "properties": {"calendar_ids": {"type": "array", "items": cal_s}, "only_managed": B}},
            "scheduling_conversations": {"type": "object", "properties": {"enabled": B}}},
        ("post", "/v1/application"): {"webhook_url": one_of({"enum": ["http://127.0.0.1:9/hook", None]}, S)},
        ("post", "/v1/scheduling_requests"): scheduling,
        ("post", "/v1/scheduling_requests/query"): {"scheduling_request_ids": {"type": "array", "items": S}},
        ("post", "/v1/scheduling_requests/cancel"): {"scheduling_request_id": S},
        ("post", "/v1/scheduling_templates"): template,
        ("post", "/v1/scheduling_templates/{sub}"): template,
        ("post", "/v1/scheduling_conversations"): {
            "participants": {"type": "array", "maxItems": 3, "items": {"type": "object", "properties": {
                "participant_id": S, "sub": sub_s, "email": S, "common_name": S, "managed_availability": B,
                "slots": {"type": "object", "properties": {"selection_method": one_of({"enum": ["auto", "manual"]}, S)}}}}},
            "tzid": tzid, "subject": S, "required_duration": duration, "available_periods": periods,
            "event": {"type": "object", "properties": {"location": {"type": "object", "properties": {"description": S}}}}},
        ("post", "/v1/scheduling_conversations/{scheduling_conversation_id}/participants/{token}/slots"): {
            "selected_slots": {"type": "array", "items": {"type": "object", "properties": {"slot_id": S}}}},
    }
    window = [{"name": "from", "in": "query", "schema": one_of({"enum": dates}, time)},
              {"name": "to", "in": "query", "schema": one_of({"enum": dates}, time)},
              {"name": "tzid", "in": "query", "schema": tzid},
              {"name": "localized_times", "in": "query", "schema": one_of(B, S)}]
    queries = {
        ("get", "/v1/events"): window + [
            {"name": "include_managed", "in": "query", "schema": one_of(B, S)},
            {"name": "include_deleted", "in": "query", "schema": one_of(B, S)},
            {"name": "only_managed", "in": "query", "schema": one_of(B, S)},
            {"name": "last_modified", "in": "query", "schema": time},
            {"name": "calendar_ids[]", "in": "query", "schema": cal_s}],
        ("get", "/v1/free_busy"): window + [{"name": "include_managed", "in": "query", "schema": one_of(B, S)},
                                             {"name": "calendar_ids[]", "in": "query", "schema": cal_s}],
        ("get", "/v1/available_periods"): window,
        ("get", "/v1/scheduling_conversations"): [{"name": "token", "in": "query", "required": True, "schema": S}],
        ("get", "/v1/deliveries"): [{"name": "state", "in": "query", "schema": S},
                                    {"name": "limit", "in": "query", "schema": one_of(I, S)}],
        ("get", "/v1/scheduling_conversations/{scheduling_conversation_id}/participants/{token}/slots"): [
            {"name": "alternatives", "in": "query", "schema": one_of(B, S)}],
    }
    required = {
        ("post", "/v1/calendars/{calendar_id}/events"): ["event_id", "summary", "start", "end"],
        ("post", "/v1/availability_rules"): ["availability_rule_id", "tzid", "weekly_periods"],
        ("post", "/v1/available_periods"): ["available_period_id", "start", "end"],
        ("post", "/v1/availability"): ["participants", "required_duration", "query_periods"],
        ("post", "/v1/sequenced_availability"): ["sequence", "query_periods"],
        ("post", "/v1/scheduling_requests"): ["host", "recipients", "event"],
        ("post", "/v1/scheduling_templates"): ["name", "host", "event"],
        ("post", "/v1/scheduling_conversations"): ["participants", "required_duration", "available_periods", "tzid"],
        ("post", "/v1/channels"): ["callback_url"],
    }
    if strict:
        # one of each pair that exclude each other
        for key in [("post", "/v1/availability"), ("post", "/v1/sequenced_availability")]:
            for k in ("available_periods", "query_slots"):
                bodies[key].pop(k, None)
        for step in [bodies[("post", "/v1/sequenced_availability")]["sequence"]["items"]["properties"]]:
            for k in ("available_periods", "query_slots", "query_periods"):
                step.pop(k, None)
        for key in [("post", "/v1/scheduling_requests"), ("post", "/v1/scheduling_templates"),
                    ("post", "/v1/scheduling_templates/{sub}")]:
            for k in ("host_group", "template"):
                bodies[key].pop(k, None)
        bodies[("post", "/v1/calendars/{calendar_id}/events")].pop("event_uid")
        member["required"] = ["sub"]
        member["properties"].pop("available_periods")
        periods["minItems"] = 1
        event["required"] = ["summary"]
        for key in [("post", "/v1/scheduling_requests"), ("post", "/v1/scheduling_templates"),
                    ("post", "/v1/scheduling_templates/{sub}")]:
            rec = bodies[key]["recipients"]
            rec.update(minItems=1)
            rec["items"]["required"] = ["email"]
            rec["items"]["properties"]["email"] = {"enum": ["a@example.com", "b@example.org"]}
        rule = bodies[("post", "/v1/availability_rules")]
        rule["weekly_periods"]["items"]["required"] = ["day", "start_time", "end_time"]
        rule["calendar_ids"]["minItems"] = 1
        conv = bodies[("post", "/v1/scheduling_conversations")]
        conv["participants"].update(minItems=1)
        conv["participants"]["items"]["required"] = ["participant_id", "common_name"]
        group["required"] = ["members"]
        group["properties"]["members"]["minItems"] = 1
        period["required"] = ["start", "end"]
    pages = {"type": "string", "pattern": "^(-?[0-9]{1,25}|[A-Za-z0-9_-]{0,40})$"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            props = bodies.get((method, path))
            if props is not None:
                schema = {"type": "object", "properties": props}
                if strict and (method, path) in required:
                    schema["required"] = required[(method, path)]
                op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
            params = [p for p in op.get("parameters", [])]
            for p in params:
                if p["name"] == "calendar_id":
                    p["schema"] = cal_s
                elif p["name"] == "page":
                    p["schema"] = pages
            params += queries.get((method, path), [])
            if params:
                op["parameters"] = params
    json.dump(doc, sys.stdout, indent=1)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[3:] not in ([], ["loose"], ["strict"]):
        sys.exit(__doc__)
    main(sys.argv[1].rstrip("/"), sys.argv[2], *sys.argv[3:])
