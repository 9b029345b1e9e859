"""Benchmarks: ``python -m bench.qr`` (QR generation, segno vs qrcode) and
``python -m bench.registrations`` (guest registrations through HTTP, full path vs a bare insert).

``make bench`` installs what they need (wrk) and runs both.
"""
