"""An uploaded picture made safe to serve: checked by its content, decoded under a pixel bound,
re-encoded as WebP at one size with nothing of the original's metadata (EXIF, GPS, ICC, text).

Decoding is CPU work: it runs in a few threads of its own, off the event loop (the password
hasher's pattern, src/core/security.py)."""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO

from PIL import Image, ImageOps

from src.core.config import Settings
from src.services import messages
from src.services.errors import DomainError, Invalid, UnsupportedMediaType
from src.services.media import formats

# Served square, this many pixels a side (smaller originals are not enlarged).
SIZE = 256
CONTENT_TYPE = "image/webp"
EXTENSION = "webp"
WEBP_QUALITY = 82
_PILLOW_FORMATS = {
    formats.PNG: "PNG",
    formats.JPEG: "JPEG",
    formats.GIF: "GIF",
    formats.WEBP: "WEBP",
}
FIELD = "image"


@dataclass(frozen=True, slots=True)
class Picture:
    """The re-encoded picture and the content-addressed name part it is stored under."""

    data: bytes
    content_type: str = CONTENT_TYPE

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


async def prepare(data: bytes, declared: str | None, settings: Settings) -> Picture:
    """Check and re-encode `data` in the image threads; refusals are domain errors (415: not a
    picture we take, or not what was declared; 422: cut short, too many pixels, a polyglot)."""
    kind = identify(data, declared)
    pool = _pool(settings.media_image_threads)
    loop = asyncio.get_running_loop()
    encoded = await loop.run_in_executor(
        pool, reencode, data, kind, settings.media_max_image_pixels
    )
    return Picture(encoded)


def identify(data: bytes, declared: str | None) -> str:
    """The format by content; refuses what is not one we take, a declared type that disagrees
    with the content, a picture cut short and one carrying another kind of file."""
    if not data:
        raise Invalid(messages.BLANK, field=FIELD)
    media = (declared or "").split(";", 1)[0].strip().lower()
    kind = formats.sniff(data)
    if kind is None or (media not in formats.UNDECLARED and media not in formats.DECLARED):
        raise UnsupportedMediaType(messages.IMAGE_UNSUPPORTED, field=FIELD)
    if media in formats.DECLARED and formats.DECLARED[media] != kind:
        actual = f"image/{kind}"
        raise UnsupportedMediaType(
            messages.IMAGE_TYPE_MISMATCH.format(declared=media, actual=actual), field=FIELD
        )
    end = formats.end_of(kind, data)
    if end is None:
        raise Invalid(messages.IMAGE_CORRUPT, field=FIELD)
    if formats.carries_foreign_content(data, end):
        raise Invalid(messages.IMAGE_POLYGLOT, field=FIELD)
    return kind


def reencode(data: bytes, kind: str, max_pixels: int) -> bytes:
    """Decode the first frame (its size checked from the header first) and encode it anew."""
    try:
        with Image.open(BytesIO(data), formats=[_PILLOW_FORMATS[kind]]) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise Invalid(
                    messages.IMAGE_TOO_MANY_PIXELS.format(maximum=max_pixels), field=FIELD
                )
            image.draft("RGB", (SIZE, SIZE))  # JPEG: decode at a reduced scale when it can
            image.load()
            return _encode(_square(ImageOps.exif_transpose(image)))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Invalid(
            messages.IMAGE_TOO_MANY_PIXELS.format(maximum=max_pixels), field=FIELD
        ) from None
    except DomainError:
        raise
    except Exception:  # a decoder fed untrusted bytes fails in many ways
        raise Invalid(messages.IMAGE_CORRUPT, field=FIELD) from None


def _square(image: Image.Image) -> Image.Image:
    """Centre-cropped to a square, at most SIZE a side, in RGB or RGBA."""
    mode = "RGBA" if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info else "RGB"
    side = min(*image.size, SIZE)
    fitted = ImageOps.fit(image.convert(mode), (side, side), Image.Resampling.LANCZOS)
    # A new image: nothing of the original's info (EXIF, GPS, ICC profile, text) comes along.
    clean = Image.new(mode, fitted.size)
    clean.paste(fitted)
    return clean


def _encode(image: Image.Image) -> bytes:
    out = BytesIO()
    image.save(out, "WEBP", quality=WEBP_QUALITY, exif=b"", icc_profile=None)
    return out.getvalue()


@lru_cache(maxsize=4)
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="images")
