"""bin/dashboard: a read-only web page over a state folder (and the receiver's view of what it got)."""
