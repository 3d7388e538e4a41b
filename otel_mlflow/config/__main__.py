"""``python -m otel_mlflow.config [README.md]``: print the table of every setting, or write it into the README
(between its two markers)."""

from __future__ import annotations

import sys
from pathlib import Path

from otel_mlflow.config.setting import markdown_table, readme_with_table
from otel_mlflow.config.settings import SETTINGS

if len(sys.argv) > 1:
    for name in sys.argv[1:]:
        path = Path(name)
        path.write_text(readme_with_table(path.read_text(encoding="utf-8"), SETTINGS), encoding="utf-8")
else:
    print(markdown_table(SETTINGS))
