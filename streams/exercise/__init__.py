"""A live exercise inside the running worker (issue 16, point 5; docs/exercises.md)."""
