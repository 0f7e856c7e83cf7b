"""An SMTP server for the mail tests, on loopback.

    python smtp_sink.py PORT DIR

Writes every message it accepts to DIR (one file each, named by arrival
order) and answers 550 for recipients at reject.example, so a test can see a
permanent refusal. Runs until killed.
"""
import asyncio
import os
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.n = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith("@reject.example"):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        name = os.path.join(self.folder, f"{self.n:04d}.eml")
        tmp = name + ".tmp"
        with open(tmp, "wb") as f:
            f.write(envelope.original_content)
        # Whole files only: a test reading the folder never sees half a mail.
        os.rename(tmp, name)
        return "250 Message accepted"


def main():
    port, folder = int(sys.argv[1]), sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    c = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    c.start()
    print("ready", flush=True)
    try:
        asyncio.new_event_loop().run_forever()
    finally:
        c.stop()


if __name__ == "__main__":
    main()
