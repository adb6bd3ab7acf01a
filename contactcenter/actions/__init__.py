"""Writers: ``do_<verb>(session, ..., actor=...)``. Each records audit and outbox rows and never commits."""
