"""The formats real telematics units and tracking servers speak (Teltonika, OsmAnd, Traccar), as pure parsers."""
