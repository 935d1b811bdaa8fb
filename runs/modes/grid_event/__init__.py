"""The grid-event mode (``grid.events`` or ``grid.replay``): the sites answer the frequency
on their own in a closed loop with the swing equation, or on a replayed recording
(``event``, ``rig``); what sites sold is settled (``delivery``)."""
