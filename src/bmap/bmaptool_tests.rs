//! Tests: bmaptool's own formats, as bmaptool writes them, read back.
