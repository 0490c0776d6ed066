"""What the HTTP routes and the `kura` command call, one module per feature: a route validates,
calls one, shapes the result; request defaults are resolved from settings here, once."""
