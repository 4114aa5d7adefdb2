"""The Flask web site: consoles for dispatchers, rental desks and police, the store and the REST API."""
