"""The package version, in a module of its own so that modules inside skig can read it without importing skig."""

__version__ = "0.1.0"
