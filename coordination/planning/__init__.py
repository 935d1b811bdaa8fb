"""Planning under uncertainty (filled in below)."""
