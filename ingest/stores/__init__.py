"""kura's vector stores: Qdrant Edge (embedded) and a Qdrant server."""
