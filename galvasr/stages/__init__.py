"""One module per stage of ``galvasr run``: ``run(ctx) -> summary``.

Each is glue only: it reads its settings from the run's config and calls the
library function that does the stage's work, exactly as the stage's
spark-submit job in ``jobs/`` does.
"""
