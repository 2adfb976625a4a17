"""bin/soak and the chaos test: real processes under random kills, a reboot and an outage; one proof."""
