"""The embedded default: pictures in a local folder (MEDIA_ROOT), served by the service itself
under /media/ (src/api/routes/media.py). File I/O runs in a thread, off the event loop."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from src.core.config import Settings
from src.services.media.storage import owner_of, public_base_url


class LocalStorage:
    def __init__(self, settings: Settings) -> None:
        self.root = Path(settings.media_root)
        self._base_url = public_base_url(settings)

    def url(self, key: str) -> str:
        return f"{self._base_url}/{key}"

    def path_of(self, key: str) -> Path | None:
        """The file of a well-formed key; None for any other name (no traversal, no listing)."""
        return self.root / key if owner_of(key) is not None else None

    async def put(self, key: str, data: bytes, content_type: str) -> None:  # noqa: ARG002 - the name says it
        path = self._checked(key)
        await asyncio.to_thread(_write_atomically, path, data)

    async def delete(self, key: str) -> None:
        path = self._checked(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    def _checked(self, key: str) -> Path:
        path = self.path_of(key)
        if path is None:
            raise ValueError(f"not a media key: {key!r}")
        return path


def _write_atomically(path: Path, data: bytes) -> None:
    """A reader sees the whole file or none: written beside it, then renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
