"""A resumable (tus) upload's creation: the route hands the service the file's name and
target format read from ``Upload-Metadata``, and the service checks them in its order
(the size first, then the name, then the format)."""

from __future__ import annotations

import pytest

from audioconv.domain.errors import InvalidInput, PayloadTooLarge
from audioconv.services import resumable
from audioconv.services.dependencies import Dependencies
from tests.unit.fakes import member

NO_NAME = "Upload-Metadata must name the file: filename <base64 name>"


def test_the_files_name_is_the_first_name_key_given() -> None:
    assert resumable.named_file({"name": "c.wav", "fileName": "b.wav"}) == "b.wav"
    assert resumable.named_file({"filename": "a.wav", "name": "c.wav"}) == "a.wav"
    assert resumable.named_file({"filename": "", "name": "c.wav"}) == "c.wav"
    assert resumable.named_file({"newFormat": "mp3"}) is None


def test_an_upload_is_made_for_a_name_and_a_format(deps: Dependencies) -> None:
    user = member(deps)
    assert user.id is not None
    upload = resumable.create(deps, user.id, 10, "../a song.wav", "MP3")
    assert upload.length == 10 and upload.key.endswith("/a song.wav") and "/mp3/" in upload.key
    too_big = deps.settings.max_upload_bytes + 1
    with pytest.raises(PayloadTooLarge):
        resumable.create(deps, user.id, too_big, None, None)  # the size, before the rest
    with pytest.raises(InvalidInput) as refused:
        resumable.create(deps, user.id, 10, None, "nope")
    assert refused.value.message == NO_NAME
    with pytest.raises(InvalidInput, match="nope"):
        resumable.create(deps, user.id, 10, "a.wav", "nope")
