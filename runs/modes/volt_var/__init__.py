"""The Volt-VAR mode (``grid.voltage`` without a frequency event): a day of the fleet's PV
and batteries on a pandapower feeder, each step with and without Volt-VAR (``study``)."""
