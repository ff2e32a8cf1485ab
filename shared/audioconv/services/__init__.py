"""Use cases. Pure Python: they talk only to the ports in ``Dependencies``."""
