"""The browser explorer: a local FastAPI server over one codes table, and its plain-JS page.

`state.Explorer` holds the table, its map, search indexes, thumbnails and the
active-learning state; `server.create_app` puts JSON endpoints in front of it;
`static/` is the page (no build step, nothing fetched from the network).
"""
