"""Read a Coffea Shoppe request's logs from a notebook or a script — standard library only.

    import shoppe_logs
    shoppe_logs.show("01a2...")                  # a table in Jupyter, plain lines elsewhere
    for line in shoppe_logs.follow("01a2..."):   # new lines until the request finishes
        print(line)

The logs service is found at $SHOPPE_LOGS_URL (default http://127.0.0.1:5106, the one-machine
facility) and your token at $SHOPPE_TOKEN or ~/.config/coffea-shoppe/token, the file that
`shoppe token issue --user NAME --save` writes. Nothing here needs Elasticsearch or kubectl.
"""

from __future__ import annotations

import html
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Iterator, Optional

DEFAULT_URL = "http://127.0.0.1:5106"
TOKEN_FILE = os.path.join(os.path.expanduser("~"), ".config", "coffea-shoppe", "token")
_LEVEL_COLOURS = {"error": "#c62828", "fatal": "#c62828", "warn": "#b26a00", "debug": "#888", "trace": "#888"}


class ShoppeLogsError(Exception):
    """The logs service said no: ``status`` is the HTTP status, ``title``/``detail`` its problem details."""

    def __init__(self, status: int, title: str, detail: str = ""):
        super().__init__(f"{status} {title}" + (f": {detail}" if detail else ""))
        self.status = status
        self.title = title
        self.detail = detail


@dataclass(frozen=True)
class LogRecord:
    """One log record of a request."""

    time: str
    level: str
    service: str
    message: str
    attributes: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: dict) -> "LogRecord":
        return cls(obj["time"], obj["level"], obj["service"], obj["message"], obj.get("attributes") or {})

    def line(self) -> str:
        """The record as one readable line: ``12:00:00.020 ERROR delivery   message``."""
        clock = self.time[11:23] if len(self.time) >= 23 else self.time
        return f"{clock} {self.level.upper():<5} {self.service:<10} {self.message}"


class RequestLogs:
    """A request's records: plain lines when printed, an HTML table in Jupyter."""

    def __init__(self, request_id: str, records: list[LogRecord]):
        self.request_id = request_id
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[LogRecord]:
        return iter(self.records)

    def __str__(self) -> str:
        return "\n".join(r.line() for r in self.records)

    def __repr__(self) -> str:
        return f"RequestLogs({self.request_id!r}, {len(self.records)} records)"

    def _repr_html_(self) -> str:
        rows = []
        for r in self.records:
            colour = _LEVEL_COLOURS.get(r.level, "inherit")
            rows.append(
                "<tr>"
                f"<td style='white-space:nowrap'>{html.escape(r.time)}</td>"
                f"<td style='color:{colour};font-weight:600'>{html.escape(r.level)}</td>"
                f"<td>{html.escape(r.service)}</td>"
                f"<td style='font-family:monospace;white-space:pre-wrap;text-align:left'>{html.escape(r.message)}</td>"
                "</tr>"
            )
        body = "".join(rows) or "<tr><td colspan='4'>no records</td></tr>"
        return (
            f"<div><b>Logs of request <code>{html.escape(self.request_id)}</code></b> ({len(self.records)} records)"
            "<table><thead><tr><th>time (UTC)</th><th>level</th><th>service</th><th>message</th></tr></thead>"
            f"<tbody>{body}</tbody></table></div>"
        )


def _settings(url: Optional[str], token: Optional[str]) -> tuple[str, str]:
    base = (url or os.environ.get("SHOPPE_LOGS_URL") or DEFAULT_URL).rstrip("/")
    tok = token or os.environ.get("SHOPPE_TOKEN")
    if not tok and os.path.exists(TOKEN_FILE):
        with open(TOKEN_FILE, encoding="utf-8") as f:
            tok = f.read().strip()
    if not tok:
        raise ShoppeLogsError(401, "No token", "run `shoppe token issue --user NAME --save` or set SHOPPE_TOKEN")
    return base, tok


def _open(base: str, token: str, path: str, params: dict, accept: str, timeout: Optional[float]):
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")})
    request = urllib.request.Request(
        f"{base}{path}?{query}", headers={"Authorization": f"Bearer {token}", "Accept": accept}
    )
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        title, detail = e.reason, ""
        try:
            problem = json.loads(e.read().decode("utf-8"))
            title, detail = problem.get("title", title), problem.get("detail", "")
        except ValueError:
            pass
        raise ShoppeLogsError(e.code, str(title), detail) from None


def _path(request_id: str, what: str) -> str:
    return f"/v1/requests/{urllib.parse.quote(request_id, safe='')}/{what}"


def fetch(request_id: str, level: Optional[str] = None, service: Optional[str] = None, text: Optional[str] = None,
          url: Optional[str] = None, token: Optional[str] = None, timeout: float = 30) -> RequestLogs:
    """All of a request's records (every page), oldest first."""
    base, tok = _settings(url, token)
    records: list[LogRecord] = []
    cursor = None
    while True:
        params = {"level": level, "service": service, "q": text, "cursor": cursor}
        with _open(base, tok, _path(request_id, "logs"), params, "application/x-ndjson", timeout) as response:
            for raw in response:
                if raw.strip():
                    records.append(LogRecord.from_json(json.loads(raw)))
            cursor = response.headers.get("X-Shoppe-Next-Cursor")
        if not cursor:
            return RequestLogs(request_id, records)


def summary(request_id: str, url: Optional[str] = None, token: Optional[str] = None, timeout: float = 30) -> dict:
    """Counts by level and service, and the first error."""
    base, tok = _settings(url, token)
    with _open(base, tok, _path(request_id, "summary"), {}, "application/json", timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def show(request_id: str, **kwargs) -> None:
    """Shows a request's logs: an HTML table inside Jupyter, plain lines anywhere else."""
    logs = fetch(request_id, **kwargs)
    try:
        from IPython import get_ipython  # type: ignore
        from IPython.display import display  # type: ignore

        if get_ipython() is not None and getattr(get_ipython(), "kernel", None) is not None:
            display(logs)
            return
    except ImportError:
        pass
    print(logs)


def follow(request_id: str, level: Optional[str] = None, service: Optional[str] = None,
           url: Optional[str] = None, token: Optional[str] = None, timeout: Optional[float] = None) -> Iterator[str]:
    """Yields the request's log lines as they arrive (Server-Sent Events) until the request finishes."""
    base, tok = _settings(url, token)
    params = {"level": level, "service": service, "follow": "true"}
    with _open(base, tok, _path(request_id, "logs"), params, "text/event-stream", timeout) as response:
        event = "message"
        for raw in response:
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                if event == "end":
                    return
                yield LogRecord.from_json(json.loads(line[len("data: "):])).line()
            elif line == "":
                event = "message"
