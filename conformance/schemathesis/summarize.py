#!/usr/bin/env python3
"""Distinct failures from schemathesis NDJSON event reports, one line each.

    summarize.py events-account.ndjson [events-secret.ndjson ...]

A failure is keyed by (operation, check code, response status). For each one the
first request seen is printed as a curl command; `Authorization` (which
schemathesis filters out of its reports) is shown as "Bearer $TOKEN".
Exits 1 if any failure was found, else 0.
"""

import base64
import json
import shlex
import sys


def quote(text):
    """Shell-quotes text; bytes outside printable ASCII become $'\\xNN' escapes."""
    if all(32 <= ord(c) < 127 for c in text):
        return shlex.quote(text)
    out = []
    for b in text.encode("utf-8", errors="surrogateescape"):
        c = chr(b)
        if c in "\\'":
            out.append("\\" + c)
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append(f"\\x{b:02x}")
    return "$'" + "".join(out) + "'"


def curl(request):
    parts = ["curl", "-sS", "-i", "-X", request.get("method", "GET")]
    for name, values in sorted((request.get("headers") or {}).items()):
        for value in values if isinstance(values, list) else [values]:
            if name.lower() == "authorization":
                value = "Bearer $TOKEN"
            parts += ["-H", f"{name}: {value}"]
    body = request.get("body")
    if isinstance(body, dict) and "$base64" in body:
        raw = base64.b64decode(body["$base64"])
        parts += ["--data-binary", raw.decode("utf-8", errors="surrogateescape")]
    parts.append(request.get("uri", "?"))
    text = " ".join(quote(p) for p in parts)
    return text.replace(shlex.quote("Authorization: Bearer $TOKEN"), '"Authorization: Bearer $TOKEN"')


def main(paths):
    found = {}
    for path in paths:
        label = path.rsplit("/", 1)[-1].removeprefix("events-").removesuffix(".ndjson")
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                event = json.loads(line)
                done = event.get("ScenarioFinished")
                if not done:
                    continue
                rec = done.get("recorder") or {}
                for case_id, checks in (rec.get("checks") or {}).items():
                    for check in checks:
                        if check.get("status") != "failure":
                            continue
                        failure = (check.get("failure_info") or {}).get("failure") or {}
                        interaction = (rec.get("interactions") or {}).get(case_id) or {}
                        response = interaction.get("response") or {}
                        status = response.get("status_code", "-")
                        op = failure.get("operation") or rec.get("label", "?")
                        key = (op, failure.get("code", check.get("name")), status)
                        entry = found.setdefault(key, {
                            "check": check.get("name"),
                            "title": failure.get("title", ""),
                            "message": (failure.get("message") or "").strip(),
                            "curl": curl(interaction.get("request") or {}),
                            "passes": set(),
                            "count": 0,
                            "phase": done.get("phase"),
                        })
                        entry["passes"].add(label)
                        entry["count"] += 1
    for (op, code, status), e in sorted(found.items(), key=lambda kv: (str(kv[0][1]), kv[0][0], str(kv[0][2]))):
        print(f"{code} {e['check']} | {op} | status {status} | passes: {','.join(sorted(e['passes']))} | {e['count']}x")
        print(f"    {e['title']}: {e['message'].splitlines()[0] if e['message'] else ''}")
        print(f"    {e['curl']}")
    print(f"# {len(found)} distinct failures")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
