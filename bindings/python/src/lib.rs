//! Python binding (filled in by the Python package issue).
