//! Orders: create, list, cancel.
