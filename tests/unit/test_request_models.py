"""The request models of entrypoints/schemas.py as the routes use them (web.validated):
what each accepts, and the 400 message naming the field for what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from audioconv.domain.api_key import Scope
from audioconv.domain.errors import InvalidInput
from audioconv.domain.model import MAX_ID
from audioconv.domain.options import ConversionOptions
from audioconv.entrypoints import schemas as s
from audioconv.entrypoints.web import validated


def refusal(model: type[Any], data: dict[str, Any]) -> str:
    """The message of the 400 ``data`` gets (a target format is asked for as the routes
    ask for it: a preset may still give it after the fields are read)."""
    with pytest.raises(InvalidInput) as refused:
        read = validated(model, data)
        if isinstance(read, s.UploadFields):
            assert read.target
    return refused.value.message


def test_required_text_is_there_short_enough_and_free_of_control_characters() -> None:
    body = validated(s.LoginBody, {"username": "ann", "password": "pw", "extra": 1})
    assert (body.username, body.password) == ("ann", "pw")  # other keys are ignored
    assert refusal(s.LoginBody, {"password": "pw"}) == "missing field 'username'"
    assert refusal(s.LoginBody, {"username": "", "password": "pw"}) == "missing field 'username'"
    assert refusal(s.LoginBody, {"username": 7, "password": "pw"}) == "missing field 'username'"
    assert refusal(s.LoginBody, {"username": "a" * 151, "password": "pw"}) == (
        "field 'username' must be at most 150 characters"
    )
    assert refusal(s.LoginBody, {"username": "a\x1bb", "password": "pw"}) == (
        "field 'username' must not contain control characters"
    )


def test_the_first_wrong_field_in_the_documents_order_is_named() -> None:
    assert refusal(s.SignupBody, {"username": "ann"}) == "missing field 'email'"
    assert refusal(s.PasswordChangeBody, {"oldPassword": "x"}) == "missing field 'newPassword'"


def test_an_upload_reads_its_options_as_conversion_options() -> None:
    form = validated(s.UploadFields, {"newFormat": "mp3", "bitrate": "192k", "sampleRate": "",
                                      "batch": " 12 ", "webhookUrl": ""})  # fmt: skip
    assert form.new_format == "mp3" and form.batch == 12 and form.webhook_url == ""
    assert form.conversion_options == ConversionOptions(bitrate=192)
    snake = validated(s.UploadFields, {"newFormat": "wav", "sample_rate": "8000"})
    assert snake.conversion_options == ConversionOptions()  # not the API's name: ignored
    bare = validated(s.ChangeFormatBody, {"newFormat": "wav"})
    assert bare.conversion_options == ConversionOptions() and not bare.model_fields_set - {
        "new_format"
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"bitrate": "192"}, "missing field 'newFormat'"),
     ({"newFormat": "mp3", "bitrate": "1" * 33}, "option 'bitrate' must be at most 32 characters"),
     ({"newFormat": "mp3", "sampleRate": "4" * 33},
      "option 'sampleRate' must be at most 32 characters"),
     ({"newFormat": "mp3", "loudness": -80},
      "loudness: Input should be greater than or equal to -70"),
     ({"newFormat": "mp3", "upscale": "maybe"}, "upscale must be true or false"),
     ({"newFormat": "mp3", "colour": "red", "bitrate": "x"},
      "bitrate must be a whole number of kbit/s (e.g. 192): Value error, must be a number in "
      "plain ASCII digits (such as 192 or 1.5)"),
     ({"newFormat": "mp3", "webhookUrl": 5}, "webhookUrl must be a URL (text), or null for none"),
     ({"newFormat": "mp3", "batch": "x"}, "batch must be a batch id (a whole number)")],
)  # fmt: skip
def test_a_wrong_upload_field_is_named_in_the_apis_words(
    fields: dict[str, Any], message: str
) -> None:
    assert refusal(s.UploadFields, fields) == message


def test_the_task_listing_query() -> None:
    assert validated(s.TaskQuery, {}).max is None and validated(s.TaskQuery, {}).order == "0"
    assert validated(s.TaskQuery, {"max": "5", "order": "1"}).max == 5
    assert validated(s.TaskQuery, {"max": str(10**30)}).max == MAX_ID  # capped, not refused
    for wrong in ("1_0", " 10", "\u0661\u0660", "1.5", "x", "9" * 5000):
        assert refusal(s.TaskQuery, {"max": wrong}) == "max must be an integer"
    assert refusal(s.TaskQuery, {"max": "0"}) == "max must be at least 1"
    assert refusal(s.TaskQuery, {"order": "2"}) == "order must be 0 (ascending) or 1 (descending)"


def test_the_zip_query() -> None:
    assert validated(s.ZipQuery, {}).layout == "flat"
    assert validated(s.ZipQuery, {"layout": ""}).layout == "flat"  # as left empty in a form
    assert validated(s.ZipQuery, {"layout": "album"}).layout == "album"
    for wrong in ("tree", "Album", " flat"):
        assert refusal(s.ZipQuery, {"layout": wrong}) == "layout must be one of flat, album"


def test_an_api_key_request_in_the_services_words() -> None:
    body = validated(s.ApiKeyBody, {"name": " cron ", "scopes": ["read", "convert", "read"]})
    assert (body.name, body.scopes) == ("cron", [Scope.READ, Scope.CONVERT])
    missing = "missing field 'name': what the key is for (e.g. 'nightly job')"
    for name in (None, "", "   ", 3):
        assert refusal(s.ApiKeyBody, {"name": name, "scopes": ["read"]}) == missing
    assert refusal(s.ApiKeyBody, {"scopes": []}) == missing  # the name first
    assert refusal(s.ApiKeyBody, {"name": "x" * 101, "scopes": ["read"]}) == (
        "field 'name' must be at most 100 characters"
    )
    assert validated(s.ApiKeyBody, {"name": f" {'x' * 100} ", "scopes": ["read"]}).name == "x" * 100
    assert refusal(s.ApiKeyBody, {"name": "a\x85b", "scopes": ["read"]}) == (
        "field 'name' must not contain control characters"
    )
    not_a_list = "field 'scopes' must be a non-empty list of 'read', 'convert'"
    for scopes in (None, [], "read", {"read": 1}):
        assert refusal(s.ApiKeyBody, {"name": "x", "scopes": scopes}) == not_a_list
    for wrong in ("admin", 1, "READ"):
        assert refusal(s.ApiKeyBody, {"name": "x", "scopes": ["read", wrong]}) == (
            f"unknown scope {wrong!r}: the scopes are 'read', 'convert'"
        )


def test_a_resumable_session_needs_its_size_before_anything_else() -> None:
    ticket = {"fileName": "a.wav", "newFormat": "flac"}
    assert validated(s.StartUploadBody, ticket).resumable_size is None
    off = validated(s.StartUploadBody, {**ticket, "resumable": False, "size": 9})
    assert off.resumable_size is None  # a size without a session is no session
    on = validated(s.StartUploadBody, {**ticket, "resumable": True, "size": 0})
    assert on.resumable_size == 0
    for wrong in ("true", 1, "yes"):
        assert refusal(s.StartUploadBody, {"resumable": wrong}) == "resumable must be true or false"
    needs = "a resumable upload needs size: the file's bytes, a whole number"
    for size in (None, -1, "12", 1.5, True):
        body = {"resumable": True} if size is None else {"resumable": True, "size": size}
        assert refusal(s.StartUploadBody, body) == needs  # before the missing fileName
