"""E-mail over SMTP (RFC 5321), STARTTLS or implicit TLS, a plain-text body with the link."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ingest.notifier.channels import ChannelSettings, Delivery, DeliveryFailed

SECURITY_MODES = ("starttls", "tls", "none")


def message_of(delivery: Delivery, sender: str) -> EmailMessage:
    notice = delivery.notice
    message = EmailMessage()
    message["From"] = sender
    message["To"] = delivery.target
    message["Subject"] = f"[truckguard] {notice.title}"
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(idstring=delivery.message_id[:16], domain="truckguard")
    # RFC 3834: an automatic message; mail robots and out-of-office replies leave it alone.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Truckguard-Message-Id"] = delivery.message_id
    message.set_content(notice.text() + "\n")
    return message


class EmailChannel:
    kind = "email"

    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings
        self._tls: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:  # loading the CA store takes tens of milliseconds: once, not per message
            self._tls = ssl.create_default_context()
        return self._tls

    def check_target(self, target: str) -> str | None:
        local, _, domain = target.partition("@")
        if not local or ("." not in domain and domain != "localhost") or any(c.isspace() for c in target):
            return f"target: {target!r} is not an e-mail address"
        return None

    def send(self, delivery: Delivery) -> None:
        s = self.settings
        if not s.smtp_host:
            raise DeliveryFailed("no SMTP server configured (TRUCKGUARD_SMTP_HOST)", permanent=True)
        if s.smtp_security not in SECURITY_MODES:
            raise DeliveryFailed(f"TRUCKGUARD_SMTP_SECURITY={s.smtp_security!r}: expected one of "
                                 f"{', '.join(SECURITY_MODES)}", permanent=True)
        message = message_of(delivery, s.smtp_from)
        try:
            smtp: smtplib.SMTP
            if s.smtp_security == "tls":
                smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.http_timeout_s, context=self._context())
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.http_timeout_s)
            with smtp:
                if s.smtp_security == "starttls":
                    smtp.starttls(context=self._context())
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            # RFC 5321 §4.2.1: 5yz is a permanent failure, 4yz a transient one.
            permanent = all(code >= 500 for code, _ in exc.recipients.values())
            raise DeliveryFailed(f"{delivery.target}: refused by the server ({exc.recipients})",
                                 permanent=permanent) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=exc.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP {s.smtp_host}:{s.smtp_port}: {exc}") from None
