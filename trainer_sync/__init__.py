"""The `trainer-sync` command-line tool."""
