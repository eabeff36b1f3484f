"""Configuration: the only code that reads the environment; it builds one validated settings object."""
