"""Dwellings, their QR codes and printable posters."""
