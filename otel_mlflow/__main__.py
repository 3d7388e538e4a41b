"""``python -m otel_mlflow``: the same as the ``otel-mlflow`` command."""

import sys

from otel_mlflow.cli import main

sys.exit(main())
