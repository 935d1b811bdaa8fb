"""Market mechanisms, market data and trading, transport-free."""
