"""Remote identity verification for guests without their document, and electronic accommodation certificates."""
