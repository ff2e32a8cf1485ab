"""Uploads to ``POST /api/tasks``, as a multipart form or as the raw body.

A multipart body is parsed as it streams in (streaming-form-data, in Cython); a raw
one (``application/octet-stream`` or ``audio/*``, its fields in the query string) is
copied as it streams in. Either way the file is written once, to a spool file on
the data disk, from where the blob store can take it with a rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from flask import request
from streaming_form_data import StreamingFormDataParser
from streaming_form_data.parser import ParseFailedException
from streaming_form_data.targets import FileTarget, ValueTarget
from streaming_form_data.validators import MaxSizeValidator, ValidationError

from audioconv.domain.errors import InvalidInput, PayloadTooLarge

FILE_FIELD = "fileName"
# The folder, inside the work folder, of uploads being received.
INCOMING = "incoming"
CHUNK = 1 << 20


@dataclass(frozen=True)
class ReceivedUpload:
    """The uploaded file on disk (the caller removes it), its name and the text fields."""

    path: Path
    file_name: str
    fields: dict[str, str]


def is_raw() -> bool:
    """Whether this request sends the file as its whole body."""
    return request.mimetype == "application/octet-stream" or request.mimetype.startswith("audio/")


def receive(spool: Path, text_fields: Iterable[str], max_field_bytes: int) -> ReceivedUpload:
    """Read this request's upload: the file to a file under ``spool``, the named text
    fields (at most ``max_field_bytes`` each) to memory, anything else nowhere."""
    if is_raw():
        return _receive_raw(spool, text_fields)
    if request.mimetype != "multipart/form-data":
        raise InvalidInput(
            f"missing file: send it as multipart field {FILE_FIELD!r}, or as the body "
            f"(Content-Type: application/octet-stream) with ?{FILE_FIELD}=...&newFormat=..."
        )
    path = _spool_file(spool)
    try:
        parser = StreamingFormDataParser(headers={"Content-Type": request.content_type or ""})
        file = FileTarget(str(path))
        parser.register(FILE_FIELD, file)
        values = {field: _Field(validator=MaxSizeValidator(max_field_bytes))
                  for field in text_fields}  # fmt: skip
        for field, target in values.items():
            parser.register(field, target)
        stream = request.stream  # limited to the upload size: RequestEntityTooLarge past it
        try:
            while chunk := stream.read(CHUNK):
                parser.data_received(chunk)
        except ValidationError:
            raise PayloadTooLarge(
                f"a form field is larger than the limit of {max_field_bytes} bytes "
                f"(send the file itself as the multipart field {FILE_FIELD!r})"
            ) from None
        except ParseFailedException:
            raise InvalidInput("the multipart body is malformed") from None
        if not file.multipart_filename:
            raise InvalidInput(f"missing file: send it as multipart field {FILE_FIELD!r}")
        fields = {}
        for field, target in values.items():
            if not target.present:
                continue
            try:
                fields[field] = target.value.decode()
            except UnicodeDecodeError:
                raise InvalidInput(f"field {field!r} is not UTF-8 text") from None
        return ReceivedUpload(path, file.multipart_filename, fields)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _receive_raw(spool: Path, text_fields: Iterable[str]) -> ReceivedUpload:
    file_name = request.args.get(FILE_FIELD)
    if not file_name:
        raise InvalidInput(f"missing query parameter {FILE_FIELD!r}: the file's name")
    fields = {field: request.args[field] for field in text_fields if field in request.args}
    path = _spool_file(spool)
    try:
        stream = request.stream  # limited to the upload size: RequestEntityTooLarge past it
        with path.open("wb") as out:
            while chunk := stream.read(CHUNK):
                out.write(chunk)
        return ReceivedUpload(path, file_name, fields)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _spool_file(spool: Path) -> Path:
    spool.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=spool, prefix="upload-")
    os.close(fd)
    return Path(name)


class _Field(ValueTarget):  # type: ignore[misc]
    """A text field, remembering whether the body had it at all (it may be empty)."""

    present = False

    def on_start(self) -> None:
        self.present = True
