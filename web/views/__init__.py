"""The site's blueprints, one per area: alert pages, stop-request pages, the JSON API, health."""
