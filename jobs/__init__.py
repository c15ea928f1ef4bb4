"""``spark-submit jobs/<stage>.py``: one file per Spark stage, each built from galvasr.registry."""
