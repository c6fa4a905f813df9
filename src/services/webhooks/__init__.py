"""Webhooks: users subscribe HTTPS endpoints to events about them; each event is recorded in
the write's transaction (`record_event`) and delivered, signed as Standard Webhooks says, by
the background-job engine. How and why: docs/webhooks.md."""

from src.services.webhooks.events import EVENT_TYPES, record_event

__all__ = ["EVENT_TYPES", "record_event"]
