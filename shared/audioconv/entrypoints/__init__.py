"""Entry points: the HTTP API and the CloudEvent handlers the functions wrap."""
