"""What fusion remembers of one recent alert: saved as a compact [last_ms, severity, alert_id] array.

A msgspec type, so it is not in the compiled states module (mypyc compiles no msgspec types).
"""

from __future__ import annotations

import msgspec


class Signal(msgspec.Struct, kw_only=True, array_like=True):
    last_ms: int
    severity: str
    alert_id: str
