"""Outgoing email: SMTP when configured, otherwise .eml files in the outbox folder of the data dir.

Mail is only ever sent by the job worker (kind "email"), never inside a
service call, so a slow mail server cannot hold a database transaction open.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from agentdesk.config import Settings
from agentdesk.services.deploy.files import create_private, private_dir

log = logging.getLogger(__name__)


class MailError(Exception):
    """The message could not be handed over; worth trying again later."""


def compose(settings: Settings, to: str | list[str], subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = ", ".join(to) if isinstance(to, list) else to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="agentdesk.invalid")
    message.set_content(body)
    return message


def outbox_dir(settings: Settings) -> Path:
    return settings.data_dir / "outbox"


def deliver(settings: Settings, message: EmailMessage) -> str:
    """Send it; returns where it went (the SMTP host or the .eml path)."""
    smtp = settings.smtp
    if smtp is None:
        path = private_dir(outbox_dir(settings)) / f"{uuid.uuid4().hex}.eml"
        with create_private(path) as fh:
            fh.write(bytes(message))
        log.info("mail %s written to %s", message["Message-ID"], path)
        return str(path)
    where = f"{smtp.host}:{smtp.port}"
    client: smtplib.SMTP
    try:
        if smtp.tls == "ssl":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            if smtp.tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                password = smtp.password.get_secret_value() if smtp.password is not None else ""
                client.login(smtp.username, password)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail %s not sent through %s: %s", message["Message-ID"], where, exc)
        raise MailError(f"SMTP {where}: {exc}") from exc
    log.info("mail %s sent through %s", message["Message-ID"], where)
    return f"smtp://{where}"
