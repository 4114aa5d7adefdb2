"""truckguard: the command line, settings and demo that tie the platform's parts together."""

__version__ = "0.1.0"
