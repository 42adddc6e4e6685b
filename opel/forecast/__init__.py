"""Early warning (issue 16): project each indicator's recent readings and say when it is expected
to cross into a worse band. Pure core: no clock, no I/O; the reading's own time is "now"."""
