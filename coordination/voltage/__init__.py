"""Local voltage support: Volt-VAR (reactive power from local voltage) within each
inverter's apparent-power (kVA) limit. Transport-free; pandapower is not imported here."""
