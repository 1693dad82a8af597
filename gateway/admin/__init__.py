"""Writers of customer and key satellites (the admin plane; the CLI calls these too)."""
