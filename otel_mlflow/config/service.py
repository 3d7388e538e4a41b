"""The service name when the user gives none: never the SDK's ``unknown_service:python3``.

``OTEL_SERVICE_NAME`` or ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES`` always win. Otherwise the name comes
from the command line: the app of an ASGI/WSGI server (``uvicorn api_gateway.main:app`` -> ``api_gateway.main``),
else the script (``python batch_job.py`` -> ``batch_job``, ``python -m tool`` -> ``tool``), else ``python``.

Usage::

    if not service_name_given(os.environ):
        name = default_service_name(sys.argv)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import PurePath

_APP_REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*(\(\))?")


def service_name_given(env: Mapping[str, str]) -> bool:
    """True when the environment names the service (the SDK's own rule)."""
    if env.get("OTEL_SERVICE_NAME", "").strip():
        return True
    pairs = (pair.split("=", 1)[0].strip() for pair in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","))
    return "service.name" in pairs


def default_service_name(argv: Sequence[str]) -> str:
    """A name for the service from its command line (see the module's docstring)."""
    for arg in argv[1:]:
        if _APP_REFERENCE.fullmatch(arg):
            return arg.split(":", 1)[0]
    program = PurePath(argv[0]) if argv and argv[0] not in ("", "-c", "-") else None
    if program is None:
        return "python"
    if program.stem == "__main__":
        return program.parent.name or "python"
    return program.stem or "python"
