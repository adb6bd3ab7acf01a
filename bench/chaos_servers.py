"""The provider stand-ins and the server processes of bench/chaos.py (see there for what the run does)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from tests.integration.test_sms import TwilioRecorder
from tests.integration.test_telegram import BOT_TOKEN, BotApiRecorder
from tests.mailtools import Recorder as SmtpRecorder
from tests.servers import free_port, wait_healthy

ROOT = Path(__file__).resolve().parent.parent

PUBLIC = "https://chaos.example.test"
TWILIO_TOKEN = "chaos-twilio-auth-token"  # noqa: S105 (a test value for local servers)
TG_SECRET = "chaos-webhook-secret_0123456789"  # noqa: S105
SID = "AC" + "1" * 32
SUPPORT = "support@example.com"
MARKER = re.compile(r"\b(?:in|rp)-[a-z]+-\d+-\d+-[0-9a-f]{8}\b")
TRIES = 3
REPLY_CHANNELS = ("email", "telegram", "sms")



# --- the recorders (the tests' own stand-ins for the providers) ------------------------------------------

@dataclass
class Recorders:
    telegram: BotApiRecorder = field(default_factory=BotApiRecorder)
    twilio: TwilioRecorder = field(default_factory=TwilioRecorder)
    smtp: SmtpRecorder = field(default_factory=SmtpRecorder)
    runners: list[web.AppRunner] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)

    async def start(self) -> None:
        for name, app in (("telegram", self.telegram.app), ("twilio", self.twilio.app)):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self.runners.append(runner)
            self.urls[name] = f"http://127.0.0.1:{port}"
        await self.smtp.start()

    async def stop(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
        await self.smtp.stop()

    def sends(self) -> Counter[str]:
        """How often each reply marker was sent, over the three providers."""
        texts = [str(p.get("text", "")) for p in self.telegram.sent()]
        texts += [str(c["form"].get("Body", "")) for c in self.twilio.calls]
        for message in self.smtp.messages():
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    payload = part.get_payload(decode=True)
                    texts.append(payload.decode("utf-8", "replace") if isinstance(payload, bytes) else "")
        found: Counter[str] = Counter()
        for text in texts:
            found.update(set(m for m in MARKER.findall(text) if m.startswith("rp-")))
        return found


# --- the server processes -------------------------------------------------------------------------------

class Servers:
    """`contactcenter serve` processes on one database; each has its HTTP port and its SMTP port."""

    def __init__(self, count: int, database_url: str, folder: Path, recorders: Recorders, master_key: str) -> None:
        self.database_url = database_url
        self.folder = folder
        self.ports = [(free_port(), free_port()) for _ in range(count)]
        self.urls = [f"http://127.0.0.1:{http}" for http, _ in self.ports]
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self.env = {**os.environ, "CC_SERVER__SECRET_KEY": "chaos-bench-secret", "CC_SERVER__PUBLIC_URL": PUBLIC,
                    "CC_SERVER__LOG_LEVEL": "ERROR", "CC_PRIVACY__MASTER_KEY": master_key,
                    "CC_EMAIL__ENABLED": "true", "CC_EMAIL__SMTP_HOST": "127.0.0.1",
                    "CC_EMAIL__SMTP_PORT": str(recorders.smtp.port), "CC_EMAIL__ACKNOWLEDGE": "false",
                    "CC_WEBFORM__RATE_PER_IP": "0", "CC_WEBFORM__RATE_PER_ADDRESS": "0",
                    "CC_CHAT__RATE_PER_IP": "0", "CC_CHAT__RATE_PER_VISITOR": "0",
                    "CC_LIMITS__AGENT_SENDS_PER_MINUTE": "0", "CC_KB__EMBEDDINGS": "off",
                    "CC_SMS__AUTH_TOKEN": TWILIO_TOKEN, "CC_SMS__ACCOUNT_SID": SID,
                    "CC_SMS__FROM_NUMBER": "+15005550006", "CC_SMS__API_BASE_URL": recorders.urls["twilio"],
                    "CC_TELEGRAM__WEBHOOK_SECRET": TG_SECRET, "CC_TELEGRAM__BOT_TOKEN": BOT_TOKEN,
                    "CC_TELEGRAM__API_BASE_URL": recorders.urls["telegram"],
                    "CC_RELAY__CLAIM_TIMEOUT": "10"}  # a killed process's claims are taken over after 10 s
        if database_url:
            self.env["CC_DATABASE__URL"] = database_url

    def env_of(self, n: int) -> dict[str, str]:
        http, smtp = self.ports[n]
        return {**self.env, "CC_SERVER__PORT": str(http), "CC_EMAIL__PORT": str(smtp),
                "CC_SERVER__DATA_DIR": str(self.folder / f"server{n}" if self.database_url else self.folder)}

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "contactcenter", *args], env=self.env_of(0), cwd=ROOT,
                              check=True, capture_output=True, text=True, timeout=120)
        return done.stdout.strip()

    def start(self, n: int) -> None:
        with (self.folder / f"server{n}.log").open("ab") as log:  # stderr of every start of server n
            self.processes[n] = subprocess.Popen([sys.executable, "-m", "contactcenter", "serve"],
                                                 env=self.env_of(n), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)

    def log_counts(self) -> dict[str, int]:
        """What the servers logged: answers 500 ("unhandled error") and tracebacks (background retries)."""
        text = "".join((self.folder / f"server{n}.log").read_text("utf-8", "replace")
                       for n in range(len(self.urls)) if (self.folder / f"server{n}.log").exists())
        return {"unhandled_errors_500": text.count("unhandled error"), "tracebacks": text.count("Traceback")}

    def kill(self, n: int) -> None:
        process = self.processes[n]
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop_all(self) -> list[int]:
        codes = []
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            if process is not None:
                try:
                    codes.append(process.wait(timeout=60))
                except subprocess.TimeoutExpired:
                    process.kill()
                    codes.append(process.wait())
        return codes

    async def healthy(self, http: aiohttp.ClientSession, n: int, limit: float = 120.0) -> float:
        """Wait until server ``n`` answers /health 200; return the seconds it took."""
        return await wait_healthy(http, [self.urls[n]], limit)
