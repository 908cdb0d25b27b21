"""Email over SMTP with smtplib: STARTTLS, implicit TLS or plain, with optional login.

Pages go to the person on call (the channel's recipients when nobody is); other
notifications go to the channel's recipients. SMTP's own codes decide what happens next:
4xx replies and lost connections are retried, 5xx replies are refused for good.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from opsyard.config import Settings
from opsyard.notifications.providers.base import Outcome, Outgoing, Target, headline, plain_text

SUBJECT_PREFIX = "[opsyard] "


def recipients(out: Outgoing, target: Target) -> list[str]:
    """Who gets the email: the addresses recorded with the notification, else the channel's."""
    if out.recipients:
        return list(out.recipients)
    return [str(a) for a in target.config.get("to") or []]


def build(out: Outgoing, *, to: list[str], settings: Settings) -> EmailMessage:
    """The email for `out`."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(to)
    message["Subject"] = SUBJECT_PREFIX + headline(out)
    message["Date"] = formatdate(out.created_at.timestamp(), usegmt=True)
    # Stable across retries, so a mail server that got the message twice can tell.
    message["Message-ID"] = f"<{out.message_id}@opsyard>"
    message["X-Opsyard-Team"] = out.team_slug
    if out.dedup_key:
        message["X-Opsyard-Dedup-Key"] = out.dedup_key
    message.set_content(plain_text(out))
    return message


def _connect(settings: Settings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    timeout = settings.smtp_timeout_seconds
    if settings.smtp_security == "ssl":
        return smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=context
        )
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    if settings.smtp_security == "starttls":
        smtp.starttls(context=context)
    return smtp


def _by_code(code: int, what: str) -> Outcome:
    # 4xx is "try again later" in SMTP; 5xx is "this will never work".
    return Outcome(delivered=False, retryable=400 <= code < 500, status=code, error=what)


def send(out: Outgoing, target: Target, settings: Settings) -> Outcome:
    """Hand `out` to the configured SMTP server."""
    if not settings.smtp_host:
        return Outcome.refused("OPSYARD_SMTP_HOST is not set; an operator must configure SMTP.")
    to = recipients(out, target)
    if not to:
        return Outcome.refused("Nobody to email: the channel has no recipients.")
    message = build(out, to=to, settings=settings)
    try:
        with _connect(settings) as smtp:
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        reasons = "; ".join(
            f"{a}: {c} {m.decode(errors='replace')}" for a, (c, m) in exc.recipients.items()
        )
        retryable = any(400 <= c < 500 for c in codes)
        return Outcome(
            delivered=False, retryable=retryable, status=min(codes, default=None), error=reasons
        )
    except smtplib.SMTPResponseException as exc:
        reason = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return _by_code(exc.smtp_code, f"SMTP {exc.smtp_code}: {reason}")
    except smtplib.SMTPNotSupportedError as exc:
        # The server lacks STARTTLS or AUTH: a setting to fix, not a hiccup to wait out.
        return Outcome.refused(f"SMTP server does not support this: {exc}")
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(delivered=False, retryable=True, error=f"{type(exc).__name__}: {exc}")
    accepted = [a for a in to if a not in refused]
    note = f"accepted for {', '.join(accepted)}"
    if refused:
        note += "; refused: " + ", ".join(refused)
    return Outcome(delivered=True, status=250, response=note)
