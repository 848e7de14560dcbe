//! Default locations (in progress).
