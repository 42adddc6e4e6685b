"""Exercise mode (issue 16): scenarios, their play through the pure core, and the after-action report."""
