"""Turning a file's bytes into text: UTF-8 (with or without a byte-order mark), UTF-16
with a byte-order mark, and Windows-1252 only when declared or detected with confidence.

Detection of Windows-1252 needs evidence, not hope: the bytes are not UTF-8, every byte in
0x80–0x9F is one of the typical Windows-1252 punctuation marks (’ ‘ “ ” – — … • € ™) and at
least one is present. Anything else (a Latin-1 é alone could be any of several code pages)
is refused before anything is written, naming the first line that is not UTF-8. Text that
already holds U+FFFD (damaged by an earlier conversion) or NUL bytes is refused too.
"""

from __future__ import annotations

import codecs
import re

from cdp.report import ImportFailed

DECLARED = {
    "utf-8": "utf-8-sig", "utf8": "utf-8-sig", "utf-8-sig": "utf-8-sig",
    "utf-16": "utf-16", "utf16": "utf-16",
    "cp1252": "cp1252", "windows-1252": "cp1252", "win1252": "cp1252",
}
TYPICAL_CP1252 = frozenset(b"\x80\x85\x91\x92\x93\x94\x95\x96\x97\x99")
_C1 = re.compile(rb"[\x80-\x9f]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


def codec_for(declared: str | None, name: str) -> str | None:
    """The Python codec for a declared encoding name (None when not declared)."""
    if not declared:
        return None
    codec = DECLARED.get(declared.strip().lower())
    if codec is None:
        raise ImportFailed(name, f"encoding {declared!r} is not supported; use utf-8, "
                           "utf-16 or cp1252")
    return codec


def _line_of(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


def _not_text(data: bytes, name: str, exc: UnicodeDecodeError, codec: str) -> ImportFailed:
    line = _line_of(data, exc.start)
    hint = ("save it as CSV UTF-8, or declare the encoding (--encoding cp1252) "
            "if it is Windows-1252") if codec.startswith("utf-8") else "check the encoding"
    return ImportFailed(name, f"is not valid {codec.removesuffix('-sig')} (first bad byte "
                        f"on line {line}); {hint}", row=line)


def looks_cp1252(data: bytes) -> bool:
    """Confident Windows-1252: typical punctuation bytes in 0x80–0x9F and no other C1 byte."""
    c1 = set(_C1.findall(data))
    return bool(c1) and all(byte[0] in TYPICAL_CP1252 for byte in c1)


def _checked(text: str, name: str) -> str:
    bad = _CONTROL.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        what = "a U+FFFD replacement character" if bad.group() == "\ufffd" else \
            "a control character (NUL, or UTF-16 without a byte-order mark?)"
        raise ImportFailed(name, f"holds {what} on line {line}; re-export the file", row=line)
    return text


def decode(data: bytes, name: str, declared: str | None = None) -> str:
    """The file's text, or ImportFailed naming the first line that cannot be read."""
    codec = codec_for(declared, name)
    if codec is None:
        has_utf16_bom = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        codec = "utf-16" if has_utf16_bom else "utf-8-sig"
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        if declared or codec != "utf-8-sig" or not looks_cp1252(data):
            raise _not_text(data, name, exc, codec) from exc
        text = data.decode("cp1252")
    return _checked(text.removeprefix("\ufeff"), name)
