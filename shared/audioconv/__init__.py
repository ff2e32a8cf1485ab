"""audioconv: an event-driven audio conversion service."""
