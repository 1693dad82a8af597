"""Getting request events durably out of the hot path: Redis stream first, local spool second."""
