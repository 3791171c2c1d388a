//! Ruby binding (filled in by the Ruby gem issue).
