"""widescale."""
