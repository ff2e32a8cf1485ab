"""An account's life cycle after sign-up: logging out, changing the password, deleting it.

Each revokes tokens through their records in the database (``domain/account.py``),
so the change holds on every API process and instance at the next request. Changing
the password and deleting the account ask for the current password, checked as a
log-in is (argon2, and the same throttles: a stolen token does not let anyone guess
the password faster than the log-in route would).
"""

from __future__ import annotations

import logging

from audioconv.domain.account import VERIFY_MAIL, Deleted
from audioconv.domain.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from audioconv.domain.model import User, valid_id
from audioconv.services import auth, resumable
from audioconv.services.dependencies import Dependencies
from audioconv.services.direct_uploads import PREFIX as DIRECT_UPLOADS
from audioconv.services.tasks import stored_files

log = logging.getLogger(__name__)
WRONG_PASSWORD = "the password is not right"


def logout(deps: Dependencies, caller: auth.Caller) -> None:
    """Revoke the token the request was sent with (everywhere, at once)."""
    with deps.uow() as uow:
        uow.tokens.revoke(caller.token_id)
        uow.commit()


def _user(deps: Dependencies, user_id: int) -> User:
    with deps.uow(readonly=True) as uow:
        user = uow.users.get(user_id) if valid_id(user_id) else None
    if user is None:
        raise NotFound("no such user")
    return user


def confirm_password(deps: Dependencies, user_id: int, password: str, client: str = "") -> User:
    """The account, if ``password`` is its password (checked, and throttled, as a log-in
    is); Forbidden if it is not, TooManyRequests after too many wrong ones."""
    user = _user(deps, user_id)
    try:
        return auth.login(deps, user.username, password, client)
    except Unauthorized:
        raise Forbidden(WRONG_PASSWORD) from None


def change_password(
    deps: Dependencies, caller: auth.Caller, old: str, new: str, client: str = ""
) -> int:
    """Set a new password (under sign-up's rules) and revoke every token of the user but
    the one this request came with; how many were revoked."""
    auth.check_new_password(new, "newPassword")
    if new == old:
        raise InvalidInput("newPassword is the password you have: choose another")
    confirm_password(deps, caller.user_id, old, client)
    hashed = auth.hash_password(new)
    with deps.uow() as uow:
        user = uow.users.get(caller.user_id, for_update=True)
        if user is None:
            raise NotFound("no such user")
        user.password_hash = hashed
        revoked = uow.tokens.revoke_all(caller.user_id, keep=caller.token_id)
        uow.commit()
    log.info("user %s changed their password; %d other tokens revoked", caller.user_id, revoked)
    return revoked


def delete_account(deps: Dependencies, user_id: int, password: str, client: str = "") -> Deleted:
    """Remove the account and everything it has: tasks and their files (inputs,
    outputs, waveforms), direct uploads not yet made tasks, batches, webhooks, queued
    messages (conversions, mails, webhook attempts) and tokens; say how many of each.

    The database goes first, in one transaction; then the files (a crash in between
    leaves only orphan files, which nothing refers to: the embedded start-up removes
    them). Work already running for the account finds its task gone and drops what it
    made; messages on Pub/Sub are dropped as stale when they arrive.
    """
    confirm_password(deps, user_id, password, client)
    with deps.uow() as uow:
        user = uow.users.get(user_id, for_update=True)
        if user is None:
            raise NotFound("no such user")
        # All of them, in any order (so the order's flag is an equivalent mutant).
        owned = list(uow.tasks.for_user(user_id, None, False))  # pragma: no mutate
        keys = {key for task in owned for key in stored_files(task)}
        task_ids = [task.id for task in owned if task.id is not None]
        webhooks = int(bool(user.webhook_url)) + sum(bool(t.webhook_url) for t in owned)
        webhooks += uow.uploads.forget_user(user_id)
        queued = uow.queue.discard(task_ids, user_id)
        tokens = uow.tokens.revoke_all(user_id)
        for task in owned:
            uow.tasks.delete(task)
        found = list(uow.batches.for_user(user_id))
        for batch in found:
            uow.batches.delete(batch)
        uow.throttles.clear([VERIFY_MAIL.on(str(user_id))[1]])
        uow.users.delete(user)
        uow.commit()
    keys.update(deps.blobs.keys(f"{DIRECT_UPLOADS}{user_id}/"))
    for key in keys:
        deps.blobs.delete(key)
    parts = resumable.forget_user(deps, user_id)  # unfinished tus uploads' bytes
    deleted = Deleted(len(owned), len(keys) + parts, len(found), webhooks, queued, tokens)
    log.info("user %s deleted their account: %s", user_id, deleted.as_json())
    return deleted
