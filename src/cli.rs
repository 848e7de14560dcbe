//! Command line of dawgctl (in progress).
