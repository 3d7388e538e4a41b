"""Everything accepted and not yet in MLflow, with one owner: the ledger (:mod:`.ledger`), the only holder of its
lock, which coordinates the plain structures below and reaches the disk through the guarded spool.

- :mod:`.traces`: spans waiting for their trace's root, and each recent trace's mark (where its later spans go)
- :mod:`.windows`: the serving windows (requests filed, late spans and feedback joined, restore, their writes)
- :mod:`.early_feedback`: feedback that came before its request was filed, until it is
- :mod:`.jobs`: write jobs, what of each already landed, and the queue (one key at a time, in order)
- :mod:`.routing`: a group of spans -> a trace's job or a feedback job
- :mod:`.backlog`: batches on disk only (spilled, or taken over from dead processes)
- :mod:`.memory`: what a span costs and the memory bound

Nothing here calls MLflow.
"""
