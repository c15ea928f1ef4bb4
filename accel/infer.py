"""The accelerator stage on one host: ``python -m accel.infer --root gs://bucket/run [--model M]``.

Start it on as many hosts as you like, pointed at one run root; the workers
share the shards through leases (galvasr.infer.engine). The flags are those of
``galvasr infer``: both are built from the stage registry (galvasr.registry).
"""

import sys

from galvasr.registry import job_main

if __name__ == "__main__":
    sys.exit(job_main("infer"))
