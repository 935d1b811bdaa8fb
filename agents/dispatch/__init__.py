"""What every dispatching protocol's sites share: their devices priced for bidding
(``devices``) and the acknowledgement of a dispatch by a site in another process
(``acknowledging``). The dispatch outcome's messages are ``vpp.coordination.dispatch``."""
