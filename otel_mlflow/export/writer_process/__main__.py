"""``python -m otel_mlflow.export.writer_process``: the writer process (:mod:`.child`)."""

import sys

from otel_mlflow.export.writer_process.child import main

sys.exit(main())
