"""Sending notices: by SMTP, or to the log (embedded mode and tests)."""

from __future__ import annotations

import logging
import os
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

log = logging.getLogger("aiguillage.mail")


@dataclass(frozen=True)
class Mail:
    """One message; ``message_id`` is stable per notice so a resend can be recognised."""

    to: tuple[str, ...]
    subject: str
    body: str
    message_id: str


class Sender(Protocol):
    """Something that delivers mail (raises on failure)."""

    def send(self, mail: Mail) -> None:
        """Deliver ``mail``."""
        ...


@dataclass
class LogSender:
    """Writes each message to the log and keeps it (embedded mode, tests)."""

    sent: list[Mail] = field(default_factory=list)

    def send(self, mail: Mail) -> None:
        """Log the message."""
        self.sent.append(mail)
        log.info("notice %s to %s: %s", mail.message_id, ", ".join(mail.to), mail.subject)


@dataclass(frozen=True)
class SmtpSender:
    """Delivers through an SMTP server (STARTTLS when asked)."""

    host: str
    port: int = 587
    user: str | None = None
    password: str | None = None
    sender: str = "aiguillage@localhost"
    starttls: bool = True

    def send(self, mail: Mail) -> None:
        """Send ``mail`` over SMTP."""
        message = EmailMessage()
        message["From"], message["To"] = self.sender, ", ".join(mail.to)
        message["Subject"] = mail.subject
        message["Message-ID"] = f"<{mail.message_id}@aiguillage>"
        message.set_content(mail.body)
        with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)


def public_url() -> str:
    """The address people open Aiguillage at, for links in notices
    (``AIGUILLAGE_PUBLIC_URL``, without a trailing slash)."""
    return os.environ.get("AIGUILLAGE_PUBLIC_URL", "http://localhost:8000").rstrip("/")


def sender_from_environment() -> Sender:
    """SMTP when ``AIGUILLAGE_SMTP_HOST`` is set, otherwise the log."""
    host = os.environ.get("AIGUILLAGE_SMTP_HOST")
    if not host:
        return LogSender()
    return SmtpSender(host=host, port=int(os.environ.get("AIGUILLAGE_SMTP_PORT", "587")),
                      user=os.environ.get("AIGUILLAGE_SMTP_USER"),
                      password=os.environ.get("AIGUILLAGE_SMTP_PASSWORD"),
                      sender=os.environ.get("AIGUILLAGE_SMTP_FROM", "aiguillage@localhost"),
                      starttls=os.environ.get("AIGUILLAGE_SMTP_STARTTLS", "1") == "1")
