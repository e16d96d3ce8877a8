"""The `cobranza` command line, one module per audience; `starter.py` assembles it."""
