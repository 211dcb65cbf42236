"""The admin UI's views, one module per kind of page."""
