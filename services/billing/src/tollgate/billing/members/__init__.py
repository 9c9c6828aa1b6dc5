"""Organization membership as auth announces it, and who may do what to an account."""
