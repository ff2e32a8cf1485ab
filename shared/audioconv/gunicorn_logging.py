"""gunicorn's logger for the embedded API, writing through ours.

Its error log goes to the root handler (redacted, in our format); it keeps no
access log of its own: the app writes one line per request, with its request id
and without the query string (a signed upload URL's token is in it).
"""

from __future__ import annotations

from typing import Any

from gunicorn import glogging

from audioconv import logs


class GunicornLogger(glogging.Logger):  # type: ignore[misc]
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        logs.adopt("gunicorn.error")

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """None: the app logs each request (audioconv.entrypoints.request_log)."""
