"""Runs the truckguard command line as `python -m truckguard`."""

from truckguard.cli import main

raise SystemExit(main())
