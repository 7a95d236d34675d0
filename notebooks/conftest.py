"""nbval runs the notebooks in kernels that inherit this environment: none of them records into
the real user data folder (notebook 06 gives its store a temporary path of its own)."""

import os

os.environ["INTGKIT_HISTORY"] = "off"
