"""The site's blueprints, one per area: sign-in, account, users, alerts, fleet map, reference data,
stop requests, audit, live events, the JSON API, health."""
