"""Simulated vehicles and labelled scenarios, for the command line, the demo and the tests (never the detector)."""
