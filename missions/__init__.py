"""Planning geometry and mission file formats. Pure computation, no I/O to vehicles."""
