"""One module per ``qa`` sub-command; loaded lazily by :mod:`qa.cli`."""
