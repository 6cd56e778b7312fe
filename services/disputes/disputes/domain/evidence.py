"""Statements and their evidence: what each side says, with references to files, not the files.

The service stores an evidence item's sha256 and URI only; the digest lets anyone later prove
that the file behind the URI is the one submitted, so it is checked here before it is recorded.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from .actors import Actor
from .errors import Malformed

MAX_TEXT = 20_000
MAX_EVIDENCE = 20
MAX_NAME = 255
MAX_URI = 2048
# A URI is shown to the other party and the arbiter: no javascript:, data: or file: links.
URI_SCHEMES = frozenset({"https", "http", "s3", "gs"})

_SHA256 = re.compile(r"[0-9a-f]{64}")
_TOKEN = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(f"{_TOKEN}/{_TOKEN}")


@dataclass(frozen=True)
class Evidence:
    name: str
    media_type: str
    sha256: str
    uri: str

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "media_type": self.media_type,
            "sha256": self.sha256,
            "uri": self.uri,
        }


@dataclass(frozen=True)
class Statement:
    statement_no: int
    author: Actor
    text: str
    evidence: tuple[Evidence, ...]
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "statement_no": self.statement_no,
            "author": self.author.as_dict(),
            "text": self.text,
            "evidence": [e.as_dict() for e in self.evidence],
            "at": self.at.isoformat(),
        }


def check_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise Malformed("a statement needs some text")
    if len(text) > MAX_TEXT:
        raise Malformed(f"a statement may have at most {MAX_TEXT} characters")
    return text


def check_evidence(items: object) -> tuple[Evidence, ...]:
    if not isinstance(items, list | tuple):
        raise Malformed("evidence must be a list")
    if len(items) > MAX_EVIDENCE:
        raise Malformed(f"a statement may carry at most {MAX_EVIDENCE} evidence items")
    return tuple(_checked(item) for item in items)


def _checked(item: object) -> Evidence:
    if not isinstance(item, Evidence):
        raise Malformed("evidence items must be Evidence")
    if not isinstance(item.name, str) or not 0 < len(item.name.strip()) <= MAX_NAME:
        raise Malformed(f"evidence name must have 1 to {MAX_NAME} characters")
    if not isinstance(item.media_type, str) or not _MEDIA_TYPE.fullmatch(item.media_type.lower()):
        raise Malformed(f"evidence media type {item.media_type!r} is not type/subtype")
    if not isinstance(item.sha256, str) or not _SHA256.fullmatch(item.sha256.lower()):
        raise Malformed("evidence sha256 must be 64 hexadecimal characters")
    _check_uri(item.uri)
    return Evidence(item.name, item.media_type.lower(), item.sha256.lower(), item.uri)


def _check_uri(uri: object) -> None:
    if not isinstance(uri, str) or not 0 < len(uri) <= MAX_URI or any(c.isspace() for c in uri):
        raise Malformed(f"evidence uri must be 1 to {MAX_URI} characters without spaces")
    try:
        parts = urlsplit(uri)
    except ValueError as error:  # e.g. an unclosed IPv6 bracket
        raise Malformed(f"evidence uri is not a URI: {error}") from None
    if parts.scheme.lower() not in URI_SCHEMES or not parts.netloc:
        raise Malformed(f"evidence uri must be an absolute {sorted(URI_SCHEMES)} link")
