"""Reads mails the way a mail client does and prints what they say as JSON.

    python check_mail.py FILE...

For each message: its headers, its MIME structure, the text and HTML parts,
and the text/calendar part parsed with the icalendar package (method, UID,
SEQUENCE, times in UTC, organizer, attendees). Fails loudly on a message
that does not parse.
"""
import email
import email.policy
import json
import sys

import icalendar


def utc(v):
    return v.dt.strftime("%Y-%m-%dT%H:%M:%SZ") if v.dt.utcoffset().total_seconds() == 0 else None


def one(path):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    out = {
        "file": path,
        "to": str(msg["To"]),
        "from": str(msg["From"]),
        "subject": str(msg["Subject"]),
        "message_id": str(msg["Message-ID"]),
        "content_type": msg.get_content_type(),
        "types": [p.get_content_type() for p in msg.walk()],
    }
    alternative = [p for p in msg.walk() if p.get_content_type() == "multipart/alternative"]
    out["alternative"] = [p.get_content_type() for p in alternative[0].iter_parts()] if alternative else []
    for p in msg.walk():
        t = p.get_content_type()
        if t == "text/plain":
            out["text"] = p.get_content()
        elif t == "text/html":
            out["html"] = p.get_content()
        elif t == "text/calendar":
            out["calendar_method_param"] = p.get_param("method")
            raw = p.get_content()
            out["ics"] = raw
            cal = icalendar.Calendar.from_ical(raw)
            events = [c for c in cal.walk() if c.name == "VEVENT"]
            out["ics_method"] = str(cal.get("METHOD"))
            out["vevents"] = len(events)
            e = events[0]
            out["uid"] = str(e.get("UID"))
            out["sequence"] = int(e.get("SEQUENCE"))
            out["dtstart"] = utc(e.get("DTSTART"))
            out["dtend"] = utc(e.get("DTEND"))
            out["summary"] = str(e.get("SUMMARY"))
            out["location"] = str(e.get("LOCATION")) if e.get("LOCATION") else None
            out["description"] = str(e.get("DESCRIPTION")) if e.get("DESCRIPTION") else None
            out["status"] = str(e.get("STATUS"))
            org = e.get("ORGANIZER")
            out["organizer"] = str(org) if org else None
            att = e.get("ATTENDEE") or []
            if not isinstance(att, list):
                att = [att]
            out["attendees"] = sorted(str(a) for a in att)
    return out


print(json.dumps([one(p) for p in sys.argv[1:]]))
