"""The dispatcher: a Flask REST API over the experiment database, drop-in for RapidFire's frontend.

    app = create_app(store, {"TOKEN": None, "READONLY": False})   # keys: rfconsole.dispatcher.config
    server = DispatcherServer(app, host="127.0.0.1", port=8081)   # rfconsole.dispatcher.server
    server.start(); ...; server.stop()
"""

from .app import create_app

__all__ = ["create_app"]
