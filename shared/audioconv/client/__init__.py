"""The command-line client: talks to an audioconv server over its HTTP API."""
