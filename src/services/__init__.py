"""Business rules over an AsyncSession. Nothing here knows about HTTP."""
