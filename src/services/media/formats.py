"""What an uploaded picture really is, read from its bytes alone (never from its declared type):
its format, where its own structure ends, and whether it also carries another kind of file.

Every walk here is linear in the input and reads nothing but fixed-size headers and lengths."""

from __future__ import annotations

PNG, JPEG, GIF, WEBP = "png", "jpeg", "gif", "webp"
# Declared media types and the format each names; any other image/* is not accepted.
DECLARED = {
    "image/png": PNG,
    "image/jpeg": JPEG,
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "image/gif": GIF,
    "image/webp": WEBP,
}
# Media types that say nothing about the content (multipart parts often carry one).
UNDECLARED = frozenset({"", "application/octet-stream"})
# Markup a browser or an interpreter would act on: refused anywhere in the file. Each is long
# enough that compressed pixel data holds it by chance with negligible probability.
_MARKUP = (b"<script", b"<html", b"<?php", b"<!doctype", b"<iframe", b"javascript:")
# Another file's start after the image's end: an archive, a document, markup, another image.
_FOREIGN_STARTS = (b"pk\x03\x04", b"%pdf-", b"<svg", b"<?xml", b"\x89png", b"gif8", b"riff")


def sniff(data: bytes) -> str | None:
    """The format the bytes start with, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def end_of(kind: str, data: bytes) -> int | None:
    """Offset just past the image's last byte by its own structure; None when it is cut short."""
    walk = {PNG: _png_end, JPEG: _jpeg_end, GIF: _gif_end, WEBP: _webp_end}[kind]
    try:
        return walk(data)
    except IndexError:  # a length or a header pointing past the end
        return None


def carries_foreign_content(data: bytes, end: int) -> bool:
    """A polyglot: markup anywhere, or another file's signature in the bytes after the end."""
    lowered = data.lower()
    if any(marker in lowered for marker in _MARKUP):
        return True
    trailing = lowered[end:]
    return any(start in trailing for start in _FOREIGN_STARTS)


def _png_end(data: bytes) -> int | None:
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        pos += 12 + length  # length, type, data, CRC
        if kind == b"IEND":
            return pos if pos <= len(data) else None
    return None


def _gif_end(data: bytes) -> int | None:
    pos = 13  # header and logical screen descriptor
    flags = data[10]
    if flags & 0x80:
        pos += 3 << ((flags & 7) + 1)  # global color table
    while True:
        block = data[pos]
        if block == 0x3B:  # trailer
            return pos + 1
        if block == 0x21:  # extension: label, then sub-blocks
            pos = _skip_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image descriptor, local color table, LZW size, sub-blocks
            flags = data[pos + 9]
            pos += 10
            if flags & 0x80:
                pos += 3 << ((flags & 7) + 1)
            pos = _skip_sub_blocks(data, pos + 1)
        else:
            return None


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while (size := data[pos]) != 0:
        pos += 1 + size
    return pos + 1


def _webp_end(data: bytes) -> int | None:
    end = 8 + int.from_bytes(data[4:8], "little")
    return end if end <= len(data) else None


_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # markers without a length


def _jpeg_end(data: bytes) -> int | None:
    pos = 2
    while True:
        if data[pos] != 0xFF:
            return None
        while data[pos + 1] == 0xFF:  # fill bytes before a marker
            pos += 1
        marker = data[pos + 1]
        if marker == 0xD9:  # end of image
            return pos + 2
        if marker in _STANDALONE:
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            pos = _scan_end(data, pos)
            if pos < 0:
                return None


def _scan_end(data: bytes, pos: int) -> int:
    """The next marker after entropy-coded data (in which 0xFF is stuffed as FF 00, and
    restart markers stand alone); -1 when the data runs out first."""
    while (pos := data.find(b"\xff", pos)) >= 0 and pos + 1 < len(data):
        following = data[pos + 1]
        if following == 0 or following in _STANDALONE or following == 0xFF:
            pos += 1
            continue
        return pos
    return -1
