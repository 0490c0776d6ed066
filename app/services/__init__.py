"""What the HTTP routes do, one module per feature: a route validates, calls one, shapes it."""
