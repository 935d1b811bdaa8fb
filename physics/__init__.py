"""Device and grid models. Imports nothing else of this project."""
