"""Staff accounts, login sessions, and the guards that decide who may call what."""
