"""Sending one queued e-mail (an outbox message of topic "mail") over SMTP, for the outbox dispatcher.

MARKETPLACE_SMTP_URL is smtp://[user:password@]host[:port] (STARTTLS with ?starttls=true) or smtps://…; unset (the
demo), the message is written to the log and counts as delivered, and the admin reads it on the outbox page. The
Message-ID is the outbox message's own, the same on every try: a server or mailbox that did receive a try whose
answer was lost sees the retry as the same message.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app

log = logging.getLogger(__name__)


class Outcome:
    DELIVERED = "delivered"
    RETRY = "retry"
    REFUSED = "refused"


def message_id(outbox_id: int) -> str:
    domain = current_app.config["MAIL_FROM"].rpartition("@")[2] or "localhost"
    return f"<outbox-{outbox_id}@{domain}>"


def compose(outbox_id: int, payload: dict) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = current_app.config["MAIL_FROM"]
    mail["To"] = payload["to"]
    mail["Subject"] = payload["subject"]
    mail["Message-ID"] = message_id(outbox_id)
    mail["Date"] = formatdate(localtime=False)
    mail.set_content(payload["body"])  # after it: set_content replaces every Content-* header
    mail["Content-Language"] = "zh-CN" if payload.get("locale", "zh_Hans").startswith("zh") else "en"
    return mail


def send(outbox_id: int, payload: dict) -> tuple[str, int | None, str | None]:
    """→ (outcome, SMTP code, error). A 4xx answer or a lost connection is retried; a 5xx is final."""
    mail = compose(outbox_id, payload)
    url = current_app.config.get("SMTP_URL")
    if not url:
        log.info("mail (no SMTP configured) to %s: %s\n%s", payload["to"], payload["subject"], payload["body"])
        return Outcome.DELIVERED, None, "no SMTP server configured: written to the log"
    parts = urlsplit(url)
    timeout = current_app.config["SMTP_TIMEOUT_S"]
    client_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    try:
        with client_class(parts.hostname or "localhost", parts.port or (465 if parts.scheme == "smtps" else 25),
                          timeout=timeout) as client:
            if parse_qs(parts.query).get("starttls") == ["true"]:
                client.starttls()
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(mail)
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()))
        return (Outcome.RETRY if 400 <= code < 500 else Outcome.REFUSED), code, _words(code, text)
    except smtplib.SMTPResponseException as error:
        code = error.smtp_code
        return (Outcome.RETRY if 400 <= code < 500 else Outcome.REFUSED), code, _words(code, error.smtp_error)
    except (smtplib.SMTPException, OSError) as error:
        return Outcome.RETRY, None, f"SMTP failed: {error}"[:1000]
    return Outcome.DELIVERED, 250, None


def _words(code: int, text: bytes | str) -> str:
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"SMTP {code}: {text}"[:1000]
