"""Everything that touches a live machine, every path under an injectable root.

Runs as root on every server at boot: this package imports the standard
library only.
"""
