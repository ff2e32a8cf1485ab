"""Entry points: the HTTP API (its route groups), the message handlers, and the Pub/Sub
push edge the functions wrap."""
