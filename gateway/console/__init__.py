"""The web console: server-rendered pages over the query layer (``data/``) and the admin plane."""
