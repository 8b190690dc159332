"""The `leap` command and the composition that starts the bot and the workers.

OpenBLAS is kept to one thread before numpy loads. Stage threads start ffmpeg while other
threads compute (numpy in the channel and level measures), and starting a child forks: OpenBLAS's
fork handler waits for its own worker threads, one of which can be waiting for the thread
that forks, and the worker hangs. The numbers numpy works on here are small; one BLAS thread
costs nothing measurable.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
