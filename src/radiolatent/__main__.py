"""`python -m radiolatent ...`, which is how torchrun starts the command:
`torchrun --nproc-per-node 4 -m radiolatent train vdvae ...` (docs/gpu.md)."""

import sys

from radiolatent.cli import main

sys.exit(main())
