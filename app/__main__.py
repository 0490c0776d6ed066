"""`python -m app` runs the `kura` command."""

from app.cli import main

main()
