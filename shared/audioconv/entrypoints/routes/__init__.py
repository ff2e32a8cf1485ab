"""The API's route groups: one module per resource, each with ``register(app, deps)``.

A module is named for the resource its URLs serve (``tasks`` for ``/api/tasks``), so
the file that answers a URL is found from the URL alone."""
