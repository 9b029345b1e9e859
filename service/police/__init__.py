"""The police view: occupancy counts, live stream, search with audit, watchlist alerts."""
