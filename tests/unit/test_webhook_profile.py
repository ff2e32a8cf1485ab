"""Webhook URLs as users give them (their syntax, the SSRF guard) and the profile that
holds a user's webhook URL and mail choice, on fakes of every port."""

from __future__ import annotations

from typing import Any, cast

import pytest

from audioconv.config import Settings
from audioconv.domain.errors import InvalidInput, NotFound
from audioconv.domain.webhook_events import check_url_syntax
from audioconv.entrypoints.schemas import ProfileBody
from audioconv.entrypoints.web import validated
from audioconv.services import profile
from audioconv.services.dependencies import Dependencies
from tests.unit.fakes import FakeWebhooks, member

# --- the URL's syntax -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/in", "https://h.example:8443/a?b=c", "https://10.0.0.1/x",
     "https://x.example/" + "a" * (2048 - len("https://x.example/"))],
)  # fmt: skip
def test_an_absolute_https_url_with_a_host_is_accepted(url: str) -> None:
    assert check_url_syntax(url, allow_http=False) == url


def test_http_is_accepted_only_where_allowed() -> None:
    assert check_url_syntax("http://localhost:9000/hook", allow_http=True) == (
        "http://localhost:9000/hook"
    )
    with pytest.raises(ValueError, match=r"^webhookUrl must be an https URL$"):
        check_url_syntax("http://localhost:9000/hook", allow_http=False)
    with pytest.raises(ValueError, match=r"^webhookUrl must be an https or http URL$"):
        check_url_syntax("ftp://example.com/hook", allow_http=True)


@pytest.mark.parametrize(
    ("url", "message"),
    [("https://x.example/" + "a" * (2049 - len("https://x.example/")),
      "webhookUrl must be at most 2048 characters"),
     ("https://example.com:99999/", "webhookUrl is not a valid URL"),
     ("https://[::1/", "webhookUrl is not a valid URL"),
     ("example.com/hook", "webhookUrl must be an https URL"),
     ("https:///hook", "webhookUrl must name a host"),
     ("https://ann@example.com/", "webhookUrl must not carry a user name or password"),
     ("https://:secret@example.com/", "webhookUrl must not carry a user name or password"),
     ("https://example.com/#part", "webhookUrl must not have a fragment, spaces or control "
      "characters"),
     ("https://example.com/a b", "webhookUrl must not have a fragment, spaces or control "
      "characters"),
     ("https://example.com/a\tb", "webhookUrl must not have a fragment, spaces or control "
      "characters"),
     ("https://example.com/a\x7fb", "webhookUrl must not have a fragment, spaces or control "
      "characters"),  # DEL
     ("https://example.com/a\x85b", "webhookUrl must not have a fragment, spaces or control "
      "characters")],  # a C1 control
)  # fmt: skip
def test_a_url_that_cannot_be_a_webhook_is_refused_saying_why(url: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_url_syntax(url, allow_http=False)
    assert str(refused.value) == message


# --- the URL from a request -----------------------------------------------------------------


def test_a_requests_webhook_url_is_none_or_a_url_that_may_be_called(deps: Dependencies) -> None:
    assert profile.checked_url(deps, None) is None
    assert profile.checked_url(deps, "") is None
    assert profile.checked_url(deps, "https://hooks.example.com/in") == (
        "https://hooks.example.com/in"
    )
    with pytest.raises(InvalidInput) as number:  # a request's field that is no text
        validated(ProfileBody, {"webhookUrl": 5})
    assert number.value.message == "webhookUrl must be a URL (text), or null for none"
    with pytest.raises(InvalidInput) as fragment:
        profile.checked_url(deps, "https://example.com/#x")
    assert fragment.value.message == (
        "webhookUrl must not have a fragment, spaces or control characters"
    )
    cast(FakeWebhooks, deps.webhooks).refused_hosts.add("internal.example")
    with pytest.raises(InvalidInput) as guarded:
        profile.checked_url(deps, "https://internal.example/hook")
    assert guarded.value.message == "webhookUrl: internal.example is a private address (fake)"


def test_plain_http_webhooks_follow_the_setting(deps: Dependencies) -> None:
    assert deps.settings.embedded  # the embedded mode allows http by default
    assert profile.checked_url(deps, "http://127.0.0.1:9/") == "http://127.0.0.1:9/"
    # A new Settings: model_copy would keep the cached resolved_webhook_allow_http.
    deps.settings = Settings(data_dir=deps.settings.data_dir, secret_key="x" * 32,
                             webhook_allow_http=False)  # fmt: skip
    with pytest.raises(InvalidInput, match=r"^webhookUrl must be an https URL$"):
        profile.checked_url(deps, "http://127.0.0.1:9/")


# --- the profile ----------------------------------------------------------------------------


def user_id(deps: Dependencies) -> int:
    user = member(deps)
    assert user.id is not None
    return user.id


def test_a_new_profile_has_no_webhook_and_mails_on(deps: Dependencies) -> None:
    user = profile.profile(deps, user_id(deps))
    assert user.username == "ann" and user.webhook_url is None and user.email_notifications


@pytest.mark.parametrize("missing", [99, 0, 2**31])
def test_a_missing_user_has_no_profile(deps: Dependencies, missing: int) -> None:
    for call in (lambda: profile.profile(deps, missing),
                 lambda: profile.update_profile(deps, missing, email_notifications=False),
                 lambda: profile.secret(deps, missing)):  # fmt: skip
        with pytest.raises(NotFound) as absent:
            call()
        assert absent.value.message == "no such user"


def test_the_profile_sets_and_clears_the_webhook_and_the_mail_choice(deps: Dependencies) -> None:
    uid = user_id(deps)
    user = profile.update_profile(deps, uid, webhook_url="https://hooks.example.com/in")
    assert user.webhook_url == "https://hooks.example.com/in" and user.email_notifications
    user = profile.update_profile(deps, uid, email_notifications=False)
    assert user.webhook_url == "https://hooks.example.com/in" and not user.email_notifications
    user = profile.update_profile(deps, uid, email_notifications=None)
    assert not user.email_notifications  # null leaves it as it is
    user = profile.update_profile(deps, uid, webhook_url=None, email_notifications=True)
    assert user.webhook_url is None and user.email_notifications
    user = profile.update_profile(deps, uid, webhook_url="https://a.example/")
    user = profile.update_profile(deps, uid, webhook_url="")
    assert user.webhook_url is None
    assert profile.profile(deps, uid).webhook_url is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"username": "x"}, "unknown field(s) username: only webhookUrl, "
      "emailNotifications and email can be changed"),
     ({"webhookUrl": None, "b": 1, "a": 2}, "unknown field(s) a, b: only webhookUrl, "
      "emailNotifications and email can be changed"),
     ({"email": "not an address"}, "email is not a valid address: An email address must "
      "have an @-sign."),
     ({"email": 7}, "email must be an e-mail address"),
     ({"email": "a\x00b@example.com"}, "field 'email' must not contain control characters"),
     ({"emailNotifications": "yes"}, "emailNotifications must be true or false"),
     ({"emailNotifications": 0}, "emailNotifications must be true or false"),
     ({"webhookUrl": "ftp://example.com/", "emailNotifications": False},
      "webhookUrl must be an https or http URL")],
)  # fmt: skip
def test_a_wrong_profile_change_changes_nothing(
    deps: Dependencies, changes: dict[str, Any], message: str
) -> None:
    uid = user_id(deps)
    profile.update_profile(deps, uid, webhook_url="https://hooks.example.com/in")
    with pytest.raises(InvalidInput) as refused:  # as PUT /api/me: the body, the service
        profile.update_profile(deps, uid, **validated(ProfileBody, changes).changes())
    assert refused.value.message == message
    user = profile.profile(deps, uid)
    assert user.webhook_url == "https://hooks.example.com/in" and user.email_notifications
