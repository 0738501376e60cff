"""Command-line entry points: arguments in, calls out, errors to exit codes. No logic."""
