"""Merit-order dispatch as a contract net (DESIGN.md protocol 1, docs/protocols/merit-order.md).

- :mod:`.messages`: the message kinds of the protocol.
- :mod:`.allocation`: the merit-order allocation itself (numpy, no I/O).
- :mod:`.auction`: the aggregator's side, a state machine driven message by message.
- :mod:`.bidding`: the site's side: offers, the bidding-strategy protocol, award handling.
- :mod:`.strategies`: the built-in bidding strategies.
"""
