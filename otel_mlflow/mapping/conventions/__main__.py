"""``python -m otel_mlflow.mapping.conventions [README.md]``: print the table of conventions read, or write it into
the README (between its two markers)."""

from __future__ import annotations

import sys
from pathlib import Path

from otel_mlflow.mapping.conventions import markdown_table, readme_with_table

if len(sys.argv) > 1:
    for name in sys.argv[1:]:
        path = Path(name)
        path.write_text(readme_with_table(path.read_text(encoding="utf-8")), encoding="utf-8")
else:
    print(markdown_table())
