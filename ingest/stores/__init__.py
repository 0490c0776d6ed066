"""kura's vector stores: the protocol they meet, the two Qdrant engines, the backend chosen once.

``protocol.py`` says what kura asks of a store; ``edge.py`` (Qdrant Edge, embedded) and
``server.py`` (a Qdrant server) meet it, with what they do alike in ``shared.py``;
``backends.py`` creates, opens, lists and drops collections on the engine the settings name.
"""

from ingest.stores.backends import Backend, EmbeddedBackend, ServerBackend, build_backend
from ingest.stores.protocol import KuraStore

__all__ = ["Backend", "EmbeddedBackend", "KuraStore", "ServerBackend", "build_backend"]
