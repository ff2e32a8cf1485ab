"""Uploads to ``POST /api/tasks``, as a multipart form or as the raw body.

A multipart body is parsed as it streams in (streaming-form-data, in Cython); a raw
one (``application/octet-stream`` or ``audio/*``, its fields in the query string) is
copied as it streams in. Either way each file is written once, to a spool file on
the data disk, from where the blob store can take it with a rename. A form may carry
several files, each its own ``fileName`` part (a batch)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import request
from streaming_form_data import StreamingFormDataParser
from streaming_form_data.parser import ParseFailedException
from streaming_form_data.targets import BaseTarget, ValueTarget
from streaming_form_data.validators import MaxSizeValidator, ValidationError
from werkzeug.datastructures import MultiDict

from audioconv.domain.errors import InvalidInput, PayloadTooLarge
from audioconv.spool import new_file

FILE_FIELD = "fileName"
CUT_SHORT = "the request body ended before its Content-Length; nothing was kept: send it again"
CHUNK = 1 << 20


# Most files one multipart request may carry.
MAX_FILES = 1000


@dataclass(frozen=True)
class SpooledFile:
    """One uploaded file on disk and the name the client gave it."""

    path: Path
    file_name: str


@dataclass(frozen=True)
class ReceivedUpload:
    """The uploaded files on disk (the caller removes them: ``discard``), in the order
    sent, and the text fields."""

    files: tuple[SpooledFile, ...]
    fields: dict[str, str]

    @property
    def path(self) -> Path:
        """The first (for most requests, the only) file."""
        return self.files[0].path

    @property
    def file_name(self) -> str:
        return self.files[0].file_name

    def discard(self) -> None:
        """Remove whatever spool files are still there."""
        for file in self.files:
            file.path.unlink(missing_ok=True)


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
    files = _SpoolFiles(spool)
    try:
        try:
            parser = StreamingFormDataParser(headers={"Content-Type": request.content_type or ""})
        except ParseFailedException:
            raise InvalidInput(
                "the multipart body needs a boundary: Content-Type: multipart/form-data; "
                "boundary=..."
            ) from None
        parser.register(FILE_FIELD, files)
        values = {field: _Field(validator=MaxSizeValidator(max_field_bytes))
                  for field in text_fields}  # fmt: skip
        for field, target in values.items():
            parser.register(field, target)
        stream = body()
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
        except UnicodeDecodeError:  # a part's header (its file name) is not UTF-8
            raise InvalidInput(
                "a part of the multipart body has a name that is not UTF-8"
            ) from None
        files.end()
        if not files.received:
            raise InvalidInput(f"missing file: send it as multipart field {FILE_FIELD!r}")
        fields = {}
        for field, target in values.items():
            if not target.present:
                continue
            if target.parts > 1:  # the parser would join them: "mp" + "3" is "mp3"
                raise InvalidInput(f"field {field!r} is given {target.parts} times; send it once")
            try:
                fields[field] = target.value.decode()
            except UnicodeDecodeError:
                raise InvalidInput(f"field {field!r} is not UTF-8 text") from None
        return ReceivedUpload(tuple(files.received), fields)
    except BaseException:
        files.discard()
        raise


def _receive_raw(spool: Path, text_fields: Iterable[str]) -> ReceivedUpload:
    file_name = request.args.get(FILE_FIELD)
    if not file_name:
        raise InvalidInput(f"missing query parameter {FILE_FIELD!r}: the file's name")
    fields = one_value_each(request.args, (FILE_FIELD, *text_fields))
    fields.pop(FILE_FIELD, None)
    path = _spool_file(spool)
    try:
        stream = body()
        with path.open("wb") as out:
            while chunk := stream.read(CHUNK):
                out.write(chunk)
        return ReceivedUpload((SpooledFile(path, file_name),), fields)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def body() -> _Readable:
    """This request's body, limited to the upload size (RequestEntityTooLarge past it).

    A body with a Content-Length is read straight from the server's stream: werkzeug's
    ``LimitedStream`` copies every chunk twice more, a tenth of an upload's CPU. It
    ends where the length says; one that ends sooner is a 400 (nothing of it is kept)."""
    stream = request.stream  # checks the length against the limit
    length = request.content_length
    if length is None:
        return stream
    return _Exact(request.environ["wsgi.input"], length)


class _Exact:
    """The ``length`` bytes of a body, from the server's own stream."""

    def __init__(self, stream: _Readable, length: int) -> None:
        self._stream, self._left = stream, length

    def read(self, size: int, /) -> bytes:
        if self._left <= 0:
            return b""
        try:
            chunk = self._stream.read(min(size, self._left))
        except TimeoutError:
            raise  # 408: the rest did not come in time
        except (OSError, ValueError) as exc:
            raise InvalidInput(CUT_SHORT) from exc
        if not chunk:
            raise InvalidInput(CUT_SHORT)
        self._left -= len(chunk)
        return bytes(chunk)


def one_value_each(source: MultiDict[str, str], names: Iterable[str]) -> dict[str, str]:
    """The named fields of a query or form, each given at most once (InvalidInput
    otherwise: which of two values was meant is anyone's guess)."""
    fields = {}
    for name in names:
        values = source.getlist(name)
        if len(values) > 1:
            raise InvalidInput(f"field {name!r} is given {len(values)} times; send it once")
        if values:
            fields[name] = values[0]
    return fields


def _spool_file(spool: Path) -> Path:
    return new_file(spool)  # named for this process: swept if it dies (spool.py)


class _Field(ValueTarget):  # type: ignore[misc]
    """A text field, remembering whether the body had it at all (it may be empty)."""

    present = False
    parts = 0

    def on_start(self) -> None:
        self.present = True
        self.parts += 1


class _SpoolFiles(BaseTarget):  # type: ignore[misc]
    """Every ``fileName`` part, each to its own spool file (a part with no file name,
    as a form sends for a file input left empty, is dropped)."""

    def __init__(self, spool: Path) -> None:
        super().__init__()
        self.spool = spool
        self.received: list[SpooledFile] = []
        self._current: SpooledFile | None = None
        self._out: BinaryIO | None = None

    def on_start(self) -> None:
        if len(self.received) >= MAX_FILES:
            raise PayloadTooLarge(f"the form has more than {MAX_FILES} files")
        path = _spool_file(self.spool)
        self._current = SpooledFile(path, self.multipart_filename or "")
        self._out = path.open("wb")

    def on_data_received(self, chunk: bytes) -> None:
        assert self._out is not None
        self._out.write(chunk)

    def on_finish(self) -> None:
        assert self._out is not None and self._current is not None
        self._out.close()
        self._out = None
        if self._current.file_name:
            self.received.append(self._current)
        else:
            self._current.path.unlink(missing_ok=True)
        self._current = None
        self.multipart_filename = None

    def end(self) -> None:
        """Keep a part the body ended without finishing (an empty file with no line
        break before the closing boundary, as werkzeug writes it)."""
        if self._out is not None:
            self.on_finish()

    def discard(self) -> None:
        if self._out is not None:
            self._out.close()
        if self._current is not None:
            self._current.path.unlink(missing_ok=True)
        for file in self.received:
            file.path.unlink(missing_ok=True)
