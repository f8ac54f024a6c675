"""MongoDB implementations of the domain ports (PyMongo async API)."""
