"""One module per group of pages. Each view takes (store, request) and returns
(template name, plain data) or a Response; it reads through Store and never writes."""
