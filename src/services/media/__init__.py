"""Uploaded media: profile pictures checked, re-encoded and kept in object storage (a local
folder or any S3-compatible store); docs/deploy.md, "Profile pictures"."""

from src.services.media.storage import MediaStorage, storage_from_settings

__all__ = ["MediaStorage", "storage_from_settings"]
