"""Domain: users, tasks and their state machine, formats. No I/O here."""
