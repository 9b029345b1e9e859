"""Benchmarks, each a ``python -m bench.<name>`` run by a make target (see the Makefile and README):
every figure is printed with a baseline measured in the same run.

- ``qr`` and ``registrations`` (``make bench``): QR generation, segno vs qrcode; registrations per second,
  the full path against bare inserts (``bare``, with guests from ``guests``).
- ``police`` (``make bench-police``): occupancy, fan-out to streams, registrations with streams open.
- ``statistics``, ``imports``, ``landlord``, ``scale`` (``make bench-statistics``, ``bench-import``,
  ``bench-landlord``, ``bench-scale``); ``soak`` (``make soak``); ``middleware``: the cost of each layer.
"""

from service.cli import quiet_runtime_dir_warning

quiet_runtime_dir_warning()
