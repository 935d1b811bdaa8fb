"""Trading: strategies, portfolio, risk, the schedule optimizer and backtests (transport-free)."""
