"""One spelling per account: usernames and e-mail addresses as they are stored and looked up.

A username is NFKC-normalised and case-folded (``Ann``, ``ann`` and ``Ann`` in
fullwidth letters are one name), and refused if it has invisible or format
characters (zero-width joiners, byte order marks, spaces, default-ignorable code
points such as U+034F, variation selectors such as U+FE0F) or mixes look-alike
scripts (Latin with Cyrillic or Greek: ``Ann`` spelled with a Cyrillic capital A).
E-mail addresses are checked and normalised by ``email-validator``, with no DNS
lookups.
"""

from __future__ import annotations

import unicodedata

import regex
from email_validator import EmailNotValidError, validate_email

from audioconv.domain.errors import InvalidInput

MAX_USERNAME_CHARS = 150
MAX_EMAIL_CHARS = 254  # RFC 5321's limit on a forward path
# Punctuation a username may have beside letters, marks and digits.
USERNAME_PUNCTUATION = "._-@+'"
# Scripts whose letters look alike: a name may use at most one of them.
_CONFUSABLE_SCRIPTS = {
    script: regex.compile(rf"\p{{Script={script}}}")
    for script in ("Latin", "Cyrillic", "Greek", "Armenian", "Cherokee", "Coptic")
}
# Invisible code points that would make a second spelling of a name (UTS #39's
# identifier profile leaves them out): default-ignorables (U+034F, U+200D, U+00AD...)
# and variation selectors (U+FE0E, U+FE0F, U+E0100...), most of them marks (Mn).
_INVISIBLE = regex.compile(r"[\p{Default_Ignorable_Code_Point}\p{Variation_Selector}]")
# Combining marks in a row after one letter: more only stack into an unreadable smear.
_MAX_MARKS = 3


def normalise_username(raw: str) -> str:
    """The one stored spelling of a username; InvalidInput saying why one cannot be."""
    name = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw.strip()).casefold())
    if not name or len(name) > MAX_USERNAME_CHARS:
        raise InvalidInput(f"username must be 1 to {MAX_USERNAME_CHARS} characters")
    if _INVISIBLE.search(name):
        raise InvalidInput(
            "username may contain letters, digits and "
            f"{' '.join(USERNAME_PUNCTUATION)} only (no spaces or invisible characters)"
        )
    marks = 0
    for index, char in enumerate(name):
        category = unicodedata.category(char)
        marks = marks + 1 if category[0] == "M" else 0
        if category[0] not in "LMN" and char not in USERNAME_PUNCTUATION:
            raise InvalidInput(
                "username may contain letters, digits and "
                f"{' '.join(USERNAME_PUNCTUATION)} only (no spaces or invisible characters)"
            )
        if marks > _MAX_MARKS or (marks and index == 0):
            raise InvalidInput("username has too many combining marks")
    scripts = [s for s, pattern in _CONFUSABLE_SCRIPTS.items() if pattern.search(name)]
    if len(scripts) > 1:
        raise InvalidInput(
            f"username mixes {' and '.join(scripts)} letters, which look alike; use one script"
        )
    return name


def normalise_email(raw: str) -> str:
    """The stored form of an e-mail address (its domain and local part lower-cased);
    InvalidInput for anything that is not one plain address."""
    if len(raw) > MAX_EMAIL_CHARS:
        raise InvalidInput(f"email must be at most {MAX_EMAIL_CHARS} characters")
    try:
        address = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"email is not a valid address: {exc}") from None
    return str(address.normalized).lower()
