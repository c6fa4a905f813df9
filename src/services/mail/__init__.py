"""E-mail: messages rendered from templates and sent by a background job.

`outbox.enqueue_message` adds a message in the caller's transaction; the `mail.send` job renders
it (`render.py`) and delivers it (`sender.py`: SMTP, or the log and a folder when no SMTP server
is configured). `notices` holds the security notices other services send.
"""
