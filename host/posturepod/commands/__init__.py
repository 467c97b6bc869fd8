"""Sub-commands of the posturepod CLI: one module each, each with register(subparsers)."""
