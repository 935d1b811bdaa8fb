"""Market agents: the exchanges (day-ahead, continuous, ancillary; ``exchange``), traders
(``trader``, ``vpp_trader``, ``day_ahead_bidder``) and a price feed (``price_feed``); the
mechanisms themselves are ``vpp.markets``."""
