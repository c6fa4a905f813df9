"""Pictures for the upload tests, made here: good ones (with EXIF and GPS to strip) and the
bad kinds a client may send."""

from __future__ import annotations

import io
import zipfile

from PIL import Image

GPS_IFD = 0x8825
MAKE = 0x010F


def photo(size: tuple[int, int] = (640, 480), color: str = "teal", kind: str = "JPEG") -> bytes:
    """A picture carrying EXIF with a camera make and a GPS position."""
    image = Image.new("RGB", size, color)
    exif = Image.Exif()
    exif[MAKE] = "SecretCam"
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    out = io.BytesIO()
    image.save(out, kind, exif=exif.tobytes())
    return out.getvalue()


def png(size: tuple[int, int] = (64, 64), color: str = "orange") -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, color).save(out, "PNG")
    return out.getvalue()


def gif(size: tuple[int, int] = (32, 32), comment: bytes = b"") -> bytes:
    out = io.BytesIO()
    Image.new("P", size, 3).save(out, "GIF", comment=comment)
    return out.getvalue()


def png_bomb() -> bytes:
    """Tiny on the wire, 36 million pixels once decoded."""
    out = io.BytesIO()
    Image.new("1", (6000, 6000)).save(out, "PNG", optimize=True)
    return out.getvalue()


def gif_bomb() -> bytes:
    """A 65535 x 65535 GIF in a few dozen bytes (beyond Pillow's own bomb limit too)."""
    side = (65535).to_bytes(2, "little")
    screen = side + side + b"\x00\x00\x00"
    descriptor = b"\x2c" + b"\x00\x00\x00\x00" + side + side + b"\x00"
    return b"GIF89a" + screen + descriptor + b"\x02\x02\x4c\x01\x00" + b"\x3b"


def png_with_zip() -> bytes:
    """A valid PNG with an archive after its end: opens as either."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("payload.js", "alert(document.cookie)")
    return png() + archive.getvalue()


SVG_WITH_SCRIPT = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.domain)</script></svg>"
)
