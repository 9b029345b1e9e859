"""Personal numbers at rest: encryption, blind indexes for exact search, masking for display."""
