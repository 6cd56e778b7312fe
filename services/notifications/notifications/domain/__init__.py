"""The pure model of notifications: who is told what (rules), in which words (templates), and
how one delivery moves to its final status. Nothing here does I/O."""
