"""``python -m cli`` runs the attnsim command."""

from cli.main import main

main()
