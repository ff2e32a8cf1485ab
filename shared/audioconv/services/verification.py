"""Verifying an account's e-mail address: the signed link mailed to it, and following it.

Until the owner follows the link, no completion mail goes to the address: anyone can
sign up with someone else's address, and that address must not be made to receive
our mail (finding 8 of issue 18). The link carries a JWT (HS256) under a key derived
from the token signing key for this use alone, with its own audience, so it is never
taken for an API token or an upload grant, nor they for it. It names the account and
a hash of the address it went to (a changed address makes older links void), and it
expires after ``email_verification_ttl_seconds``.

The mail is sent by the notifier, like every mail (in the cloud only the notify
service holds the SMTP password): the API publishes an account-mail message on the
finished topic (attribute ``accountMail``), whose handler sends it. Asking again is
throttled per account (``domain/account.VERIFY_MAIL``), and every mail to an address
counts towards its hourly bound (``services/mail_quota.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta

import jwt

from audioconv.domain.account import VERIFY_MAIL, address_key
from audioconv.domain.errors import Conflict, InvalidInput, MailRejected, NotFound
from audioconv.domain.model import User, valid_id
from audioconv.ports import UnitOfWork
from audioconv.services import mail_quota, throttling
from audioconv.services.dependencies import Dependencies

log = logging.getLogger(__name__)

# The attribute that marks an account mail on the finished topic, and its one kind.
ACCOUNT_MAIL = "accountMail"
VERIFY = "verify-email"
AUDIENCE = "audioconv:verify-email"
PATH = "/api/auth/verify-email"
_KEY_PURPOSE = b"audioconv e-mail verification links"


def _key(deps: Dependencies) -> bytes:
    """The links' own key: derived from the signing key, so no other token verifies."""
    # Any fixed purpose makes a key of its own (so a mutant of it is an equivalent one).
    key = deps.settings.signing_key.encode()
    return hmac.new(key, _KEY_PURPOSE, hashlib.sha256).digest()  # pragma: no mutate


def link_token(deps: Dependencies, user: User) -> str:
    now = deps.clock()
    claims = {
        "sub": str(user.id),
        "aud": AUDIENCE,
        "email": address_key(user.email),
        "iat": now,
        "exp": now + timedelta(seconds=deps.settings.email_verification_ttl_seconds),
    }
    # Explicit, though PyJWT's default (so dropping it is an equivalent mutant).
    return jwt.encode(claims, _key(deps), algorithm="HS256")  # pragma: no mutate


def link(deps: Dependencies, user: User) -> str:
    return f"{deps.settings.resolved_public_url}{PATH}?token={link_token(deps, user)}"


def _read(deps: Dependencies, token: str) -> tuple[int, str]:
    """The account and address hash a link names; InvalidInput if it is not one of ours
    or has expired."""
    try:
        claims = jwt.decode(
            token, _key(deps), algorithms=["HS256"], audience=AUDIENCE,
            options={"require": ["exp", "sub", "aud", "email"]},
        )  # fmt: skip
    except jwt.ExpiredSignatureError:
        raise InvalidInput(
            "this verification link has expired: log in and ask for a new one"
        ) from None
    except jwt.InvalidTokenError:
        raise InvalidInput("this is not a valid verification link") from None
    sub, email = claims["sub"], claims["email"]
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and valid_id(int(sub))):
        raise InvalidInput("this is not a valid verification link")
    return int(sub), str(email)


def verify(deps: Dependencies, token: str) -> User:
    """Follow a link: the account's address is verified (again is no error)."""
    user_id, address = _read(deps, token)
    with deps.uow() as uow:
        user = uow.users.get(user_id, for_update=True)
        if user is None:
            raise InvalidInput("this verification link is for an account that no longer exists")
        if not hmac.compare_digest(address_key(user.email), address):
            raise InvalidInput(
                "this verification link was sent to an address the account no longer has: "
                "ask for a new one"
            )
        if user.email_verified_at is None:
            user.email_verified_at = deps.clock()
            uow.commit()
    return user


def publish(deps: Dependencies, user_id: int) -> None:
    """Ask the notifier for a verification mail (after the commit that calls for it).
    A failing bus is logged: the owner can ask again."""
    try:
        deps.bus.publish(
            deps.settings.finished_topic,
            {"userId": user_id},
            {ACCOUNT_MAIL: VERIFY, "userId": str(user_id)},
        )
    except Exception:
        log.exception("asking for user %s's verification mail failed", user_id)


def check_allowance(deps: Dependencies, uow: UnitOfWork, user_id: int) -> None:
    """TooManyRequests if the account asked for too many links lately (asking again,
    or changing its address: each mails one)."""
    guards = [VERIFY_MAIL.on(str(user_id))]
    throttling.check(deps, uow, guards, "too many verification mails asked for")


def ask(deps: Dependencies, user_id: int) -> None:
    """Count a link asked for, and ask the notifier to mail it (after the commit)."""
    throttling.record(deps, [VERIFY_MAIL.on(str(user_id))])
    publish(deps, user_id)


def resend(deps: Dependencies, user_id: int) -> User:
    """Mail the link again (``POST /api/me/email/verify``): Conflict if the address is
    verified, TooManyRequests if asked too often."""
    with deps.uow(readonly=True) as uow:
        user = uow.users.get(user_id) if valid_id(user_id) else None
        if user is None:
            raise NotFound("no such user")
        if user.email_verified_at is not None:
            raise Conflict("your e-mail address is verified already")
        check_allowance(deps, uow, user_id)
    ask(deps, user_id)
    return user


def send(deps: Dependencies, user_id: int) -> None:
    """The notifier's side: mail the link to the account's address, unless it is
    verified already, the account is gone, or the address had its mails for the hour.
    A refusal for good is logged; a transient failure raises (redelivered)."""
    with deps.uow(readonly=True) as uow:
        user = uow.users.get(user_id) if valid_id(user_id) else None
    if user is None or user.email_verified_at is not None:
        log.info("verification mail for user %s not needed; dropped", user_id)
        return
    footer = mail_quota.take(deps, user.email)
    if footer is None:
        return
    body = (
        f"Hello {user.username},\n\n"
        "Someone, we hope you, signed up for audioconv with this address. To get a mail\n"
        "when your files are converted, confirm it by opening this link "
        f"(it works for {lifetime(deps.settings.email_verification_ttl_seconds)}):\n\n"
        f"{link(deps, user)}\n\n"
        "If this was not you, ignore this mail: no other mail goes to this address.\n"
        f"{footer}"
    )
    try:
        deps.mailer.send(user.email, "Confirm your e-mail address for audioconv", body)
    except MailRejected as exc:
        log.warning("verification mail for user %s given up: %s", user_id, exc)


def lifetime(seconds: int) -> str:
    """``seconds`` in words: whole hours, or minutes below two hours."""
    if seconds >= 7200:
        return f"{seconds // 3600} hours"
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes > 1 else ''}"
