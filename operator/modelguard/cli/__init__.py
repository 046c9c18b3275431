"""The ``modelguard`` / ``kubectl modelguard`` command line: its own package, talking to
the API server directly (it never imports the operator runtime)."""
