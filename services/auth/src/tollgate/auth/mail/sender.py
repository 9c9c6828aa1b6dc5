"""Outgoing email over SMTP (a local sink in development and tests).

Mail goes out after the request's transaction has committed (as a background
task), so a message never points at a code that was rolled back. A failed send
is logged; the user asks again, which is the usual remedy for lost mail.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

log = logging.getLogger("tollgate.auth.mail")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    sender: str
    timeout: float = 10.0


class Mailer:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def _send(self, message: EmailMessage) -> None:
        c = self.config
        with smtplib.SMTP(c.host, c.port, timeout=c.timeout) as smtp:
            if c.starttls:
                smtp.starttls()
            if c.username and c.password:
                smtp.login(c.username, c.password)
            smtp.send_message(message)

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.config.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        try:
            await asyncio.to_thread(self._send, message)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("could not send %r: %s", subject, exc)
