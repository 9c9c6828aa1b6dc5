"""The plan catalog as billing announces it, so limits follow an admin's edit at once."""
