"""The backtest mode: trading strategies hour by hour on market data, with no look-ahead
(``files``: the backtest file; ``agents``: trading through the market agents)."""
