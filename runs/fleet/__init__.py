"""A fleet built from a scenario: each site's devices (physics models priced for bidding,
``devices``) and bidding strategy (``strategies``), ``count`` expanded once
(``sites``)."""
