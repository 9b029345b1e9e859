"""Statistics: daily rollups, reports and exports, capacity and unusual-arrivals warnings."""
