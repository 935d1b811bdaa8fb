"""Errors shared by the protocols."""


class ProtocolError(ValueError):
    """A well-formed message that the protocol cannot take (late, unexpected, invalid).

    The runtime records the message as dropped with this error's text and goes on.
    """
