//! Reference model (in progress).
